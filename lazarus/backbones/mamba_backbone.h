// MambaBackbone (HF MambaModel): token embedding, a stack of Mamba blocks, final RMSNorm. Names
// follow HF Mamba checkpoints: embeddings, layers.N, norm_f. Padding (1 keep / 0 pad) zeroes the
// padded positions inside each mixer, so a left-padded row computes what it computes alone.
#pragma once

#include <memory>

#include "lazarus/backbones/backbone.h"
#include "lazarus/blocks/mamba_block.h"
#include "lazarus/nn/layers.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::backbones {

class MambaBackbone : public Backbone {
 public:
  /// Validates `cfg` (type mamba; ConfigError naming the field).
  explicit MambaBackbone(const config::BackboneConfig& cfg, DType dtype = DType::F32);

  /// See Backbone::forward. hidden_states as HF MambaModel: the output of every layer, then the
  /// final normed output (L + 1 entries).
  BackboneOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                         components::Cache* cache = nullptr,
                         bool output_hidden_states = false) const override;
  /// One SSMCache per layer (conv + SSM state, fixed size whatever the length).
  std::shared_ptr<components::Cache> make_cache(int64_t batch,
                                                int64_t max_length = 0) const override;
  Tensor* input_embedding_weight() override { return &embeddings->weight; }

  std::shared_ptr<nn::Embedding> embeddings;
  std::shared_ptr<nn::ModuleList<blocks::MambaBlock>> layers;
  std::shared_ptr<components::Norm> norm_f;
};

}  // namespace lazarus::backbones
