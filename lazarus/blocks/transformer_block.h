// TransformerBlock (pre-norm): h = x + attn(norm(x)); out = h + ffn(norm(h)). Children are named
// as in HF Llama checkpoints: input_layernorm, self_attn, post_attention_layernorm, mlp.
#pragma once

#include <memory>

#include "lazarus/blocks/block.h"
#include "lazarus/components/attention.h"
#include "lazarus/components/ffn.h"

namespace lazarus::blocks {

class TransformerBlock : public Block {
 public:
  TransformerBlock(int64_t hidden_size, const config::BlockConfig& cfg,
                   int64_t max_position_embeddings, DType dtype = DType::F32);
  /// x (B, T, D) -> BlockOutput{(B, T, D)}; reads ctx.attention; `cache` must be a KVCache (or
  /// null).
  BlockOutput forward(const Tensor& x, const BlockContext& ctx = {},
                      components::LayerCache* cache = nullptr) const override;
  /// The per-layer cache this block needs (a KVCache).
  std::shared_ptr<components::LayerCache> make_cache(int64_t max_length) const override;
  config::BlockType type() const override { return config::BlockType::Transformer; }

  std::shared_ptr<components::Norm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<components::Attention> self_attn;
  std::shared_ptr<components::FeedForward> mlp;
};

}  // namespace lazarus::blocks
