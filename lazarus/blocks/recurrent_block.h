// RecurrentBlock: out = x + rnn(norm(x)), pre-norm with a residual, the recurrent layer an LSTM,
// GRU or minGRU (components/recurrent.h). Children: norm, rnn (+ rnn.out_proj when the state width
// differs from the model width). Its cache is the layer's recurrent state (O(1) per token).
#pragma once

#include <memory>

#include "lazarus/blocks/block.h"
#include "lazarus/components/ffn.h"
#include "lazarus/components/recurrent.h"

namespace lazarus::blocks {

class RecurrentBlock : public Block {
 public:
  /// Validates `cfg` (a recurrent block; ConfigError naming the field).
  RecurrentBlock(int64_t hidden_size, const config::BlockConfig& cfg, DType dtype = DType::F32);
  /// x (B, T, D) -> (B, T, D); reads ctx.token_mask (B, T) or undefined (padded steps keep the
  /// state); `cache` must be a RecurrentCache (or null).
  BlockOutput forward(const Tensor& x, const BlockContext& ctx = {},
                      components::LayerCache* cache = nullptr) const override;
  /// A RecurrentCache (fixed size whatever the length).
  std::shared_ptr<components::LayerCache> make_cache(int64_t max_length) const override;
  config::BlockType type() const override { return config::BlockType::Recurrent; }

  std::shared_ptr<components::Norm> norm;
  std::shared_ptr<components::RecurrentLayer> rnn;
};

}  // namespace lazarus::blocks
