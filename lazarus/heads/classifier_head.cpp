// Classifier / regression heads and pooling (see classifier_head.h).
#include "lazarus/heads/classifier_head.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::heads {

using config::PoolingType;

Tensor pool(const Tensor& h, const Tensor& token_mask, PoolingType how) {
  if (how == PoolingType::None) return h;
  if (h.dim() != 3)
    throw ShapeError(
        fmt::format("[pool] hidden states must be (B, T, D), got {}", shape_str(h.shape())));
  const int64_t B = h.size(0), T = h.size(1), D = h.size(2);
  std::vector<int64_t> m(B * T, 1);
  if (token_mask.defined()) {
    if (token_mask.dim() != 2 || token_mask.size(0) != B || token_mask.size(1) != T) {
      throw ShapeError(fmt::format("[pool] attention_mask {} must be (B, T) = ({}, {})",
                                   shape_str(token_mask.shape()), B, T));
    }
    m = token_mask.to(DType::I64).contiguous().to_vector<int64_t>();
  }
  std::vector<int64_t> first(B, -1), last(B, -1);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      if (!m[b * T + t]) continue;
      if (first[b] < 0) first[b] = t;
      last[b] = t;
    }
    if (last[b] < 0) {
      throw Error(fmt::format(
          "[pool] row {} of the batch has no non-padding token to pool (attention_mask is all 0 "
          "there; drop the row or give it a token)",
          b));
    }
  }
  switch (how) {
    case PoolingType::Last:
    case PoolingType::First: {
      std::vector<int64_t> rows(B);
      for (int64_t b = 0; b < B; ++b)
        rows[b] = b * T + (how == PoolingType::Last ? last[b] : first[b]);
      return index_select(h.reshape({B * T, D}), 0, from_vector(rows, {B}, DType::I64));  // (B, D)
    }
    case PoolingType::Mean: {
      if (!token_mask.defined()) return mean(h, {1});
      Tensor keep = from_vector(m, {B, T, 1}, DType::I64).to(h.dtype());  // (B, T, 1)
      Tensor count = sum(keep, {1});                                      // (B, 1)
      return sum(h * keep, {1}) / count;                                  // (B, D)
    }
    case PoolingType::Max: {
      if (!token_mask.defined()) return amax(h, {1});
      Tensor keep = ne(from_vector(m, {B, T, 1}, DType::I64), zeros({}, DType::I64));
      return amax(where(keep, h, full({}, -INFINITY, h.dtype())), {1});  // (B, D)
    }
    case PoolingType::None:
      break;
  }
  return h;
}

PooledHead::PooledHead(int64_t D, int64_t out, const config::HeadConfig& cfg, DType dtype)
    : cfg_(cfg), out_features_(out), dropout_(cfg.dropout) {
  cfg.validate("head");
  weight = nn::init::linear_default({out, D}, D, dtype);
  register_parameter("weight", &weight);
  if (cfg.bias) {
    bias = zeros({out}, dtype);
    register_parameter("bias", &bias);
  }
}

HeadOutput PooledHead::forward(const Tensor& h, const Tensor& token_mask) const {
  Tensor x = pool(h, token_mask, cfg_.pooling);  // (B, D) or (B, T, D)
  if (is_training()) x = dropout_.forward(x);
  return {linear(x, weight, bias)};  // (B, out) or (B, T, out)
}

namespace {
const config::HeadConfig& require(const config::HeadConfig& cfg, config::HeadType want) {
  if (cfg.type != want) {
    throw ConfigError(fmt::format("head.type: '{}' given to a {} head", config::to_string(cfg.type),
                                  config::to_string(want)));
  }
  return cfg;
}
}  // namespace

ClassifierHead::ClassifierHead(int64_t D, const config::HeadConfig& cfg, DType dtype)
    : PooledHead(D, require(cfg, config::HeadType::Classifier).num_labels, cfg, dtype) {}

RegressionHead::RegressionHead(int64_t D, const config::HeadConfig& cfg, DType dtype)
    : PooledHead(D, require(cfg, config::HeadType::Regression).num_outputs, cfg, dtype) {}

}  // namespace lazarus::heads
