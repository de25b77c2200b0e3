// Backbone helpers and factory (see backbone.h).
#include "lazarus/backbones/backbone.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/backbones/hybrid_backbone.h"
#include "lazarus/backbones/mamba_backbone.h"
#include "lazarus/backbones/recurrent_backbone.h"
#include "lazarus/backbones/transformer_backbone.h"
#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::backbones {

Backbone::Masks Backbone::resolve_masks(const char* who, const Tensor& input_ids,
                                        const Tensor& attention_mask,
                                        const components::Cache* cache, size_t num_layers) const {
  if (input_ids.dim() != 2) {
    throw ShapeError(
        fmt::format("[{}] input_ids must be (B, T), got {}", who, shape_str(input_ids.shape())));
  }
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0, Tk = past + T;
  if (cache && cache->batch() != B) {
    throw ShapeError(
        fmt::format("[{}] cache holds batch {}, input_ids has {}", who, cache->batch(), B));
  }
  if (cache && cache->num_layers() != num_layers) {
    throw ShapeError(
        fmt::format("[{}] cache has {} layers, model {}", who, cache->num_layers(), num_layers));
  }
  Masks m;
  if (attention_mask.defined()) {
    if (attention_mask.dim() != 2 || attention_mask.size(0) != B ||
        (attention_mask.size(1) != T && attention_mask.size(1) != Tk)) {
      throw ShapeError(fmt::format(
          "[{}] attention_mask {} must be (B, T) = ({}, {}) or (B, past + T) = ({}, {})", who,
          shape_str(attention_mask.shape()), B, T, B, Tk));
    }
    Tensor a = attention_mask.to(DType::I64);
    if (a.size(1) == Tk) {
      m.full = a;
      m.fresh = a.narrow(1, past, T);
    } else {
      m.fresh = a;
      Tensor prev = cache && cache->attention_mask().defined() ? cache->attention_mask()
                                                               : ones({B, past}, DType::I64);
      m.full = past ? cat({prev, a}, 1) : a;
    }
  } else if (cache && cache->attention_mask().defined()) {
    m.full = cat({cache->attention_mask(), ones({B, T}, DType::I64)}, 1);
  }
  return m;
}

blocks::BlockContext Backbone::make_context(const Masks& masks, const Tensor& input_ids,
                                            const components::Cache* cache, DType dtype) const {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0, Tk = past + T;
  blocks::BlockContext bctx;
  components::AttentionContext& ctx = bctx.attention;
  ctx.positions.offset = past;
  ctx.positions.max_position_plus_one = Tk;
  std::vector<int64_t> km =
      masks.full.defined() ? masks.full.contiguous().to_vector<int64_t>() : std::vector<int64_t>{};
  bool padded = std::any_of(km.begin(), km.end(), [](int64_t v) { return v == 0; });
  if (!padded) return bctx;
  // Position of a token = number of kept tokens before it in its row (HF generate's rule).
  std::vector<int64_t> pos(B * T), kpos(B * Tk);
  int64_t max_pos = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t seen = 0;
    for (int64_t j = 0; j < Tk; ++j) {
      int64_t keep = km[b * Tk + j] != 0;
      kpos[b * Tk + j] = std::max<int64_t>(seen + keep - 1, 0);
      if (j >= past) pos[b * T + (j - past)] = kpos[b * Tk + j];
      seen += keep;
    }
    max_pos = std::max(max_pos, seen);
  }
  ctx.positions.position_ids = from_vector(pos, {B, T}, DType::I64);
  ctx.key_positions = from_vector(kpos, {B, Tk}, DType::I64);
  ctx.positions.max_position_plus_one = std::max<int64_t>(max_pos, 1);
  // A finite large negative (not -inf) keeps fully padded query rows free of NaN.
  const double neg = dtype == DType::F16 ? -65504.0 : -1e30;
  std::vector<float> add(B * Tk);
  for (int64_t i = 0; i < B * Tk; ++i) add[i] = km[i] ? 0.0f : static_cast<float>(neg);
  ctx.key_padding_mask = from_vector(add, {B, 1, 1, Tk});  // broadcast over heads and queries
  bctx.token_mask = masks.fresh;
  return bctx;
}

std::shared_ptr<Backbone> make_backbone(const config::BackboneConfig& cfg, DType dtype) {
  switch (cfg.type) {
    case config::BackboneType::Transformer:
      return std::make_shared<TransformerBackbone>(cfg, dtype);
    case config::BackboneType::Mamba:
      return std::make_shared<MambaBackbone>(cfg, dtype);
    case config::BackboneType::Hybrid:
      return std::make_shared<HybridBackbone>(cfg, dtype);
    case config::BackboneType::Recurrent:
      return std::make_shared<RecurrentBackbone>(cfg, dtype);
    default:
      cfg.validate("backbone");  // names the unsupported type
      throw ConfigError(
          fmt::format("backbone.type: '{}' has no builder", config::to_string(cfg.type)));
  }
}

const char* checkpoint_prefix(config::BackboneType type) {
  return type == config::BackboneType::Mamba ? "backbone" : "model";
}

}  // namespace lazarus::backbones
