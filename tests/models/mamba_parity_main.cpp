// Mamba parity driver: builds tiny MambaForCausalLM models (tied head + no biases as the published
// checkpoints; biases + untied head + explicit time_step_rank + expand 3 + kernel 3 + gelu; a
// left-padded batch), runs forward with labels and backward, and writes per case: config.json (HF
// form), tensors.bin + manifest.json (weights, input_ids, attention_mask, labels, logits, every
// hidden state, loss, every parameter's gradient). tests/reference/torch_mamba.py rebuilds each
// model in torch to HF modeling_mamba.py (slow path) semantics and compares.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lazarus/families/mamba/mamba.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "parity_writer.h"

using namespace lazarus;
using lazarus::families::MambaConfig;
using lazarus::families::MambaForCausalLM;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;
  MambaConfig cfg;
  int64_t B = 2, T = 13;
  int64_t left_pad_row1 = 0;  // row 1 starts with this many padding tokens
};

void run_case(const fs::path& root, const Case& c) {
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << c.cfg.to_json().dump(2);

  manual_seed(1234);
  MambaForCausalLM model(c.cfg);
  // Random weights with a larger spread than HF's init, so every path matters; the SSM
  // parameters stay in their working ranges (A = -exp(A_log) around -1..-3, dt around 0.5).
  Generator gen(42);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    bool a_log = name.find("A_log") != std::string::npos;
    t = norm    ? randn(t.shape(), DType::F32, 1.0, 0.2, &gen)
        : a_log ? rand(t.shape(), DType::F32, -0.5, 1.2, &gen)
                : randn(t.shape(), DType::F32, 0.0, 0.25, &gen);
  }
  model.load_state_dict(sd);

  const int64_t B = c.B, T = c.T, V = c.cfg.vocab_size;
  Tensor ids = randint(0, V, {B, T}, &gen);
  std::vector<int64_t> mask(B * T, 1), labels = ids.to_vector<int64_t>();
  for (int64_t t = 0; t < c.left_pad_row1; ++t) mask[1 * T + t] = 0;
  for (int64_t i = 0; i < B * T; ++i)
    if (!mask[i]) labels[i] = -100;
  labels[3] = -100;  // an ignored label inside a row
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

MambaConfig base() {
  MambaConfig c = MambaConfig::tiny();
  c.vocab_size = 96;
  c.hidden_size = 32;
  c.state_size = 8;
  c.num_hidden_layers = 2;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  fs::path root = argv[1];
  std::vector<Case> cases;
  cases.push_back({"tied_no_bias", base()});
  {
    MambaConfig c = base();  // every optional parameter, untied head, non-default shapes
    c.use_bias = true;
    c.use_conv_bias = true;
    c.tie_word_embeddings = false;
    c.time_step_rank = 5;
    c.expand = 3;
    c.conv_kernel = 3;
    c.num_hidden_layers = 3;
    c.hidden_act = config::ActivationType::GELU;
    cases.push_back({"bias_untied_gelu", c});
  }
  {
    MambaConfig c = base();  // no conv bias, a left-padded row
    c.use_conv_bias = false;
    c.state_size = 4;
    cases.push_back({"left_padded", c, 2, 13, 4});
  }
  try {
    for (auto& c : cases) run_case(root, c);
    // Presets: HF config + our parameter count (no allocation), recounted by the torch script.
    nlohmann::json presets = nlohmann::json::array();
    for (const auto& n : MambaConfig::preset_names()) {
      MambaConfig p = MambaConfig::preset(n);
      presets.push_back(
          {{"name", n}, {"config", p.to_json()}, {"num_parameters", p.num_parameters()}});
    }
    std::ofstream(root / "presets.json") << presets.dump(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mamba_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
