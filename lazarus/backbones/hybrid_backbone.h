// HybridBackbone: token embedding, a stack of any mix of transformer, mamba and hybrid blocks,
// final norm — the layer pattern is data in BackboneConfig (layout alternating / interleaved at a
// ratio / parallel, plus per-layer block overrides). Names as HF's hybrid models (Jamba):
// model.embed_tokens, model.layers.N (each with its block's own child names), model.norm.
#pragma once

#include <memory>

#include "lazarus/backbones/backbone.h"
#include "lazarus/blocks/block.h"
#include "lazarus/components/ffn.h"
#include "lazarus/components/positions.h"
#include "lazarus/nn/layers.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::backbones {

class HybridBackbone : public Backbone {
 public:
  /// Validates `cfg` (type hybrid; ConfigError naming the field).
  explicit HybridBackbone(const config::BackboneConfig& cfg, DType dtype = DType::F32);

  /// See Backbone::forward. hidden_states: the input of every layer, then the final output.
  BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                         components::Cache* cache = nullptr,
                         bool output_hidden_states = false) const override;
  /// One state per layer of the kind its block needs (KV, SSM, or both for hybrid blocks).
  std::shared_ptr<components::Cache> make_cache(int64_t batch,
                                                int64_t max_length = 0) const override;
  Tensor* input_embedding_weight() override { return &embed_tokens->weight; }

  std::shared_ptr<nn::Embedding> embed_tokens;
  /// Learned or sinusoidal positions added to the token embeddings (null for rope / alibi / none).
  std::shared_ptr<components::AbsolutePositionEmbedding> embed_positions;
  std::shared_ptr<nn::ModuleList<blocks::Block>> layers;
  std::shared_ptr<components::Norm> norm;
};

}  // namespace lazarus::backbones
