// Transformer backbone (see transformer_backbone.h).
#include "lazarus/backbones/transformer_backbone.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::backbones {

TransformerBackbone::TransformerBackbone(const config::BackboneConfig& cfg, DType dtype)
    : Backbone(cfg) {
  cfg.validate("backbone");
  const int64_t D = cfg.hidden_size;
  embed_tokens =
      register_module("embed_tokens", std::make_shared<nn::Embedding>(cfg.vocab_size, D, dtype));
  layers = register_module("layers", std::make_shared<nn::ModuleList<blocks::TransformerBlock>>());
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    layers->push_back(std::make_shared<blocks::TransformerBlock>(
        D, cfg.block_for(i), cfg.max_position_embeddings, dtype));
  }
  norm = register_module("norm", std::make_shared<components::Norm>(D, cfg.final_norm, dtype));
}

std::shared_ptr<components::Cache> TransformerBackbone::make_cache(int64_t batch,
                                                                   int64_t max_length) const {
  if (batch <= 0) throw ShapeError(fmt::format("[make_cache] batch must be > 0, got {}", batch));
  if (max_length <= 0) max_length = cfg_.max_position_embeddings;
  std::vector<std::shared_ptr<components::LayerCache>> per_layer;
  for (auto& l : *layers) per_layer.push_back(l->make_cache(max_length));
  return std::make_shared<components::Cache>(batch, max_length, std::move(per_layer));
}

BackboneOutput TransformerBackbone::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                            components::Cache* cache,
                                            bool output_hidden_states) const {
  Masks masks =
      resolve_masks("TransformerBackbone", input_ids, attention_mask, cache, layers->size());
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0, Tk = past + T;
  const Tensor &full_mask = masks.full, &new_mask = masks.fresh;

  components::AttentionContext ctx;
  ctx.positions.offset = past;
  ctx.positions.max_position_plus_one = Tk;
  std::vector<int64_t> km =
      full_mask.defined() ? full_mask.contiguous().to_vector<int64_t>() : std::vector<int64_t>{};
  bool padded = std::any_of(km.begin(), km.end(), [](int64_t v) { return v == 0; });
  Tensor embeds = embed_tokens->forward(input_ids);  // (B, T, D)
  if (padded) {
    // Position of a token = number of kept tokens before it in its row (HF generate's rule).
    std::vector<int64_t> pos(B * T), additive(B * Tk);
    int64_t max_pos = 0;
    for (int64_t b = 0; b < B; ++b) {
      int64_t seen = 0;
      for (int64_t j = 0; j < Tk; ++j) {
        int64_t keep = km[b * Tk + j] != 0;
        if (j >= past) pos[b * T + (j - past)] = std::max<int64_t>(seen + keep - 1, 0);
        seen += keep;
      }
      max_pos = std::max(max_pos, seen);
    }
    ctx.positions.position_ids = from_vector(pos, {B, T}, DType::I64);
    ctx.positions.max_position_plus_one = std::max<int64_t>(max_pos, 1);
    // A finite large negative (not -inf) keeps fully padded query rows free of NaN.
    const double neg = embeds.dtype() == DType::F16 ? -65504.0 : -1e30;
    std::vector<float> add(B * Tk);
    for (int64_t i = 0; i < B * Tk; ++i) add[i] = km[i] ? 0.0f : static_cast<float>(neg);
    ctx.key_padding_mask = from_vector(add, {B, 1, 1, Tk});  // broadcast over heads and queries
  }

  BackboneOutput out;
  Tensor h = embeds;
  for (size_t i = 0; i < layers->size(); ++i) {
    if (output_hidden_states) out.hidden_states.push_back(h);
    components::KVCache* kv =
        cache ? dynamic_cast<components::KVCache*>(&cache->layer(i)) : nullptr;
    if (cache && !kv)
      throw Error(fmt::format("[TransformerBackbone] layer {} cache is not a KVCache", i));
    h = (*layers)[i].forward(h, ctx, kv).hidden_states;
  }
  h = norm->forward(h);
  if (output_hidden_states) out.hidden_states.push_back(h);
  out.last_hidden_state = h;
  if (cache) cache->advance(T, new_mask);
  return out;
}

}  // namespace lazarus::backbones
