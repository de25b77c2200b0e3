// SequenceClassifier and TokenClassifier: any backbone (transformer, mamba, hybrid; "model.*" or
// "backbone.*" as in HF checkpoints) plus a classifier or regression head ("score.*", HF's
// *ForSequenceClassification / *ForTokenClassification name), returning ModelOutput with the loss
// when labels are given.
#pragma once

#include <memory>

#include "lazarus/backbones/backbone.h"
#include "lazarus/heads/classifier_head.h"
#include "lazarus/models/causal_lm.h"

namespace lazarus::models {

/// One prediction per sequence: a classifier head (num_labels logits; cross-entropy loss) or a
/// regression head (num_outputs values; MSE loss), pooling the hidden states over non-padding
/// tokens by head.pooling (last, first, mean, max).
class SequenceClassifier : public nn::Module {
 public:
  /// Validates `cfg`; the head must be classifier or regression with pooling other than none
  /// (ConfigError naming the field).
  explicit SequenceClassifier(const config::ModelConfig& cfg, DType dtype = DType::F32);
  /// The same with a family's own backbone description (see CausalLM).
  SequenceClassifier(const config::ModelConfig& cfg,
                     const backbones::BackboneDescription& description, DType dtype = DType::F32);

  /// input_ids (B, T) integer; attention_mask (B, T) 1 keep / 0 pad (undefined = all kept).
  /// labels: classifier (B) integer class ids, -100 = ignore; regression (B, num_outputs) or (B)
  /// when num_outputs is 1, floating. Returns logits (B, num_labels | num_outputs), the loss when
  /// labels are given, and with output_hidden_states the backbone's hidden states.
  ModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                      const Tensor& labels = Tensor(), bool output_hidden_states = false);

  /// HF-style initialisation (see model_init.h).
  void init_weights(double std, uint64_t seed = 0);
  const config::ModelConfig& config() const { return cfg_; }

  /// Registered under its description's prefix ("model", "backbone", ...).
  std::shared_ptr<backbones::Backbone> backbone;
  /// Registered as "score".
  std::shared_ptr<heads::PooledHead> score;

 protected:
  /// The tokens the head pools over, (B, T) 1 = keep (undefined = every token). Default: the
  /// attention mask. Families override it (HF pools at the last token that is not pad_token_id).
  virtual Tensor pooling_mask(const Tensor& input_ids, const Tensor& attention_mask) const;
  /// The loss of pooled logits (B, C) against `labels`. Default: cross-entropy for a classifier
  /// head, MSE for a regression head (see losses.h). Families override it (HF's problem_type).
  virtual Tensor loss(const Tensor& logits, const Tensor& labels) const;

 private:
  config::ModelConfig cfg_;
};

/// One prediction per token: a classifier head with pooling none (num_labels logits per token;
/// cross-entropy over labels != -100 — give padding tokens -100, as HF's data collators do).
class TokenClassifier : public nn::Module {
 public:
  /// Validates `cfg`; the head must be a classifier with pooling none (ConfigError naming the
  /// field).
  explicit TokenClassifier(const config::ModelConfig& cfg, DType dtype = DType::F32);
  TokenClassifier(const config::ModelConfig& cfg,
                  const backbones::BackboneDescription& description, DType dtype = DType::F32);

  /// input_ids (B, T); attention_mask (B, T) 1 keep / 0 pad; labels (B, T) integer, -100 = ignore.
  /// Returns logits (B, T, num_labels) and the loss when labels are given.
  ModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                      const Tensor& labels = Tensor(), bool output_hidden_states = false);

  void init_weights(double std, uint64_t seed = 0);
  const config::ModelConfig& config() const { return cfg_; }

  std::shared_ptr<backbones::Backbone> backbone;
  std::shared_ptr<heads::ClassifierHead> score;

 private:
  config::ModelConfig cfg_;
};

}  // namespace lazarus::models
