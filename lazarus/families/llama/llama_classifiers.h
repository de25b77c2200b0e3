// LlamaForSequenceClassification and LlamaForTokenClassification (also Mistral's, which are the
// same modules): the Llama backbone ("model.*") under a "score" layer, with transformers'
// semantics. Sequence: score without bias, applied at the last token that is not pad_token_id
// (every token is kept when pad_token_id is unset, then a batch must be one row), loss by
// problem_type (regression: MSE; single-label: cross-entropy, -100 ignored; multi-label: BCE with
// logits). Token: score with bias on every token (dropout classifier_dropout, else
// hidden_dropout, else 0.1, while training), cross-entropy over labels != -100.
#pragma once

#include <optional>

#include "lazarus/families/hf_config.h"
#include "lazarus/families/llama/llama_config.h"
#include "lazarus/models/classifiers.h"

namespace lazarus::families {

class LlamaForSequenceClassification : public models::SequenceClassifier {
 public:
  /// Validates both configs; weights initialised as HF does (N(0, initializer_range^2)).
  LlamaForSequenceClassification(const LlamaConfig& cfg, const ClassificationLabels& labels,
                                 DType dtype = DType::F32, uint64_t seed = 0);

  const LlamaConfig& llama_config() const { return llama_cfg_; }
  const ClassificationLabels& labels() const { return labels_; }
  /// HF config.json form: the Llama fields, architectures [Llama|Mistral]ForSequenceClassification,
  /// id2label, label2id, problem_type.
  config::Json to_json() const;
  /// Reads a *ForSequenceClassification config.json strictly (num_labels accepted beside
  /// id2label; ConfigError naming the field).
  static std::pair<LlamaConfig, ClassificationLabels> read_config(const config::Json& j,
                                                                  const std::string& path = "");
  /// The generic config: the Llama backbone and a classifier head (no bias, pooling last).
  static config::ModelConfig model_config(const LlamaConfig& cfg,
                                          const ClassificationLabels& labels);

  /// HF's problem_type for these labels: the configured one, else regression when num_labels is
  /// 1, single-label for integer labels, multi-label for floating ones.
  std::string problem_type_for(const Tensor& labels) const;

 protected:
  /// Keeps exactly one token a row: the last one that is not pad_token_id (position 0 when the
  /// whole row is padding), as transformers' argmax over (index * non-pad). Without
  /// pad_token_id the last token of the row, and a batch must be one row (as transformers).
  Tensor pooling_mask(const Tensor& input_ids, const Tensor& attention_mask) const override;
  Tensor loss(const Tensor& logits, const Tensor& labels) const override;

 private:
  LlamaConfig llama_cfg_;
  ClassificationLabels labels_;
};

class LlamaForTokenClassification : public models::TokenClassifier {
 public:
  LlamaForTokenClassification(const LlamaConfig& cfg, const ClassificationLabels& labels,
                              std::optional<double> classifier_dropout = std::nullopt,
                              DType dtype = DType::F32, uint64_t seed = 0);

  const LlamaConfig& llama_config() const { return llama_cfg_; }
  const ClassificationLabels& labels() const { return labels_; }
  /// The config's classifier_dropout / hidden_dropout (nullopt = neither given: 0.1 is used).
  std::optional<double> classifier_dropout() const { return classifier_dropout_; }
  /// HF config.json form (architectures [Llama|Mistral]ForTokenClassification, labels,
  /// classifier_dropout when set).
  config::Json to_json() const;
  struct Parsed {
    LlamaConfig llama;
    ClassificationLabels labels;
    std::optional<double> classifier_dropout;
  };
  static Parsed read_config(const config::Json& j, const std::string& path = "");
  /// The generic config: the Llama backbone and a per-token classifier head with bias.
  static config::ModelConfig model_config(const LlamaConfig& cfg,
                                          const ClassificationLabels& labels,
                                          std::optional<double> classifier_dropout);

 private:
  LlamaConfig llama_cfg_;
  ClassificationLabels labels_;
  std::optional<double> classifier_dropout_;
};

}  // namespace lazarus::families
