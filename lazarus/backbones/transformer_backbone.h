// TransformerBackbone: token embedding, a stack of Transformer blocks, final norm. Names follow HF
// (embed_tokens, layers.N, norm). Turns the attention mask (1 keep / 0 pad) into positions and an
// additive key mask, so each padded row computes what it would alone.
#pragma once

#include <memory>
#include <vector>

#include "lazarus/backbones/backbone.h"
#include "lazarus/blocks/transformer_block.h"
#include "lazarus/components/positions.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::backbones {

class TransformerBackbone : public Backbone {
 public:
  /// Validates `cfg` (ConfigError naming the field).
  explicit TransformerBackbone(const config::BackboneConfig& cfg, DType dtype = DType::F32);

  /// See Backbone::forward. hidden_states: the input of every layer, then the final output.
  BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                         components::Cache* cache = nullptr,
                         bool output_hidden_states = false) const override;

  /// One KVCache per layer for `batch` rows; max_length 0 = max_position_embeddings.
  std::shared_ptr<components::Cache> make_cache(int64_t batch,
                                                int64_t max_length = 0) const override;
  Tensor* input_embedding_weight() override { return &embed_tokens->weight; }

  std::shared_ptr<nn::Embedding> embed_tokens;
  /// Learned or sinusoidal positions added to the token embeddings (null for rope / alibi / none).
  std::shared_ptr<components::AbsolutePositionEmbedding> embed_positions;
  std::shared_ptr<nn::ModuleList<blocks::TransformerBlock>> layers;
  std::shared_ptr<components::Norm> norm;
};

}  // namespace lazarus::backbones
