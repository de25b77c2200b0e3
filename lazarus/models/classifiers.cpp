// Sequence and token classification models (see classifiers.h).
#include "lazarus/models/classifiers.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/models/model_init.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::models {

using config::HeadType;
using config::PoolingType;

namespace {

// The head reads the hidden states in its own dtype (a residual stream kept in f32 under bf16
// weights meets a bf16 head).
Tensor to_dtype(const Tensor& h, DType dt) { return h.dtype() == dt ? h : h.to(dt); }

}  // namespace

SequenceClassifier::SequenceClassifier(const config::ModelConfig& cfg, DType dtype)
    : SequenceClassifier(cfg, backbones::BackboneDescription::for_type(cfg.backbone.type), dtype) {}

SequenceClassifier::SequenceClassifier(const config::ModelConfig& cfg,
                                       const backbones::BackboneDescription& description,
                                       DType dtype)
    : cfg_(cfg) {
  cfg.validate();
  const auto& head = cfg.head;
  if (head.type != HeadType::Classifier && head.type != HeadType::Regression) {
    throw ConfigError(fmt::format(
        "head.type: a SequenceClassifier needs a 'classifier' or 'regression' head, got '{}'",
        config::to_string(head.type)));
  }
  if (head.pooling == PoolingType::None) {
    throw ConfigError(
        "head.pooling: 'none' keeps one output per token; a SequenceClassifier pools the "
        "sequence (last, first, mean, max) — use a TokenClassifier for per-token outputs");
  }
  backbone = register_module(description.prefix,
                             std::make_shared<backbones::Backbone>(cfg.backbone, description, dtype));
  const int64_t D = cfg.backbone.hidden_size;
  if (head.type == HeadType::Classifier)
    score = register_module("score", std::make_shared<heads::ClassifierHead>(D, head, dtype));
  else
    score = register_module("score", std::make_shared<heads::RegressionHead>(D, head, dtype));
}

ModelOutput SequenceClassifier::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                        const Tensor& labels, bool output_hidden_states) {
  auto bo = backbone->forward(input_ids, attention_mask, nullptr, output_hidden_states);
  ModelOutput out;
  Tensor h = to_dtype(bo.last_hidden_state, score->weight.dtype());                // (B, T, D)
  out.logits = score->forward(h, pooling_mask(input_ids, attention_mask)).logits;  // (B, C)
  if (labels.defined()) out.loss = loss(out.logits, labels);
  out.hidden_states = std::move(bo.hidden_states);
  return out;
}

Tensor SequenceClassifier::pooling_mask(const Tensor&, const Tensor& attention_mask) const {
  return attention_mask;
}

Tensor SequenceClassifier::loss(const Tensor& logits, const Tensor& labels) const {
  return cfg_.head.type == HeadType::Classifier
             ? losses::sequence_classification_loss(logits, labels)
             : losses::regression_loss(logits, labels);
}

void SequenceClassifier::init_weights(double std, uint64_t seed) {
  models::init_weights(*this, std, seed);
}

TokenClassifier::TokenClassifier(const config::ModelConfig& cfg, DType dtype)
    : TokenClassifier(cfg, backbones::BackboneDescription::for_type(cfg.backbone.type), dtype) {}

TokenClassifier::TokenClassifier(const config::ModelConfig& cfg,
                                 const backbones::BackboneDescription& description, DType dtype)
    : cfg_(cfg) {
  cfg.validate();
  if (cfg.head.type != HeadType::Classifier) {
    throw ConfigError(
        fmt::format("head.type: a TokenClassifier needs a 'classifier' head, got '{}'",
                    config::to_string(cfg.head.type)));
  }
  if (cfg.head.pooling != PoolingType::None) {
    throw ConfigError(fmt::format(
        "head.pooling: a TokenClassifier gives one output per token, so it needs 'none', got "
        "'{}' (a pooled head belongs to a SequenceClassifier)",
        config::to_string(cfg.head.pooling)));
  }
  backbone = register_module(description.prefix,
                             std::make_shared<backbones::Backbone>(cfg.backbone, description, dtype));
  score = register_module(
      "score", std::make_shared<heads::ClassifierHead>(cfg.backbone.hidden_size, cfg.head, dtype));
}

ModelOutput TokenClassifier::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                     const Tensor& labels, bool output_hidden_states) {
  auto bo = backbone->forward(input_ids, attention_mask, nullptr, output_hidden_states);
  ModelOutput out;
  Tensor h = to_dtype(bo.last_hidden_state, score->weight.dtype());  // (B, T, D)
  out.logits = score->forward(h).logits;                             // (B, T, C)
  if (labels.defined()) out.loss = losses::token_classification_loss(out.logits, labels);
  out.hidden_states = std::move(bo.hidden_states);
  return out;
}

void TokenClassifier::init_weights(double std, uint64_t seed) {
  models::init_weights(*this, std, seed);
}

}  // namespace lazarus::models
