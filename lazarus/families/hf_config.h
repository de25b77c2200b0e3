// Keys every Hugging Face config.json may carry beside a family's own: bookkeeping and legacy
// generation settings that do not change a causal LM's forward pass, and the keys that would change
// it unless neutral (see accept_hf_common_keys).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lazarus/config/json_reader.h"
#include "lazarus/config/model_config.h"

namespace lazarus::families {

/// What an HF config.json's model computes, from its "architectures" entry: a causal LM
/// (`*ForCausalLM`, or no entry), a sequence classifier (`*ForSequenceClassification`) or a token
/// classifier (`*ForTokenClassification`).
enum class ModelTask { CausalLM, SequenceClassification, TokenClassification };

/// The task of `hf_config` (ConfigError when its "architectures" name two different tasks).
ModelTask task_of(const config::Json& hf_config);
const char* task_name(ModelTask t);  // "causal-lm", "sequence-classification", ...

/// The label fields of an HF classifier config.json (PretrainedConfig): num_labels, id2label,
/// label2id, problem_type. transformers writes id2label / label2id and derives num_labels from
/// them; a config may also give num_labels alone (labels are then "LABEL_i").
struct ClassificationLabels {
  /// Class names by id; its size is num_labels.
  std::vector<std::string> id2label = {"LABEL_0", "LABEL_1"};
  /// "regression", "single_label_classification", "multi_label_classification", or nullopt:
  /// then, as transformers, regression when num_labels is 1, single-label for integer labels,
  /// multi-label for floating ones.
  std::optional<std::string> problem_type;

  int64_t num_labels() const { return int64_t(id2label.size()); }
  /// Checks num_labels >= 1, the names unique and problem_type known (ConfigError naming `path`
  /// and the field).
  void validate(const std::string& path = "") const;
  /// Reads num_labels / id2label / label2id / problem_type from `j` (other keys are ignored).
  /// Strict: one of num_labels and id2label must be given (ConfigError naming num_labels);
  /// num_labels must be an integer >= 1; id2label's keys must be the ids 0 .. n-1 and agree with
  /// num_labels when both are given; label2id must be id2label's inverse.
  static ClassificationLabels from_json(const config::Json& j, const std::string& path = "");
  /// Writes id2label, label2id and problem_type into `j` (HF's form; num_labels is derived).
  void write_json(config::Json& j) const;
  bool operator==(const ClassificationLabels&) const = default;
};

/// The key policy for the keys every HF config.json may carry beside a family's own; a family's
/// field table runs it after reading its own keys (config::FieldTable::common). Marks as read the
/// bookkeeping keys (transformers_version, torch_dtype, use_cache, id2label, the legacy generation
/// keys such as max_length / temperature, ...). Keys that change the math unless they hold their
/// neutral value (rope_interleaved, pruned_heads, is_encoder_decoder, use_sliding_window,
/// use_mrope, num_experts / num_experts_per_tok and the other MoE keys, qk_norm / qk_layernorm,
/// partial_rotary_factor, logit soft-capping, Granite's multipliers, layer_types other than
/// "full_attention") are checked only when the family has not read them: one ConfigError names
/// every offending key and its value. A `quantization_config` is always an error (quantized
/// checkpoints are not supported yet). Keys left unread after this are the caller's (the field
/// table reports them as warnings).
void accept_hf_common_keys(config::JsonReader& r);

/// A field-table check (config/field_table.h, check_with) for a token id: "" when it is in
/// [0, c.vocab_size), else the message's tail.
template <class C>
std::string token_id_in_vocab(const C& c, int64_t id) {
  return id >= 0 && id < c.vocab_size ? std::string()
                                      : fmt::format("out of range for vocab_size {}", c.vocab_size);
}

/// The Llama-style decoder most HF families share, in their config.json's terms: a token
/// embedding (padding_idx), pre-norm blocks of RoPE attention and a gated FFN (SwiGLU for silu)
/// with RMSNorm, a final RMSNorm and an LM head. Families set what differs on the result
/// (biases, q/k norms, rope scaling, experts, per-layer windows).
struct DecoderShape {
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0;
  int64_t num_attention_heads = 0, num_key_value_heads = 0;
  std::optional<int64_t> head_dim;  // nullopt = hidden_size / num_attention_heads
  config::ActivationType hidden_act = config::ActivationType::SiLU;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0, attention_dropout = 0.0;
  std::optional<int64_t> padding_idx;  // in [0, vocab_size)
  std::optional<int64_t> sliding_window;
  bool tie_word_embeddings = false;
};
config::ModelConfig decoder_model_config(const DecoderShape& s);

}  // namespace lazarus::families
