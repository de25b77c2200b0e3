// Mamba backbone (see mamba_backbone.h).
#include "lazarus/backbones/mamba_backbone.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::backbones {

MambaBackbone::MambaBackbone(const config::BackboneConfig& cfg, DType dtype) : Backbone(cfg) {
  cfg.validate("backbone");
  if (cfg.type != config::BackboneType::Mamba) {
    throw ConfigError(fmt::format("backbone.type: MambaBackbone needs 'mamba', got '{}'",
                                  config::to_string(cfg.type)));
  }
  const int64_t D = cfg.hidden_size;
  embeddings = register_module("embeddings",
                               std::make_shared<nn::Embedding>(cfg.embedding.vocab_size, D, dtype,
                                                               cfg.embedding.padding_idx));
  layers = register_module("layers", std::make_shared<nn::ModuleList<blocks::MambaBlock>>());
  for (int64_t i = 0; i < cfg.num_layers; ++i)
    layers->push_back(std::make_shared<blocks::MambaBlock>(D, cfg.block_for(i), dtype));
  norm_f = register_module("norm_f", std::make_shared<components::Norm>(D, cfg.final_norm, dtype));
}

std::shared_ptr<components::Cache> MambaBackbone::make_cache(int64_t batch,
                                                             int64_t max_length) const {
  if (batch <= 0) throw ShapeError(fmt::format("[make_cache] batch must be > 0, got {}", batch));
  // The state does not grow; max_length only bounds what Cache reports.
  if (max_length <= 0) max_length = std::numeric_limits<int64_t>::max();
  std::vector<std::shared_ptr<components::LayerCache>> per_layer;
  for (auto& l : *layers) per_layer.push_back(l->make_cache(max_length));
  return std::make_shared<components::Cache>(batch, max_length, std::move(per_layer));
}

BackboneOutput MambaBackbone::forward(const Tensor& input_ids, const Tensor& attention_mask,
                                      components::Cache* cache, bool output_hidden_states) const {
  Masks masks = resolve_masks("MambaBackbone", input_ids, attention_mask, cache, layers->size());
  const int64_t T = input_ids.size(1);
  // Only a mask with padding changes anything: all-ones is the same as none.
  Tensor token_mask = masks.fresh;
  if (token_mask.defined()) {
    std::vector<int64_t> v = token_mask.contiguous().to_vector<int64_t>();
    if (std::all_of(v.begin(), v.end(), [](int64_t k) { return k != 0; })) token_mask = Tensor();
  }

  BackboneOutput out;
  Tensor h = embeddings->forward(input_ids);  // (B, T, D)
  for (size_t i = 0; i < layers->size(); ++i) {
    components::SSMCache* sc = nullptr;
    if (cache) {
      sc = dynamic_cast<components::SSMCache*>(&cache->layer(i));
      if (!sc) throw Error(fmt::format("[MambaBackbone] layer {} cache is not an SSMCache", i));
    }
    h = (*layers)[i].forward(h, token_mask, sc).hidden_states;
    if (output_hidden_states) out.hidden_states.push_back(h);
  }
  h = norm_f->forward(h);
  if (output_hidden_states) out.hidden_states.push_back(h);
  out.last_hidden_state = h;
  if (cache) cache->advance(T, masks.fresh);
  return out;
}

}  // namespace lazarus::backbones
