// Hybrid (attention + SSM) block and the block factory (see hybrid_block.h).
#include "lazarus/blocks/hybrid_block.h"

#include <fmt/format.h>

#include "lazarus/blocks/mamba_block.h"
#include "lazarus/blocks/recurrent_block.h"
#include "lazarus/blocks/transformer_block.h"
#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::blocks {

using config::HybridCombine;

HybridBlock::HybridBlock(int64_t D, const config::BlockConfig& cfg, int64_t max_pos, DType dtype)
    : combine_(cfg.combine) {
  if (cfg.type != config::BlockType::Hybrid) {
    throw ConfigError(fmt::format("block.type: HybridBlock needs 'hybrid', got '{}'",
                                  config::to_string(cfg.type)));
  }
  cfg.validate(D, "block");
  input_layernorm =
      register_module("input_layernorm", std::make_shared<components::Norm>(D, cfg.norm, dtype));
  self_attn = register_module(
      "self_attn", std::make_shared<components::Attention>(D, cfg.attention, max_pos, dtype));
  mixer = register_module("mixer", std::make_shared<components::MambaMixer>(D, cfg.ssm, dtype));
  if (combine_ == HybridCombine::Concat)
    mix_proj = register_module("mix_proj", std::make_shared<nn::Linear>(2 * D, D, false, dtype));
  if (combine_ == HybridCombine::Gate)
    mix_gate = register_module("mix_gate", std::make_shared<nn::Linear>(D, D, true, dtype));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", std::make_shared<components::Norm>(D, cfg.norm, dtype));
  mlp = register_module("mlp", std::make_shared<components::FeedForward>(D, cfg.ffn, dtype));
}

BlockOutput HybridBlock::forward(const Tensor& x, const BlockContext& ctx,
                                 components::LayerCache* cache) const {
  auto* hc = dynamic_cast<HybridCache*>(cache);
  if (cache && !hc) throw Error("[HybridBlock] this layer's cache is not a HybridCache");
  // x (B, T, D)
  Tensor n = input_layernorm->forward(x);
  Tensor a = self_attn->forward(n, ctx.attention, hc ? &hc->kv : nullptr);  // (B, T, D)
  Tensor s = mixer->forward(n, ctx.token_mask, hc ? &hc->ssm : nullptr);    // (B, T, D)
  Tensor m;
  switch (combine_) {
    case HybridCombine::Add:
      m = a + s;
      break;
    case HybridCombine::Concat:
      m = mix_proj->forward(cat({a, s}, -1));  // (B, T, 2D) -> (B, T, D)
      break;
    case HybridCombine::Gate: {
      Tensor g = sigmoid(mix_gate->forward(n));  // (B, T, D)
      m = g * a + (1.0 - g) * s;
      break;
    }
  }
  Tensor h = x + m;
  Tensor router_logits;
  Tensor out = h + mlp->forward(post_attention_layernorm->forward(h), &router_logits);
  return {out, router_logits};
}

std::shared_ptr<components::LayerCache> HybridBlock::make_cache(int64_t max_length) const {
  return std::make_shared<HybridCache>(max_length);
}

std::shared_ptr<Block> make_block(int64_t D, const config::BlockConfig& cfg, int64_t max_pos,
                                  DType dtype) {
  switch (cfg.type) {
    case config::BlockType::Transformer:
      return std::make_shared<TransformerBlock>(D, cfg, max_pos, dtype);
    case config::BlockType::Mamba:
      return std::make_shared<MambaBlock>(D, cfg, dtype);
    case config::BlockType::Hybrid:
      return std::make_shared<HybridBlock>(D, cfg, max_pos, dtype);
    case config::BlockType::Recurrent:
      return std::make_shared<RecurrentBlock>(D, cfg, dtype);
    default:
      cfg.validate(D, "block");  // names the unsupported type
      throw ConfigError(
          fmt::format("block.type: '{}' has no builder", config::to_string(cfg.type)));
  }
}

}  // namespace lazarus::blocks
