// Recurrent backbone (see recurrent_backbone.h).
#include "lazarus/backbones/recurrent_backbone.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::backbones {

RecurrentBackbone::RecurrentBackbone(const config::BackboneConfig& cfg, DType dtype)
    : Backbone(cfg) {
  cfg.validate("backbone");
  if (cfg.type != config::BackboneType::Recurrent) {
    throw ConfigError(fmt::format("backbone.type: RecurrentBackbone needs 'recurrent', got '{}'",
                                  config::to_string(cfg.type)));
  }
  const int64_t D = cfg.hidden_size;
  embed_tokens = register_module("embed_tokens",
                                 std::make_shared<nn::Embedding>(cfg.embedding.vocab_size, D, dtype,
                                                                 cfg.embedding.padding_idx));
  layers = register_module("layers", std::make_shared<nn::ModuleList<blocks::RecurrentBlock>>());
  for (int64_t i = 0; i < cfg.num_layers; ++i)
    layers->push_back(std::make_shared<blocks::RecurrentBlock>(D, cfg.block_for(i), dtype));
  norm = register_module("norm", std::make_shared<components::Norm>(D, cfg.final_norm, dtype));
}

std::shared_ptr<components::Cache> RecurrentBackbone::make_cache(int64_t batch,
                                                                 int64_t max_length) const {
  if (batch <= 0) throw ShapeError(fmt::format("[make_cache] batch must be > 0, got {}", batch));
  // The state does not grow; max_length only bounds what Cache reports.
  if (max_length <= 0) max_length = std::numeric_limits<int64_t>::max();
  std::vector<std::shared_ptr<components::LayerCache>> per_layer;
  for (auto& l : *layers) per_layer.push_back(l->make_cache(max_length));
  return std::make_shared<components::Cache>(batch, max_length, std::move(per_layer));
}

BackboneOutput RecurrentBackbone::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                          components::Cache* cache,
                                          bool output_hidden_states) const {
  Masks masks =
      resolve_masks("RecurrentBackbone", input_ids, attention_mask, cache, layers->size());
  const int64_t T = input_ids.size(1);
  // Only a mask with padding among the new tokens changes anything.
  Tensor token_mask = masks.fresh;
  if (token_mask.defined()) {
    std::vector<int64_t> v = token_mask.contiguous().to_vector<int64_t>();
    if (std::all_of(v.begin(), v.end(), [](int64_t k) { return k != 0; })) token_mask = Tensor();
  }
  BackboneOutput out;
  Tensor h = embed_tokens->forward(input_ids);  // (B, T, D)
  for (size_t i = 0; i < layers->size(); ++i) {
    if (output_hidden_states) out.hidden_states.push_back(h);
    components::RecurrentCache* rc = nullptr;
    if (cache) {
      rc = dynamic_cast<components::RecurrentCache*>(&cache->layer(i));
      if (!rc)
        throw Error(fmt::format("[RecurrentBackbone] layer {} cache is not a RecurrentCache", i));
    }
    h = (*layers)[i].forward(h, token_mask, rc).hidden_states;
  }
  h = norm->forward(h);
  if (output_hidden_states) out.hidden_states.push_back(h);
  out.last_hidden_state = h;
  if (cache) cache->advance(T, masks.fresh);
  return out;
}

}  // namespace lazarus::backbones
