// LlamaConfig: the Hugging Face `config.json` of Llama-style models (Llama 2/3/3.1/3.2, Mistral,
// CodeLlama, TinyLlama, SmolLM2), with presets carrying the published numbers and the mapping onto
// the generic ModelConfig the hierarchy is built from.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/model_config.h"

namespace lazarus::families {

struct LlamaConfig {
  std::string model_type = "llama";  // "llama" or "mistral"
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  /// nullopt = num_attention_heads (multi-head attention).
  std::optional<int64_t> num_key_value_heads;
  /// nullopt = hidden_size / num_attention_heads.
  std::optional<int64_t> head_dim;
  config::ActivationType hidden_act = config::ActivationType::SiLU;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  /// Scaling fields of `rope_scaling` (theta above is `rope_theta`); scaling None = no
  /// `rope_scaling` entry.
  config::RoPEConfig rope_scaling;
  bool attention_bias = false;
  bool mlp_bias = false;
  double attention_dropout = 0.0;
  bool tie_word_embeddings = false;
  std::optional<int64_t> sliding_window;
  double initializer_range = 0.02;
  std::optional<int64_t> bos_token_id = 1;
  /// One id, or several (Llama 3.1 lists three).
  std::vector<int64_t> eos_token_id = {2};
  std::optional<int64_t> pad_token_id;
  std::optional<std::string> torch_dtype;
  std::vector<std::string> architectures = {"LlamaForCausalLM"};

  int64_t kv_heads() const { return num_key_value_heads.value_or(num_attention_heads); }
  /// Checks every field (messages name the HF key and the value).
  void validate() const;
  /// The generic config of the same model.
  config::ModelConfig to_model_config() const;
  /// Parameter count, computed without allocating (Llama-2-7B: 6,738,415,616).
  int64_t num_parameters() const { return to_model_config().num_parameters(); }

  /// HF config.json form (`rope_scaling` as {"rope_type": ..., "factor": ...} or null).
  config::Json to_json() const;
  /// Reads an HF config.json by the key policy of config/field_table.h: HF bookkeeping keys
  /// (transformers_version, use_cache, ...; see accept_hf_common_keys) are accepted and dropped;
  /// keys that would change the math unless neutral (num_experts, use_sliding_window,
  /// quantization_config, ...) are a ConfigError naming the key and value; keys nobody knows are
  /// warnings (config::ConfigWarnings). The keys that fix the shapes (vocab_size, hidden_size,
  /// intermediate_size, num_hidden_layers, num_attention_heads) are required; the others default
  /// as in transformers.
  static LlamaConfig from_json(const config::Json& j, const std::string& path = "");
  static LlamaConfig from_json_string(const std::string& text);
  bool operator==(const LlamaConfig&) const = default;

  // ---- presets (published configs) ----
  /// 2 layers, hidden 64, 4 heads / 2 KV heads, vocab 256: for tests and examples.
  static LlamaConfig tiny();
  static LlamaConfig llama2_7b();
  static LlamaConfig llama2_13b();
  static LlamaConfig llama2_70b();
  static LlamaConfig llama3_8b();
  static LlamaConfig llama3_70b();
  static LlamaConfig mistral_7b();
  static LlamaConfig code_llama_7b();
  static LlamaConfig smollm2_135m();    // tied embeddings
  static LlamaConfig tinyllama_1_1b();  // 22 layers, 4 KV heads
  /// Preset by name ("tiny", "llama2_7b", ...); ConfigError listing the names otherwise.
  static LlamaConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
};

}  // namespace lazarus::families
