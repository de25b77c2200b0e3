// Llama / Qwen parity driver: builds tiny Llama models (GQA, MQA + tied head, llama3 / linear /
// dynamic / yarn rope scaling, sliding window with left padding, biases) and tiny Qwen2 / Qwen3
// models (q/k/v biases, per-head q/k norms, explicit head_dim, per-layer sliding windows) and tiny
// Mixtral models (sparse mixture of experts, with and without the load-balancing loss) through
// the family registry from their HF config.json, runs forward with labels and
// backward, and writes per case: config.json (HF form), tensors.bin + manifest.json (weights,
// input_ids, attention_mask, position of kept tokens, labels, logits, every hidden state, loss,
// every parameter's gradient; again for the loss with the LM head fused in, CausalLM::loss).
// tests/reference/torch_llama.py rebuilds each model in torch and
// compares.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/families/llama/llama.h"
#include "lazarus/families/registry.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "parity_writer.h"

using namespace lazarus;
using lazarus::families::LlamaConfig;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;
  nlohmann::json hf;  // the config.json
  int64_t B = 2, T = 12;
  int64_t left_pad_row1 = 0;  // row 1 starts with this many padding tokens
};

void run_case(const fs::path& root, const Case& c) {
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  // The family's full form: every key with its default, as the reference reads them.
  const config::Json hf = c.hf;
  const families::FamilyInfo& family = families::family_for(hf);
  std::ofstream(dir / "config.json") << (family.full_config ? family.full_config(hf, "") : hf).dump(2);

  manual_seed(1234);
  std::unique_ptr<models::CausalLM> built = families::build_causal_lm(c.hf);
  models::CausalLM& model = *built;
  // Random weights with a larger spread than HF's init (norm scales too), so every path matters.
  Generator gen(42);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    t = norm ? randn(t.shape(), DType::F32, 1.0, 0.2, &gen)
             : randn(t.shape(), DType::F32, 0.0, 0.15, &gen);
  }
  model.load_state_dict(sd);

  const int64_t B = c.B, T = c.T, V = c.hf["vocab_size"].get<int64_t>();
  Tensor ids = randint(0, V, {B, T}, &gen);
  if (c.hf.value("pad_token_id", nlohmann::json()).is_number_integer()) {
    // padding holds the pad id, and so does one real token
    const int64_t pad_id = c.hf["pad_token_id"].get<int64_t>();
    const int64_t pad = pad_id < 0 ? pad_id + V : pad_id;
    std::vector<int64_t> v = ids.to_vector<int64_t>();
    for (int64_t t = 0; t < c.left_pad_row1; ++t) v[1 * T + t] = pad;
    v[5] = pad;
    ids = from_vector(v, {B, T}, DType::I64);
  }
  std::vector<int64_t> mask(B * T, 1), labels = ids.to_vector<int64_t>();
  for (int64_t t = 0; t < c.left_pad_row1; ++t) mask[1 * T + t] = 0;
  for (int64_t i = 0; i < B * T; ++i)
    if (!mask[i]) labels[i] = -100;
  labels[3] = -100;  // an ignored label inside a row
  // The first kept token of a left-padded row is "predicted" from a padding position, whose output
  // no one defines (HF and we treat fully masked query rows differently): not a label.
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
  // The training path: the LM head fused into the loss (CausalLM::loss, no logits tensor) in
  // chunks, compared with the same PyTorch loss and gradients.
  model.zero_grad();
  Tensor fused = model.loss(ids, label_t, c.left_pad_row1 ? attention_mask : Tensor());
  fused.backward();
  w.add("fused.loss", fused.reshape({1}));
  for (auto& [name, p] : model.named_parameters()) w.add("fused_grad." + name, p->grad());
  w.finish();
  std::printf("case %s: loss %.6f, %zu parameters\n", c.name.c_str(), out.loss.item(),
              model.named_parameters().size());
}

LlamaConfig base() {
  LlamaConfig c = LlamaConfig::tiny();
  c.vocab_size = 128;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  c.eos_token_id = {2};
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
  cases.push_back({"gqa", base().to_json()});
  {
    LlamaConfig c = base();  // multi-query attention with a tied head
    c.num_key_value_heads = 1;
    c.tie_word_embeddings = true;
    c.pad_token_id = -1;  // torch reads it as the last row; tied, so the head's gradient remains
    cases.push_back({"mqa_tied", c.to_json()});
  }
  {
    LlamaConfig c = base();  // llama3 scaling, biases, explicit head_dim != hidden / heads
    c.rope_theta = 500000.0;
    c.rope_scaling.scaling = config::RoPEScalingType::Llama3;
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 16;
    c.attention_bias = true;
    c.mlp_bias = true;
    c.head_dim = 32;
    cases.push_back({"llama3_rope_bias", c.to_json()});
  }
  {
    LlamaConfig c = base();  // Mistral-style sliding window, left-padded row
    c.model_type = "mistral";
    c.sliding_window = 4;
    c.pad_token_id = 7;  // HF: embed_tokens' padding_idx, so row 7 gets no gradient from it
    cases.push_back({"sliding_window_padded", c.to_json(), 2, 12, 3});
  }
  {
    LlamaConfig c = base();
    c.rope_scaling.scaling = config::RoPEScalingType::Linear;
    c.rope_scaling.factor = 2.5;
    cases.push_back({"linear_rope", c.to_json()});
  }
  {
    LlamaConfig c = base();  // sequence longer than max_position_embeddings: the base grows
    c.max_position_embeddings = 8;
    c.rope_scaling.scaling = config::RoPEScalingType::Dynamic;
    c.rope_scaling.factor = 2.0;
    cases.push_back({"dynamic_rope", c.to_json()});
  }
  {
    LlamaConfig c = base();
    c.rope_scaling.scaling = config::RoPEScalingType::Yarn;
    c.rope_scaling.factor = 2.0;
    c.rope_scaling.beta_fast = 8.0;
    c.rope_scaling.original_max_position_embeddings =
        32;                          // puts the ramp inside the 8 rotary pairs
    c.max_position_embeddings = 64;  // = factor * original, so every reading of HF's yarn agrees
    cases.push_back({"yarn_rope", c.to_json()});
  }
  // Qwen2 (transformers 4.57 Qwen2Config keys): q/k/v biases, GQA, a sliding window on the layers
  // from max_window_layers on, a left-padded row with a pad id.
  nlohmann::json qwen2 = {{"architectures", {"Qwen2ForCausalLM"}},
                          {"model_type", "qwen2"},
                          {"vocab_size", 128},
                          {"hidden_size", 64},
                          {"intermediate_size", 96},
                          {"num_hidden_layers", 3},
                          {"num_attention_heads", 4},
                          {"num_key_value_heads", 2},
                          {"max_position_embeddings", 64},
                          {"rms_norm_eps", 1e-6},
                          {"rope_theta", 1000000.0},
                          {"use_sliding_window", true},
                          {"sliding_window", 4},
                          {"max_window_layers", 1},
                          {"tie_word_embeddings", false},
                          {"bos_token_id", 1},
                          {"eos_token_id", 2},
                          {"pad_token_id", 7}};
  cases.push_back({"qwen2_sliding_padded", qwen2, 2, 12, 3});
  {
    nlohmann::json c = qwen2;  // Qwen2.5-style: tied head, no window (use_sliding_window false)
    c["use_sliding_window"] = false;
    c["tie_word_embeddings"] = true;
    c.erase("pad_token_id");
    cases.push_back({"qwen2_tied", c});
  }
  // Qwen3: q/k norms, head_dim 32 != hidden / heads, no biases, untied.
  nlohmann::json qwen3 = qwen2;
  qwen3["architectures"] = {"Qwen3ForCausalLM"};
  qwen3["model_type"] = "qwen3";
  qwen3["head_dim"] = 32;
  qwen3["attention_bias"] = false;
  qwen3["use_sliding_window"] = false;
  qwen3.erase("pad_token_id");
  cases.push_back({"qwen3", qwen3});
  {
    nlohmann::json c = qwen3;  // biases, tied, MQA, explicit layer_types with a window, padding
    c["attention_bias"] = true;
    c["tie_word_embeddings"] = true;
    c["num_key_value_heads"] = 1;
    c["use_sliding_window"] = true;
    c["sliding_window"] = 3;
    c["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention"};
    c["pad_token_id"] = 5;
    cases.push_back({"qwen3_bias_tied_window_padded", c, 2, 12, 2});
  }
  // Mixtral (transformers 4.57 MixtralConfig keys): 4 experts, top 2, a left-padded row; then
  // with output_router_logits, so the load-balancing loss joins the loss.
  nlohmann::json mixtral = {{"architectures", {"MixtralForCausalLM"}},
                            {"model_type", "mixtral"},
                            {"vocab_size", 128},
                            {"hidden_size", 64},
                            {"intermediate_size", 48},
                            {"num_hidden_layers", 2},
                            {"num_attention_heads", 4},
                            {"num_key_value_heads", 2},
                            {"max_position_embeddings", 64},
                            {"rms_norm_eps", 1e-5},
                            {"num_local_experts", 4},
                            {"num_experts_per_tok", 2},
                            {"output_router_logits", false},
                            {"router_aux_loss_coef", 0.05},
                            {"pad_token_id", 0},
                            {"bos_token_id", 1},
                            {"eos_token_id", 2}};
  cases.push_back({"mixtral_padded", mixtral, 2, 12, 3});
  mixtral["output_router_logits"] = true;
  mixtral.erase("pad_token_id");
  cases.push_back({"mixtral_aux_loss", mixtral});
  try {
    for (auto& c : cases) run_case(root, c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llama_parity_main: %s\n", e.what());
    return 1;
  }
  return 0;
}
