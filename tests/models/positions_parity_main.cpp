// Positions parity driver: tiny CausalLMs from Lazarus JSON configs with learned, sinusoidal and
// ALiBi positions (incl. a non-power-of-two head count and a sliding window) and Gemma's RMSNorm,
// on transformer and hybrid backbones, with left and right padding. Runs forward with labels and
// backward and writes per case: model_config.json, tensors.bin + manifest.json (weights, inputs,
// logits, every hidden state, loss, every parameter's gradient). tests/reference/torch_composed.py
// composes the same math in torch and compares.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lazarus/models/causal_lm.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "parity_writer.h"

using namespace lazarus;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;
  config::ModelConfig cfg;
  int64_t B = 2, T = 11;
  int64_t pad_row1 = 0;  // padding tokens in row 1
  bool right = false;    // right padding instead of left
};

void run_case(const fs::path& root, const Case& c) {
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  std::ofstream(dir / "model_config.json") << c.cfg.to_json().dump(2);
  manual_seed(99);
  models::CausalLM model(c.cfg);
  Generator gen(43);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    bool a_log = name.find("A_log") != std::string::npos;
    t = norm    ? randn(t.shape(), DType::F32, 0.5, 0.3, &gen)
        : a_log ? rand(t.shape(), DType::F32, -0.5, 1.2, &gen)
                : randn(t.shape(), DType::F32, 0.0, 0.2, &gen);
  }
  model.load_state_dict(sd);
  const int64_t B = c.B, T = c.T, V = c.cfg.backbone.embedding.vocab_size;
  Tensor ids = randint(0, V, {B, T}, &gen);
  std::vector<int64_t> mask(B * T, 1), labels = ids.to_vector<int64_t>();
  for (int64_t t = 0; t < c.pad_row1; ++t) mask[1 * T + (c.right ? T - 1 - t : t)] = 0;
  for (int64_t i = 0; i < B * T; ++i)
    if (!mask[i]) labels[i] = -100;
  labels[2] = -100;
  // The first kept token of a left-padded row is predicted from a padding position: not a label.
  if (c.pad_row1 && !c.right) labels[1 * T + c.pad_row1] = -100;
  Tensor attention_mask = from_vector(mask, {B, T}, DType::I64);
  Tensor label_t = from_vector(labels, {B, T}, DType::I64);
  auto out = model.forward(ids, c.pad_row1 ? attention_mask : Tensor(), label_t, nullptr, true);
  out.loss.backward();
  parity::TensorWriter w(dir);
  for (auto& [name, p] : model.named_parameters()) w.add("param." + name, *p);
  w.add("input_ids", ids);
  w.add("attention_mask", attention_mask);
  w.add("labels", label_t);
  w.add("out.logits", out.logits);
  w.add("out.loss", out.loss.reshape({1}));
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    w.add(fmt::format("out.hidden_states.{}", i), out.hidden_states[i]);
  for (auto& [name, p] : model.named_parameters()) w.add("grad." + name, p->grad());
  w.finish();
  std::printf("case %s: loss %.6f, %zu parameters\n", c.name.c_str(), out.loss.item(),
              model.named_parameters().size());
}

config::ModelConfig parse(const std::string& s) { return config::ModelConfig::from_json_string(s); }

// A transformer backbone whose block uses `attn` (the attention JSON body) and norm `norm`.
std::string transformer(const std::string& attn, const std::string& norm) {
  return fmt::format(R"({{"backbone": {{"vocab_size": 70, "hidden_size": 24, "num_layers": 2,
      "max_position_embeddings": 16,
      "block": {{"attention": {{{}}}, "ffn": {{"type": "swiglu", "intermediate_size": 40}},
                "norm": {{"type": "{}", "eps": 1e-5}}}},
      "final_norm": {{"type": "{}", "eps": 1e-5}}}},
    "head": {{"tie_word_embeddings": false}}}})",
                     attn, norm, norm);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  std::vector<Case> cases;
  try {
    const char* mha4 = R"("num_attention_heads": 4, "num_key_value_heads": 4)";
    cases.push_back(
        {"learned_left_padded",
         parse(transformer(fmt::format(R"({}, "position": "learned")", mha4), "rms_norm")), 2, 11,
         3});
    cases.push_back(
        {"sinusoidal_gemma_right_padded",
         parse(transformer(fmt::format(R"({}, "position": "sinusoidal")", mha4), "gemma_rms_norm")),
         2, 11, 4, true});
    cases.push_back({"alibi_6heads_gqa_left_padded",
                     parse(transformer(R"("type": "grouped_query", "num_attention_heads": 6,
                              "num_key_value_heads": 3, "position": "alibi")",
                                       "rms_norm")),
                     2, 11, 2});
    cases.push_back(
        {"alibi_window_gemma",
         parse(transformer(fmt::format(R"({}, "position": "alibi", "sliding_window": 4)", mha4),
                           "gemma_rms_norm")),
         2, 12, 0});
    cases.push_back(
        {"alibi_gemma_right_padded",
         parse(transformer(R"("num_attention_heads": 8, "num_key_value_heads": 8, "head_dim": 4,
                              "position": "alibi")",
                           "gemma_rms_norm")),
         2, 11, 3, true});
    // Hybrid backbone: mamba layers and transformer layers with learned positions at the input,
    // Gemma norms everywhere, left padding.
    cases.push_back({"hybrid_learned_gemma_left_padded",
                     parse(R"({"backbone": {"type": "hybrid", "vocab_size": 70, "hidden_size": 32,
          "num_layers": 3, "max_position_embeddings": 16, "layout": "alternating",
          "block": {"type": "mamba", "ssm": {"state_size": 6, "conv_kernel": 3},
                    "norm": {"type": "gemma_rms_norm", "eps": 1e-5}},
          "secondary_block": {"type": "transformer",
             "attention": {"num_attention_heads": 4, "num_key_value_heads": 4,
                           "position": "learned"},
             "ffn": {"intermediate_size": 48}, "norm": {"type": "gemma_rms_norm", "eps": 1e-5}},
          "final_norm": {"type": "gemma_rms_norm", "eps": 1e-5}},
        "head": {"tie_word_embeddings": true}})"),
                     2, 11, 3});
    for (auto& c : cases) run_case(root, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "positions_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
