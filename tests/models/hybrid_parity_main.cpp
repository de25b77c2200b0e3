// Hybrid parity driver: builds tiny hybrid-backbone CausalLMs from Lazarus model configs
// (alternating transformer/mamba layers with a gated hybrid override; interleaved at ratio 2 with
// a left-padded row; parallel attention + SSM merged by concat and by add), runs forward with
// labels and backward, and writes per case: model_config.json, tensors.bin + manifest.json
// (weights, inputs, logits, every hidden state, loss, every parameter's gradient).
// tests/reference/torch_hybrid.py composes the same math in torch and compares.
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
  int64_t left_pad_row1 = 0;
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
    t = norm    ? randn(t.shape(), DType::F32, 1.0, 0.2, &gen)
        : a_log ? rand(t.shape(), DType::F32, -0.5, 1.2, &gen)
                : randn(t.shape(), DType::F32, 0.0, 0.2, &gen);
  }
  model.load_state_dict(sd);
  const int64_t B = c.B, T = c.T, V = c.cfg.backbone.embedding.vocab_size;
  Tensor ids = randint(0, V, {B, T}, &gen);
  std::vector<int64_t> mask(B * T, 1), labels = ids.to_vector<int64_t>();
  for (int64_t t = 0; t < c.left_pad_row1; ++t) mask[1 * T + t] = 0;
  for (int64_t i = 0; i < B * T; ++i)
    if (!mask[i]) labels[i] = -100;
  labels[2] = -100;
  // The first kept token of a left-padded row is predicted from a padding position: not a label.
  if (c.left_pad_row1) labels[1 * T + c.left_pad_row1] = -100;
  Tensor attention_mask = from_vector(mask, {B, T}, DType::I64);
  Tensor label_t = from_vector(labels, {B, T}, DType::I64);
  auto out =
      model.forward(ids, c.left_pad_row1 ? attention_mask : Tensor(), label_t, nullptr, true);
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

// Shared pieces of the JSON configs.
const char* kAttn = R"("attention": {"type": "grouped_query", "num_attention_heads": 4,
                                      "num_key_value_heads": 2, "rope": {"theta": 10000}})";
const char* kFfn = R"("ffn": {"type": "swiglu", "intermediate_size": 48})";
const char* kSsm = R"("ssm": {"state_size": 6, "conv_kernel": 3, "expand": 2})";

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  std::vector<Case> cases;
  try {
    auto backbone = [](const std::string& layout, int64_t layers, const std::string& rest) {
      return fmt::format(R"({{"backbone": {{"type": "hybrid", "vocab_size": 80, "hidden_size": 32,
          "num_layers": {}, "max_position_embeddings": 64, "layout": "{}", {},
          "final_norm": {{"eps": 1e-5}}}}, )",
                         layers, layout, rest);
    };
    cases.push_back({"alternating_gate_override",
                     parse(backbone("alternating", 4,
                                    fmt::format(R"("block": {{"type": "transformer", {}, {}}},
                  "secondary_block": {{"type": "mamba", {}}},
                  "block_overrides": {{"3": {{"type": "hybrid", "combine": "gate", {}, {}, {}}}}})",
                                                kAttn, kFfn, kSsm, kAttn, kFfn, kSsm)) +
                           R"("head": {"tie_word_embeddings": true}})")});
    cases.push_back({"interleaved_ratio2_padded",
                     parse(backbone("interleaved", 3,
                                    fmt::format(R"("layout_ratio": 2,
                  "block": {{"type": "mamba", {}}},
                  "secondary_block": {{"type": "transformer", {}, {}}})",
                                                kSsm, kAttn, kFfn)) +
                           R"("head": {"tie_word_embeddings": false}})"),
                     2, 11, 3});
    cases.push_back(
        {"parallel_concat_padded",
         parse(backbone(
                   "parallel", 2,
                   fmt::format(R"("block": {{"type": "hybrid", "combine": "concat", {}, {}, {}}})",
                               kAttn, kFfn, kSsm)) +
               R"("head": {}})"),
         2, 11, 2});
    cases.push_back(
        {"parallel_add", parse(backbone("parallel", 2,
                                        fmt::format(R"("block": {{"type": "hybrid", {}, {}, {}}})",
                                                    kAttn, kFfn, kSsm)) +
                               R"("head": {"tie_word_embeddings": true}})")});
    for (auto& c : cases) run_case(root, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hybrid_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
