// HybridBlock: attention and a Mamba mixer side by side on the same normed input, their outputs
// combined by add, concat (+ projection) or a learned gate, then a pre-norm FFN:
//   n = input_layernorm(x)
//   m = add:    self_attn(n) + mixer(n)
//       concat: mix_proj(cat(self_attn(n), mixer(n)))
//       gate:   g * self_attn(n) + (1 - g) * mixer(n),  g = sigmoid(mix_gate(n))
//   h = x + m;  out = h + mlp(post_attention_layernorm(h))
// (the parallel attention + SSM heads of Hymba-style models). Its cache holds a KV cache and an SSM
// state.
#pragma once

#include <memory>

#include "lazarus/blocks/block.h"
#include "lazarus/components/attention.h"
#include "lazarus/components/ffn.h"
#include "lazarus/components/ssm.h"

namespace lazarus::blocks {

/// The state of one hybrid layer: its attention's keys/values and its mixer's conv + SSM state.
class HybridCache : public components::LayerCache {
 public:
  explicit HybridCache(int64_t max_length) : kv(max_length) {}
  components::KVCache kv;
  components::SSMCache ssm;
};

class HybridBlock : public Block {
 public:
  /// Validates `cfg` (a hybrid block; ConfigError naming the field).
  HybridBlock(int64_t hidden_size, const config::BlockConfig& cfg, int64_t max_position_embeddings,
              DType dtype = DType::F32);
  /// x (B, T, D) -> (B, T, D); reads ctx.attention and ctx.token_mask; `cache` must be a
  /// HybridCache (or null).
  BlockOutput forward(const Tensor& x, const BlockContext& ctx = {},
                      components::LayerCache* cache = nullptr) const override;
  /// A HybridCache.
  std::shared_ptr<components::LayerCache> make_cache(int64_t max_length) const override;
  config::BlockType type() const override { return config::BlockType::Hybrid; }

  std::shared_ptr<components::Norm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<components::Attention> self_attn;
  std::shared_ptr<components::MambaMixer> mixer;
  std::shared_ptr<nn::Linear> mix_proj;  // concat only: (D, 2D)
  std::shared_ptr<nn::Linear> mix_gate;  // gate only: (D, D) + bias
  std::shared_ptr<components::FeedForward> mlp;

 private:
  config::HybridCombine combine_;
};

/// The block a config names (transformer, mamba, hybrid or recurrent).
std::shared_ptr<Block> make_block(int64_t hidden_size, const config::BlockConfig& cfg,
                                  int64_t max_position_embeddings, DType dtype = DType::F32);

}  // namespace lazarus::blocks
