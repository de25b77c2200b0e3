// The Qwen family: Qwen2 / Qwen2.5 (model_type "qwen2") and Qwen3 ("qwen3") causal LMs, read from
// the config.json transformers writes and built on the generic hierarchy. The semantics follow
// transformers 4.57's configuration_qwen2.py / modeling_qwen2.py and configuration_qwen3.py /
// modeling_qwen3.py:
// - Qwen2: q/k/v projections with bias, o_proj without; head_dim = hidden / heads unless given.
// - Qwen3: no biases (unless attention_bias), per-head RMSNorm of q and k over head_dim before RoPE
//   (self_attn.q_norm / k_norm), head_dim 128 unless given (not hidden / heads).
// - Both: sliding-window attention only with use_sliding_window, on the layers `layer_types` marks
//   "sliding_attention" (by default layers >= max_window_layers); the rest is Llama's layout and
//   names (model.embed_tokens, model.layers.N.{self_attn,mlp,input_layernorm,
//   post_attention_layernorm}, model.norm, lm_head).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lazarus/families/registry.h"

namespace lazarus::families {

struct QwenConfig {
  std::string model_type = "qwen2";  // "qwen2" or "qwen3"
  std::vector<std::string> architectures;
  int64_t vocab_size = 151936;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 22016;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  /// HF default 32 when the key is absent; null = num_attention_heads.
  std::optional<int64_t> num_key_value_heads = 32;
  /// Qwen3: 128 when absent. Qwen2: hidden_size / num_attention_heads when absent.
  std::optional<int64_t> head_dim;
  config::ActivationType hidden_act = config::ActivationType::SiLU;
  int64_t max_position_embeddings = 32768;
  double initializer_range = 0.02;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  double rope_theta = 10000.0;
  config::RoPEConfig rope_scaling;  // scaling None = no rope_scaling entry
  /// Qwen3 only (Qwen2's q/k/v always have a bias and o_proj never).
  bool attention_bias = false;
  double attention_dropout = 0.0;
  bool use_sliding_window = false;
  std::optional<int64_t> sliding_window = 4096;
  int64_t max_window_layers = 28;
  /// Per layer "full_attention" or "sliding_attention"; nullopt = derived from max_window_layers.
  std::optional<std::vector<std::string>> layer_types;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_id;
  std::optional<int64_t> pad_token_id;
  std::optional<std::string> torch_dtype;

  bool is_qwen3() const { return model_type == "qwen3"; }
  int64_t kv_heads() const { return num_key_value_heads.value_or(num_attention_heads); }
  int64_t resolved_head_dim() const {
    return head_dim.value_or(is_qwen3() ? 128 : hidden_size / num_attention_heads);
  }
  /// Whether layer `i` attends through a sliding window (transformers' layer_types rule).
  bool sliding(int64_t layer) const;

  /// Checks every field (ConfigError naming the HF key and the value).
  void validate() const;
  config::ModelConfig to_model_config() const;
  /// The config.json transformers writes (keys of Qwen2Config / Qwen3Config).
  config::Json to_json() const;
  /// By the field-table key policy (config/field_table.h): the keys of Qwen2Config /
  /// Qwen3Config and the common PretrainedConfig keys are read; use_mrope must be false; an
  /// unknown key is a warning. model_type and the five size keys are required.
  static QwenConfig from_json(const config::Json& j, const std::string& path = "");

  /// Presets (published config.json values): "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen3-0.6b",
  /// "qwen3-1.7b"; ConfigError listing them otherwise.
  static QwenConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
  bool operator==(const QwenConfig&) const = default;
};

/// A Qwen causal LM: the generic CausalLM built from QwenConfig, initialised as HF does
/// (N(0, initializer_range^2), biases 0, norms 1).
class QwenForCausalLM : public models::CausalLM {
 public:
  explicit QwenForCausalLM(const QwenConfig& cfg, DType dtype = DType::F32, uint64_t seed = 0);
  const QwenConfig& qwen_config() const { return qwen_cfg_; }

 private:
  QwenConfig qwen_cfg_;
};

/// The registry entry (model types qwen2 / qwen3).
FamilyInfo qwen_family();

}  // namespace lazarus::families
