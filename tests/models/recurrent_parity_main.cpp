// Recurrent parity driver: builds tiny recurrent CausalLMs (LSTM, GRU, minGRU, and a stack mixing
// all three; tied and untied heads; state width = and != model width; with and without bias; a
// left- or right-padded row) from Lazarus model configs, runs forward with labels and backward,
// and writes per case: model_config.json, tensors.bin + manifest.json (weights, inputs, logits,
// every hidden state, loss, every parameter's gradient). tests/reference/torch_recurrent.py
// recomputes them with torch.nn.LSTM / torch.nn.GRU (weights mapped) and minGRU written in torch.
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
  std::string json;
  int64_t B = 2, T = 9;
  int64_t left_pad_row1 = 0, right_pad_row1 = 0;
};

void run_case(const fs::path& root, const Case& c) {
  config::ModelConfig cfg = config::ModelConfig::from_json_string(c.json);
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  std::ofstream(dir / "model_config.json") << cfg.to_json().dump(2);
  models::CausalLM model(cfg);
  Generator gen(43);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    t = norm ? randn(t.shape(), DType::F32, 1.0, 0.2, &gen)
             : randn(t.shape(), DType::F32, 0.0, 0.3, &gen);
  }
  model.load_state_dict(sd);
  const int64_t B = c.B, T = c.T, V = cfg.backbone.embedding.vocab_size;
  Tensor ids = randint(0, V, {B, T}, &gen);
  std::vector<int64_t> mask(B * T, 1), labels = ids.to_vector<int64_t>();
  for (int64_t t = 0; t < c.left_pad_row1; ++t) mask[1 * T + t] = 0;
  for (int64_t t = T - c.right_pad_row1; t < T; ++t) mask[1 * T + t] = 0;
  for (int64_t i = 0; i < B * T; ++i)
    if (!mask[i]) labels[i] = -100;
  labels[2] = -100;
  // The first kept token of a left-padded row is predicted from a padding position: not a label.
  if (c.left_pad_row1) labels[1 * T + c.left_pad_row1] = -100;
  bool padded = c.left_pad_row1 || c.right_pad_row1;
  Tensor attention_mask = from_vector(mask, {B, T}, DType::I64);
  Tensor label_t = from_vector(labels, {B, T}, DType::I64);
  auto out = model.forward(ids, padded ? attention_mask : Tensor(), label_t, nullptr, true);
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

std::string model_json(int64_t layers, const std::string& block, const std::string& overrides,
                       bool tied) {
  return fmt::format(R"({{"backbone": {{"type": "recurrent", "vocab_size": 70, "hidden_size": 24,
      "num_layers": {}, "block": {}, "block_overrides": {{{}}}, "final_norm": {{"eps": 1e-5}}}},
      "head": {{"tie_word_embeddings": {}}}}})",
                     layers, block, overrides, tied ? "true" : "false");
}

std::string rec(const std::string& kind, const std::string& extra = "") {
  return fmt::format(R"({{"type": "recurrent", "recurrent": {{"type": "{}"{}}},
      "norm": {{"eps": 1e-5}}}})",
                     kind, extra);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  try {
    std::vector<Case> cases;
    cases.push_back({"lstm_tied_left_padded", model_json(2, rec("lstm"), "", true), 2, 9, 3, 0});
    cases.push_back({"gru_untied_state32_right_padded",
                     model_json(2, rec("gru", R"(, "hidden_size": 32)"), "", false), 2, 9, 0, 3});
    cases.push_back({"mingru_nobias_left_padded",
                     model_json(2, rec("mingru", R"(, "bias": false)"), "", false), 2, 9, 2, 0});
    cases.push_back({"mixed_lstm_gru_mingru",
                     model_json(3, rec("lstm", R"(, "hidden_size": 16)"),
                                fmt::format(R"("1": {}, "2": {})", rec("gru", R"(, "bias": false)"),
                                            rec("mingru", R"(, "hidden_size": 40)")),
                                true),
                     3, 8});
    for (auto& c : cases) run_case(root, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recurrent_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
