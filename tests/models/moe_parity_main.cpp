// Mixture-of-experts parity driver: builds tiny Llama-style transformer CausalLMs whose FFNs are
// sparse mixtures of experts (swiglu experts top-2 of 4 with a left-padded row; MLP experts with
// bias, top-1 of 3 without renormalisation, tied head; a dense layer followed by a top-3-of-4
// layer through a block override), runs forward with labels (next-token loss + coef * the
// load-balancing loss) and backward, and writes per case: model_config.json, tensors.bin +
// manifest.json (weights, inputs, logits, every hidden state, aux loss, loss, every parameter's
// gradient, and each MoE layer's router logits with our ranking of the experts per token).
// tests/reference/torch_moe.py recomputes them to HF Mixtral semantics, routing as we did wherever
// its own router logits leave the choice within their tolerance (a near-tie).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lazarus/components/ffn.h"
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
  int64_t B = 2, T = 11;
  int64_t left_pad_row1 = 0;
};

void run_case(const fs::path& root, const Case& c) {
  config::ModelConfig cfg = config::ModelConfig::from_json_string(c.json);
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  std::ofstream(dir / "model_config.json") << cfg.to_json().dump(2);
  models::CausalLM model(cfg);
  Generator gen(47);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    bool router = name.find("mlp.gate.") != std::string::npos;
    t = norm     ? randn(t.shape(), DType::F32, 1.0, 0.2, &gen)
        : router ? randn(t.shape(), DType::F32, 0.0, 1.0, &gen)  // spread the routing
                 : randn(t.shape(), DType::F32, 0.0, 0.2, &gen);
  }
  model.load_state_dict(sd);
  const int64_t B = c.B, T = c.T, V = cfg.backbone.embedding.vocab_size;
  Tensor ids = randint(0, V, {B, T}, &gen);
  std::vector<int64_t> mask(B * T, 1), labels = ids.to_vector<int64_t>();
  for (int64_t t = 0; t < c.left_pad_row1; ++t) mask[1 * T + t] = 0;
  for (int64_t i = 0; i < B * T; ++i)
    if (!mask[i]) labels[i] = -100;
  labels[2] = -100;
  if (c.left_pad_row1) labels[1 * T + c.left_pad_row1] = -100;
  Tensor attention_mask = from_vector(mask, {B, T}, DType::I64);
  Tensor label_t = from_vector(labels, {B, T}, DType::I64);
  auto out =
      model.forward(ids, c.left_pad_row1 ? attention_mask : Tensor(), label_t, nullptr, true);
  out.loss.backward();
  // The router logits of that forward: the same backbone call again (same inputs, grad mode,
  // shapes and kernels: bit for bit the same values, checked on every hidden state), and our
  // ranking of the experts per token, as FeedForward ranks them (softmax in f32, top_k_indices):
  // its first k are the experts the forward used.
  auto bo =
      model.backbone->forward(ids, c.left_pad_row1 ? attention_mask : Tensor(), nullptr, true);
  if (bo.hidden_states.size() != out.hidden_states.size())
    throw std::runtime_error("the backbone call again: another number of hidden states");
  for (size_t i = 0; i < bo.hidden_states.size(); ++i) {
    if (bo.hidden_states[i].to_vector<float>() != out.hidden_states[i].to_vector<float>())
      throw std::runtime_error(fmt::format("the backbone call again: hidden state {} differs", i));
  }
  parity::TensorWriter w(dir);
  for (size_t i = 0; i < bo.router_logits.size(); ++i) {
    const Tensor& r = bo.router_logits[i];
    w.add(fmt::format("out.router_logits.{}", i), r);
    w.add(fmt::format("out.router_order.{}", i),
          components::top_k_indices(softmax(r.to(DType::F32), -1), r.size(1)));
  }
  for (auto& [name, p] : model.named_parameters()) w.add("param." + name, *p);
  w.add("input_ids", ids);
  w.add("attention_mask", attention_mask);
  w.add("labels", label_t);
  w.add("out.logits", out.logits);
  w.add("out.loss", out.loss.reshape({1}));
  w.add("out.aux_loss", out.aux_loss.reshape({1}));
  for (size_t i = 0; i < out.hidden_states.size(); ++i)
    w.add(fmt::format("out.hidden_states.{}", i), out.hidden_states[i]);
  for (auto& [name, p] : model.named_parameters()) w.add("grad." + name, p->grad());
  w.finish();
  std::printf("case %s: loss %.6f (aux %.6f), %zu parameters\n", c.name.c_str(), out.loss.item(),
              out.aux_loss.item(), model.named_parameters().size());
}

std::string model_json(const std::string& ffn, const std::string& rest, bool tied) {
  return fmt::format(R"({{"backbone": {{"type": "transformer", "vocab_size": 80, "hidden_size": 32,
      "num_layers": 2, "max_position_embeddings": 64,
      "block": {{"attention": {{"type": "grouped_query", "num_attention_heads": 4,
                               "num_key_value_heads": 2}}, "ffn": {}, "norm": {{"eps": 1e-5}}}}
      {}, "final_norm": {{"eps": 1e-5}}}}, "head": {{"tie_word_embeddings": {}}}}})",
                     ffn, rest, tied ? "true" : "false");
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
    cases.push_back({"swiglu_top2_of_4_left_padded",
                     model_json(R"({"type": "swiglu", "intermediate_size": 24, "num_experts": 4,
                                    "num_experts_per_tok": 2, "router_aux_loss_coef": 0.02})",
                                "", false),
                     2, 11, 3});
    cases.push_back({"mlp_bias_top1_of_3_no_renorm_tied",
                     model_json(R"({"type": "mlp", "activation": "gelu", "intermediate_size": 20,
                        "bias": true, "num_experts": 3, "num_experts_per_tok": 1,
                        "norm_topk_prob": false, "router_aux_loss_coef": 0.1})",
                                "", true)});
    cases.push_back(
        {"dense_then_top3_of_4",
         model_json(R"({"type": "swiglu", "intermediate_size": 40})",
                    R"(, "block_overrides": {"1": {"attention": {"type": "grouped_query",
                         "num_attention_heads": 4, "num_key_value_heads": 2},
                         "ffn": {"type": "geglu", "activation": "gelu_tanh", "intermediate_size": 16,
                                 "num_experts": 4, "num_experts_per_tok": 3,
                                 "router_aux_loss_coef": 0.05}, "norm": {"eps": 1e-5}}})",
                    false),
         3, 9});
    for (auto& c : cases) run_case(root, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moe_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
