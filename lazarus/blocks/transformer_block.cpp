// Pre-norm Transformer block (see transformer_block.h).
#include "lazarus/blocks/transformer_block.h"

#include "lazarus/core/error.h"

namespace lazarus::blocks {

TransformerBlock::TransformerBlock(int64_t D, const config::BlockConfig& cfg, int64_t max_pos,
                                   DType dtype) {
  cfg.validate(D, "block");
  input_layernorm =
      register_module("input_layernorm", std::make_shared<components::Norm>(D, cfg.norm, dtype));
  self_attn = register_module(
      "self_attn", std::make_shared<components::Attention>(D, cfg.attention, max_pos, dtype));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", std::make_shared<components::Norm>(D, cfg.norm, dtype));
  mlp = register_module("mlp", std::make_shared<components::FeedForward>(D, cfg.ffn, dtype));
}

BlockOutput TransformerBlock::forward(const Tensor& x, const BlockContext& ctx,
                                      components::LayerCache* cache) const {
  auto* kv = dynamic_cast<components::KVCache*>(cache);
  if (cache && !kv) throw Error("[TransformerBlock] this layer's cache is not a KVCache");
  // x (B, T, D)
  Tensor h = x + self_attn->forward(input_layernorm->forward(x), ctx.attention, kv);  // (B, T, D)
  Tensor router_logits;
  Tensor out = h + mlp->forward(post_attention_layernorm->forward(h), &router_logits);
  return {out, router_logits};
}

std::shared_ptr<components::LayerCache> TransformerBlock::make_cache(int64_t max_length) const {
  return std::make_shared<components::KVCache>(max_length);
}

}  // namespace lazarus::blocks
