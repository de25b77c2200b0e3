// Classifier parity driver: SequenceClassifier (classifier and regression heads, every pooling
// mode) and TokenClassifier over transformer, mamba and hybrid backbones, with left and right
// padding. Runs forward with labels and backward and writes per case: model_config.json,
// case.json (which model), tensors.bin + manifest.json (weights, inputs, logits, every hidden
// state, loss, every parameter's gradient). tests/reference/torch_composed.py composes the same
// math in torch (pooling, score layer, F.cross_entropy / F.mse_loss) and compares.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lazarus/losses/losses.h"
#include "lazarus/models/classifiers.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "parity_writer.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;
  std::string model;  // sequence_classifier | token_classifier
  std::string backbone, head;
  bool right = false;  // right padding instead of left
};

const int64_t kB = 3, kT = 9, kV = 60;

template <class M>
void run(const fs::path& dir, const Case& c, const config::ModelConfig& cfg) {
  manual_seed(99);
  M model(cfg);
  model.eval();
  Generator gen(43);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    bool a_log = name.find("A_log") != std::string::npos;
    t = norm    ? randn(t.shape(), DType::F32, 0.8, 0.3, &gen)
        : a_log ? rand(t.shape(), DType::F32, -0.5, 1.2, &gen)
                : randn(t.shape(), DType::F32, 0.0, 0.25, &gen);
  }
  model.load_state_dict(sd);
  Tensor ids = randint(0, kV, {kB, kT}, &gen);
  // Row 0 full, row 1 with 3 padding tokens, row 2 with 1, on the chosen side.
  std::vector<int64_t> mask(kB * kT, 1);
  for (auto [row, n] : {std::pair<int64_t, int64_t>{1, 3}, {2, 1}})
    for (int64_t t = 0; t < n; ++t) mask[row * kT + (c.right ? kT - 1 - t : t)] = 0;
  Tensor attention_mask = from_vector(mask, {kB, kT}, DType::I64);
  const auto& head = cfg.head;
  Tensor labels, labels_float;
  if (c.model == "token_classifier") {
    std::vector<int64_t> l = randint(0, head.num_labels, {kB, kT}, &gen).to_vector<int64_t>();
    for (int64_t i = 0; i < kB * kT; ++i)
      if (!mask[i]) l[i] = -100;
    l[4] = -100;  // an ignored real token
    labels = from_vector(l, {kB, kT}, DType::I64);
  } else if (head.type == config::HeadType::Classifier) {
    labels = randint(0, head.num_labels, {kB}, &gen);
  } else {
    labels_float = head.num_outputs == 1
                       ? randn({kB}, DType::F32, 0.0, 1.0, &gen)
                       : randn({kB, head.num_outputs}, DType::F32, 0.0, 1.0, &gen);
  }
  auto out = model.forward(ids, attention_mask, labels.defined() ? labels : labels_float, true);
  out.loss.backward();
  parity::TensorWriter w(dir);
  for (auto& [name, p] : model.named_parameters()) w.add("param." + name, *p);
  w.add("input_ids", ids);
  w.add("attention_mask", attention_mask);
  w.add("labels", labels.defined() ? labels : zeros({kB}, DType::I64));
  if (labels_float.defined()) w.add("labels_float", labels_float);
  w.add("out.logits", out.logits);
  w.add("out.loss", out.loss.reshape({1}));
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    w.add(fmt::format("out.hidden_states.{}", i), out.hidden_states[i]);
  for (auto& [name, p] : model.named_parameters()) w.add("grad." + name, p->grad());
  w.finish();
  std::printf("case %s: loss %.6f, %zu parameters\n", c.name.c_str(), out.loss.item(),
              model.named_parameters().size());
}

void run_case(const fs::path& root, const Case& c) {
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  auto cfg = config::ModelConfig::from_json_string(
      fmt::format(R"({{"backbone": {}, "head": {}}})", c.backbone, c.head));
  std::ofstream(dir / "model_config.json") << cfg.to_json().dump(2);
  std::ofstream(dir / "case.json") << nlohmann::json{{"model", c.model}}.dump();
  if (c.model == "token_classifier")
    run<models::TokenClassifier>(dir, c, cfg);
  else
    run<models::SequenceClassifier>(dir, c, cfg);
}

// The losses alone on random logits, with their gradients: causal LM, sequence and token
// classification (ignored labels, label smoothing) and regression, for F.cross_entropy /
// F.mse_loss in torch_composed.py.
void write_losses(const fs::path& root) {
  fs::path dir = root / "losses";
  fs::create_directories(dir);
  std::ofstream(dir / "case.json") << nlohmann::json{{"model", "losses"}}.dump();
  Generator gen(7);
  parity::TensorWriter w(dir);
  auto one = [&](const std::string& name, Shape shape, const Tensor& labels, auto&& fn) {
    Tensor x = randn(shape, DType::F32, 0.0, 3.0, &gen).requires_grad_(true);
    Tensor loss = fn(x);
    loss.backward();
    w.add(name + ".input", x);
    w.add(name + ".labels", labels);
    w.add(name + ".loss", loss.reshape({1}));
    w.add(name + ".grad", x.grad());
  };
  std::vector<int64_t> lm = randint(0, 11, {3, 6}, &gen).to_vector<int64_t>();
  lm[3] = lm[7] = lm[16] = -100;
  Tensor lm_labels = from_vector(lm, {3, 6}, DType::I64);
  for (double eps : {0.0, 0.1}) {
    one(fmt::format("causal_lm_ls{}", eps), {3, 6, 11}, lm_labels,
        [&](const Tensor& x) { return losses::causal_lm_loss(x, lm_labels, eps); });
  }
  Tensor seq = from_vector(std::vector<int64_t>{2, -100, 0, 4, 1}, {5}, DType::I64);
  one("sequence_ls0.2", {5, 5}, seq,
      [&](const Tensor& x) { return losses::sequence_classification_loss(x, seq, 0.2); });
  one("sequence_ls0", {5, 5}, seq,
      [&](const Tensor& x) { return losses::sequence_classification_loss(x, seq); });
  Tensor tok =
      from_vector(std::vector<int64_t>{0, 2, -100, 1, 1, -100, -100, 2}, {2, 4}, DType::I64);
  for (double eps : {0.0, 0.1}) {
    one(fmt::format("token_ls{}", eps), {2, 4, 3}, tok,
        [&](const Tensor& x) { return losses::token_classification_loss(x, tok, eps); });
  }
  Tensor r2 = randn({4, 2}, DType::F32, 0.0, 1.0, &gen),
         r1 = randn({4}, DType::F32, 0.0, 1.0, &gen);
  one("regression_2", {4, 2}, r2, [&](const Tensor& x) { return losses::regression_loss(x, r2); });
  one("regression_1", {4, 1}, r1, [&](const Tensor& x) { return losses::regression_loss(x, r1); });
  w.finish();
}

std::string transformer(const std::string& attn_extra, const std::string& norm = "rms_norm") {
  return fmt::format(R"({{"vocab_size": {}, "hidden_size": 24, "num_layers": 2,
      "max_position_embeddings": 16,
      "block": {{"attention": {{"type": "grouped_query", "num_attention_heads": 4,
                               "num_key_value_heads": 2 {}}},
                "ffn": {{"intermediate_size": 40}}, "norm": {{"type": "{}", "eps": 1e-5}}}},
      "final_norm": {{"type": "{}", "eps": 1e-5}}}})",
                     kV, attn_extra, norm, norm);
}

std::string mamba() {
  return fmt::format(R"({{"type": "mamba", "vocab_size": {}, "hidden_size": 24, "num_layers": 2,
      "block": {{"type": "mamba", "ssm": {{"state_size": 6, "conv_kernel": 3}},
                "norm": {{"eps": 1e-5}}}},
      "final_norm": {{"eps": 1e-5}}}})",
                     kV);
}

std::string hybrid() {
  return fmt::format(R"({{"type": "hybrid", "vocab_size": {}, "hidden_size": 24, "num_layers": 3,
      "max_position_embeddings": 16, "layout": "alternating",
      "block": {{"type": "transformer",
                "attention": {{"num_attention_heads": 4, "num_key_value_heads": 4,
                              "position": "alibi"}},
                "ffn": {{"intermediate_size": 40}}, "norm": {{"eps": 1e-5}}}},
      "secondary_block": {{"type": "mamba", "ssm": {{"state_size": 4, "conv_kernel": 3}},
                          "norm": {{"eps": 1e-5}}}},
      "block_overrides": {{"2": {{"type": "hybrid", "combine": "gate",
          "attention": {{"num_attention_heads": 2, "num_key_value_heads": 2,
                        "position": "alibi"}},
          "ssm": {{"state_size": 4, "conv_kernel": 3}}, "ffn": {{"intermediate_size": 40}},
          "norm": {{"eps": 1e-5}}}}}},
      "final_norm": {{"eps": 1e-5}}}})",
                     kV);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  const std::string seq = "sequence_classifier", tok = "token_classifier";
  std::vector<Case> cases = {
      {"seq_last_transformer_left", seq, transformer(""),
       R"({"type": "classifier", "num_labels": 3, "pooling": "last", "bias": true})"},
      {"seq_last_transformer_right", seq, transformer(""),
       R"({"type": "classifier", "num_labels": 3, "pooling": "last"})", true},
      {"seq_first_alibi_gemma_right", seq,
       transformer(R"(, "position": "alibi")", "gemma_rms_norm"),
       R"({"type": "classifier", "num_labels": 4, "pooling": "first"})", true},
      {"seq_first_learned_left", seq, transformer(R"(, "position": "learned")"),
       R"({"type": "classifier", "num_labels": 2, "pooling": "first", "bias": true})"},
      {"seq_mean_mamba_right", seq, mamba(),
       R"({"type": "classifier", "num_labels": 5, "pooling": "mean", "bias": true})", true},
      {"seq_mean_hybrid_left", seq, hybrid(),
       R"({"type": "classifier", "num_labels": 3, "pooling": "mean"})"},
      {"seq_max_hybrid_right", seq, hybrid(),
       R"({"type": "classifier", "num_labels": 3, "pooling": "max", "bias": true})", true},
      {"seq_max_mamba_left", seq, mamba(),
       R"({"type": "classifier", "num_labels": 2, "pooling": "max"})"},
      {"reg_mean_learned_left", seq, transformer(R"(, "position": "learned")"),
       R"({"type": "regression", "num_outputs": 2, "pooling": "mean", "bias": true})"},
      {"reg_last_mamba_right", seq, mamba(),
       R"({"type": "regression", "num_outputs": 1, "pooling": "last"})", true},
      {"reg_max_sinusoidal_right", seq, transformer(R"(, "position": "sinusoidal")"),
       R"({"type": "regression", "num_outputs": 3, "pooling": "max"})", true},
      {"tok_transformer_left", tok, transformer(R"(, "position": "sinusoidal")"),
       R"({"type": "classifier", "num_labels": 5, "pooling": "none", "bias": true})"},
      {"tok_mamba_right", tok, mamba(),
       R"({"type": "classifier", "num_labels": 4, "pooling": "none"})", true},
      {"tok_hybrid_left", tok, hybrid(),
       R"({"type": "classifier", "num_labels": 3, "pooling": "none"})"},
  };
  try {
    write_losses(root);
    for (auto& c : cases) run_case(root, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classifier_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
