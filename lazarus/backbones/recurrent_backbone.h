// RecurrentBackbone: token embedding, a stack of recurrent blocks (LSTM / GRU / minGRU, each
// pre-norm with a residual), final norm. Names: model.embed_tokens, model.layers.N (norm, rnn),
// model.norm. No positions: order comes from the recurrence; the state has a fixed size, so the
// context is unbounded and decoding costs O(1) per token. Padding (1 keep / 0 pad) leaves every
// layer's state unchanged, so left- and right-padded rows compute what they compute alone.
#pragma once

#include <memory>

#include "lazarus/backbones/backbone.h"
#include "lazarus/blocks/recurrent_block.h"
#include "lazarus/nn/layers.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::backbones {

class RecurrentBackbone : public Backbone {
 public:
  /// Validates `cfg` (type recurrent; ConfigError naming the field).
  explicit RecurrentBackbone(const config::BackboneConfig& cfg, DType dtype = DType::F32);

  /// See Backbone::forward. hidden_states: the input of every layer (entry 0 the embedding
  /// output), then the final normed output (L + 1 entries).
  BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                         components::Cache* cache = nullptr,
                         bool output_hidden_states = false) const override;
  /// One RecurrentCache per layer (fixed size whatever the length).
  std::shared_ptr<components::Cache> make_cache(int64_t batch,
                                                int64_t max_length = 0) const override;
  Tensor* input_embedding_weight() override { return &embed_tokens->weight; }

  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<nn::ModuleList<blocks::RecurrentBlock>> layers;
  std::shared_ptr<components::Norm> norm;
};

}  // namespace lazarus::backbones
