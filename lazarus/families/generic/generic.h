// The generic family (model_type "lazarus"): any model a Lazarus ModelConfig describes (hybrid,
// mixture-of-experts, recurrent, classifier heads, ...), saved as a Hugging Face-style folder whose
// config.json is the ModelConfig itself ({"backbone": ..., "head": ...}) plus the usual HF keys:
//   {"architectures": ["LazarusForCausalLM"], "model_type": "lazarus", "vocab_size": 256,
//    "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
//    "backbone": {...}, "head": {...}}
// so what `lazarus train --config model.json` writes loads back everywhere (generate, chat,
// finetune, info, save_pretrained). Checkpoint names are the module names. A bare ModelConfig
// JSON (no model_type) is read by the same reader.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/model_config.h"
#include "lazarus/families/hf_config.h"
#include "lazarus/models/causal_lm.h"

namespace lazarus::families {

inline constexpr const char* kGenericModelType = "lazarus";

/// A generic model's config.json: the ModelConfig and the HF keys it carries beside it.
struct LazarusConfig {
  config::ModelConfig model;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_id;
  std::optional<int64_t> pad_token_id;
  /// Classifier / regression heads: the class names (sized by the head's outputs) and
  /// problem_type. Unset for LM heads.
  std::optional<ClassificationLabels> labels;

  /// The task the head computes: LM -> causal LM; classifier / regression pooled ->
  /// sequence classification; classifier per token (pooling none) -> token classification.
  ModelTask task() const;
  /// "LazarusForCausalLM", "LazarusForSequenceClassification" or "LazarusForTokenClassification".
  std::string architecture() const;

  /// Validates the ModelConfig and the HF keys against it (ids inside the vocabulary, labels
  /// sized by the head); ConfigError naming `path`, the key and the value.
  void validate(const std::string& path = "") const;
  /// The config.json form (see the file comment); torch_dtype is set by save_pretrained.
  config::Json to_json() const;
  /// Reads the config.json form or a bare ModelConfig JSON. Strict: the HF keys must agree with
  /// the ModelConfig (vocab_size with backbone.embedding.vocab_size, tie_word_embeddings with
  /// head.tie_word_embeddings, "architectures" with the head's task, num_labels / id2label with
  /// the head's outputs); every other key goes to ModelConfig::from_json, which reports unknown
  /// ones.
  static LazarusConfig from_json(const config::Json& j, const std::string& path = "");
  /// A ModelConfig with no ids (labels LABEL_i for a classifier head).
  static LazarusConfig of(const config::ModelConfig& mc);
};

/// A causal LM of the generic family: a CausalLM that also carries its config.json's ids.
class LazarusForCausalLM : public models::CausalLM {
 public:
  /// Validates `cfg` (its head must be an LM head); weights ~ N(0, 0.02^2) from `seed`, norms 1.
  explicit LazarusForCausalLM(const LazarusConfig& cfg, DType dtype = DType::F32,
                              uint64_t seed = 0);
  const LazarusConfig& lazarus_config() const { return cfg_; }

 private:
  LazarusConfig cfg_;
};

/// True for a config.json the generic family reads: model_type "lazarus", or no model_type and a
/// "backbone" object (a bare ModelConfig).
bool is_generic_config(const config::Json& j);

}  // namespace lazarus::families
