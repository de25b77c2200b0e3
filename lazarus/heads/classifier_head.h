// Classifier and regression heads: pool the backbone's hidden states over the non-padding tokens
// (last, first, mean, max; or none = every token) and map them to num_labels logits or
// num_outputs values with one linear layer, "score" in checkpoints (HF's *ForSequenceClassification
// name), after optional dropout.
#pragma once

#include "lazarus/config/model_config.h"
#include "lazarus/heads/lm_head.h"
#include "lazarus/nn/layers.h"

namespace lazarus::heads {

/// Reduces h (B, T, D) over the tokens kept by `token_mask` (B, T) (1 = keep, 0 = padding;
/// undefined = all kept) -> (B, D): Last / First = the last / first kept token of each row (left
/// or right padding alike), Mean = their mean, Max = their elementwise max (ties share the
/// gradient). PoolingType::None returns h unchanged. Throws ShapeError on mismatched shapes and
/// Error naming the row when a row has no kept token.
Tensor pool(const Tensor& h, const Tensor& token_mask, config::PoolingType how);

/// The shared form: dropout -> linear (out_features, D) over pooled features. Parameters "weight"
/// and "bias" sit on this module (registered as "score" by the models).
class PooledHead : public nn::Module {
 public:
  /// h (B, T, D) + token_mask (B, T) or undefined -> logits (B, out) pooled, or (B, T, out) with
  /// pooling none.
  HeadOutput forward(const Tensor& h, const Tensor& token_mask = Tensor()) const;
  const config::HeadConfig& config() const { return cfg_; }
  int64_t out_features() const { return out_features_; }

  Tensor weight;  // (out, D)
  Tensor bias;    // (out) when cfg.bias

 protected:
  PooledHead(int64_t hidden_size, int64_t out_features, const config::HeadConfig& cfg, DType dtype);
  config::HeadConfig cfg_;

 private:
  int64_t out_features_;
  nn::Dropout dropout_;
};

/// num_labels logits (cfg.type must be classifier; ConfigError naming the field otherwise).
class ClassifierHead : public PooledHead {
 public:
  ClassifierHead(int64_t hidden_size, const config::HeadConfig& cfg, DType dtype = DType::F32);
};

/// num_outputs real values (cfg.type must be regression; ConfigError naming the field otherwise).
class RegressionHead : public PooledHead {
 public:
  RegressionHead(int64_t hidden_size, const config::HeadConfig& cfg, DType dtype = DType::F32);
};

}  // namespace lazarus::heads
