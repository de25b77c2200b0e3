// The Mixtral family (model_type "mixtral"): a Mistral transformer whose FFNs are sparse mixtures
// of SwiGLU experts. Semantics of transformers 4.57's configuration_mixtral.py /
// modeling_mixtral.py: the router `gate` (no bias) scores every expert, softmax in f32, the top
// num_experts_per_tok are kept and renormalised to sum 1, each chosen expert
// w2(silu(w1 x) * w3 x) is weighted and summed; the load-balancing loss joins the training loss
// (x router_aux_loss_coef) only when output_router_logits is set, as MixtralForCausalLM does.
// Checkpoint names are HF's (model.layers.N.block_sparse_moe.gate / experts.K.w1|w2|w3), mapped
// to the generic mixture-of-experts FFN's (mlp.gate / experts.K.gate_proj|down_proj|up_proj).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lazarus/families/registry.h"

namespace lazarus::families {

struct MixtralConfig {
  std::string model_type = "mixtral";
  std::vector<std::string> architectures = {"MixtralForCausalLM"};
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 14336;  // of each expert
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  std::optional<int64_t> num_key_value_heads = 8;  // null = num_attention_heads
  std::optional<int64_t> head_dim;                  // null = hidden_size / num_attention_heads
  config::ActivationType hidden_act = config::ActivationType::SiLU;
  int64_t max_position_embeddings = 4096 * 32;
  double initializer_range = 0.02;
  double rms_norm_eps = 1e-5;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> bos_token_id = 1;
  std::vector<int64_t> eos_token_id = {2};
  bool tie_word_embeddings = false;
  double rope_theta = 1e6;
  std::optional<int64_t> sliding_window;
  double attention_dropout = 0.0;
  int64_t num_experts_per_tok = 2;
  int64_t num_local_experts = 8;
  bool output_router_logits = false;
  double router_aux_loss_coef = 0.001;
  std::optional<std::string> torch_dtype;

  int64_t kv_heads() const { return num_key_value_heads.value_or(num_attention_heads); }
  void validate() const;
  config::ModelConfig to_model_config() const;
  config::Json to_json() const;
  /// By the field-table key policy (config/field_table.h); router_jitter_noise must be 0 (a
  /// training-time noise Lazarus does not draw).
  static MixtralConfig from_json(const config::Json& j, const std::string& path = "");
  /// "mixtral-8x7b" (mistralai/Mixtral-8x7B-v0.1); ConfigError listing the names otherwise.
  static MixtralConfig preset(const std::string& name);
  bool operator==(const MixtralConfig&) const = default;
};

class MixtralForCausalLM : public models::CausalLM {
 public:
  explicit MixtralForCausalLM(const MixtralConfig& cfg, DType dtype = DType::F32,
                              uint64_t seed = 0);
  const MixtralConfig& mixtral_config() const { return mixtral_cfg_; }

 private:
  MixtralConfig mixtral_cfg_;
};

/// The registry entry (model type mixtral).
FamilyInfo mixtral_family();

}  // namespace lazarus::families
