// MambaConfig: the Hugging Face `config.json` of MambaForCausalLM (state-spaces/mamba-*-hf), with
// presets carrying the published numbers and the mapping onto the generic ModelConfig.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/model_config.h"

namespace lazarus::families {

struct MambaConfig {
  std::string model_type = "mamba";
  int64_t vocab_size = 50280;
  int64_t hidden_size = 768;
  /// N: SSM state size per channel.
  int64_t state_size = 16;
  int64_t num_hidden_layers = 32;
  double layer_norm_epsilon = 1e-5;
  /// intermediate_size = expand * hidden_size.
  int64_t expand = 2;
  int64_t conv_kernel = 4;
  /// Bias on in_proj / out_proj; bias on the depthwise conv.
  bool use_bias = true;
  bool use_conv_bias = true;
  config::ActivationType hidden_act = config::ActivationType::SiLU;
  /// nullopt = "auto" = ceil(hidden_size / 16).
  std::optional<int64_t> time_step_rank;
  bool residual_in_fp32 = true;
  bool tie_word_embeddings = true;
  // Initialisation only (HF _init_weights): they do not change the math of a loaded model.
  double initializer_range = 0.1;
  double time_step_scale = 1.0;
  double time_step_min = 0.001;
  double time_step_max = 0.1;
  std::string time_step_init_scheme = "random";  // "random" or "constant"
  double time_step_floor = 1e-4;
  bool rescale_prenorm_residual = false;
  std::optional<int64_t> bos_token_id = 0;
  std::vector<int64_t> eos_token_id = {0};
  std::optional<int64_t> pad_token_id = 0;
  std::optional<std::string> torch_dtype;
  std::vector<std::string> architectures = {"MambaForCausalLM"};

  int64_t intermediate_size() const { return expand * hidden_size; }
  int64_t resolved_time_step_rank() const {
    return time_step_rank.value_or((hidden_size + 15) / 16);
  }
  /// Checks every field (messages name the HF key and the value).
  void validate() const;
  /// The generic config of the same model (mamba backbone of mamba blocks, tied LM head).
  config::ModelConfig to_model_config() const;
  /// Parameter count, computed without allocating (mamba-130m: 129,135,360).
  int64_t num_parameters() const { return to_model_config().num_parameters(); }

  /// HF config.json form (time_step_rank written as the resolved integer, as HF saves it).
  config::Json to_json() const;
  /// Reads an HF config.json by the key policy of config/field_table.h. Accepted and dropped: HF
  /// bookkeeping (transformers_version, use_cache, ...) and implementation switches that leave
  /// the math unchanged (use_mambapy, fused_add_norm, pad_vocab_size_multiple). Checked against
  /// the other fields (ConfigError naming both when they disagree): intermediate_size and d_inner
  /// (= expand * hidden_size), n_layer (= num_hidden_layers), d_model (= hidden_size),
  /// tie_embeddings (= tie_word_embeddings). Only at their neutral value: rms_norm (true),
  /// ssm_cfg ({}), d_intermediate (0). Keys nobody knows are warnings (config::ConfigWarnings).
  static MambaConfig from_json(const config::Json& j, const std::string& path = "");
  static MambaConfig from_json_string(const std::string& text);
  bool operator==(const MambaConfig&) const = default;

  // ---- presets (state-spaces/mamba-*-hf) ----
  /// 2 layers, hidden 64, state 8, vocab 256: for tests and examples.
  static MambaConfig tiny();
  static MambaConfig mamba_130m();
  static MambaConfig mamba_370m();
  static MambaConfig mamba_790m();
  static MambaConfig mamba_1_4b();
  static MambaConfig mamba_2_8b();
  /// Preset by name ("tiny", "mamba_130m", ...); ConfigError listing the names otherwise.
  static MambaConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();
};

}  // namespace lazarus::families
