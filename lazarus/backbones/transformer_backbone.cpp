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
  embed_tokens = register_module("embed_tokens",
                                 std::make_shared<nn::Embedding>(cfg.embedding.vocab_size, D, dtype,
                                                                 cfg.embedding.padding_idx));
  if (cfg.input_position() != config::PositionEmbeddingType::None) {
    embed_positions =
        register_module("embed_positions",
                        std::make_shared<components::AbsolutePositionEmbedding>(
                            cfg.input_position(), cfg.embedding.max_position_embeddings, D, dtype));
  }
  layers = register_module("layers", std::make_shared<nn::ModuleList<blocks::TransformerBlock>>());
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    layers->push_back(std::make_shared<blocks::TransformerBlock>(
        D, cfg.block_for(i), cfg.embedding.max_position_embeddings, dtype));
  }
  norm = register_module("norm", std::make_shared<components::Norm>(D, cfg.final_norm, dtype));
}

std::shared_ptr<components::Cache> TransformerBackbone::make_cache(int64_t batch,
                                                                   int64_t max_length) const {
  if (batch <= 0) throw ShapeError(fmt::format("[make_cache] batch must be > 0, got {}", batch));
  if (max_length <= 0) max_length = cfg_.embedding.max_position_embeddings;
  std::vector<std::shared_ptr<components::LayerCache>> per_layer;
  for (auto& l : *layers) per_layer.push_back(l->make_cache(max_length));
  return std::make_shared<components::Cache>(batch, max_length, std::move(per_layer));
}

BackboneOutput TransformerBackbone::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                            components::Cache* cache,
                                            bool output_hidden_states) const {
  Masks masks =
      resolve_masks("TransformerBackbone", input_ids, attention_mask, cache, layers->size());
  const int64_t T = input_ids.size(1);
  const Tensor& new_mask = masks.fresh;

  Tensor embeds = embed_tokens->forward(input_ids);  // (B, T, D)
  blocks::BlockContext bctx = make_context(masks, input_ids, cache, embeds.dtype());
  const components::AttentionContext& ctx = bctx.attention;
  if (embed_positions) embeds = embeds + embed_positions->forward(ctx.positions, T, embeds.dtype());

  BackboneOutput out;
  Tensor h = embeds;
  for (size_t i = 0; i < layers->size(); ++i) {
    if (output_hidden_states) out.hidden_states.push_back(h);
    components::KVCache* kv =
        cache ? dynamic_cast<components::KVCache*>(&cache->layer(i)) : nullptr;
    if (cache && !kv)
      throw Error(fmt::format("[TransformerBackbone] layer {} cache is not a KVCache", i));
    blocks::BlockOutput bo = (*layers)[i].forward(h, ctx, kv);
    h = bo.hidden_states;
    if (bo.router_logits.defined()) out.router_logits.push_back(bo.router_logits);
  }
  h = norm->forward(h);
  if (output_hidden_states) out.hidden_states.push_back(h);
  out.last_hidden_state = h;
  if (cache) cache->advance(T, new_mask);
  return out;
}

}  // namespace lazarus::backbones
