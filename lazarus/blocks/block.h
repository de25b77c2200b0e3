// The block interface every layer type implements (transformer, mamba, ...), so a backbone can
// stack any mix of them and give each its own kind of per-layer cache.
#pragma once

#include <memory>

#include "lazarus/components/attention.h"
#include "lazarus/config/model_config.h"
#include "lazarus/nn/module.h"

namespace lazarus::blocks {

/// What one block returns.
struct BlockOutput {
  Tensor hidden_states;  // (B, T, D)
  /// A mixture-of-experts FFN's router logits (B * T, E); undefined for dense blocks.
  Tensor router_logits;
};

/// What every layer of one forward call shares.
struct BlockContext {
  /// Positions and the additive key-padding mask (attention layers).
  components::AttentionContext attention;
  /// (B, T) 1 = keep / 0 = padding for the new tokens, or undefined (all kept) (SSM layers).
  Tensor token_mask;
};

class Block : public nn::Module {
 public:
  /// x (B, T, D) -> BlockOutput{(B, T, D)}. `ctx` is what every layer of the call shares;
  /// `cache` is this layer's state (the kind make_cache returns) or null. Throws Error when
  /// handed another kind of cache.
  virtual BlockOutput forward(const Tensor& x, const BlockContext& ctx = {},
                              components::LayerCache* cache = nullptr) const = 0;
  /// The per-layer state this block keeps between calls (KV cache, SSM state, ...).
  virtual std::shared_ptr<components::LayerCache> make_cache(int64_t max_length) const = 0;
  virtual config::BlockType type() const = 0;
};

}  // namespace lazarus::blocks
