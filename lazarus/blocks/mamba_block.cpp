// Mamba block (see mamba_block.h).
#include "lazarus/blocks/mamba_block.h"

#include "lazarus/core/error.h"

namespace lazarus::blocks {

MambaBlock::MambaBlock(int64_t D, const config::BlockConfig& cfg, DType dtype)
    : residual_in_fp32_(cfg.residual_in_fp32) {
  if (cfg.type != config::BlockType::Mamba) {
    throw ConfigError(
        fmt::format("block.type: MambaBlock needs 'mamba', got '{}'", config::to_string(cfg.type)));
  }
  cfg.validate(D, "block");
  norm = register_module("norm", std::make_shared<components::Norm>(D, cfg.norm, dtype));
  mixer = register_module("mixer", std::make_shared<components::MambaMixer>(D, cfg.ssm, dtype));
}

BlockOutput MambaBlock::forward(const Tensor& x, const BlockContext& ctx,
                                components::LayerCache* cache) const {
  auto* ssm = dynamic_cast<components::SSMCache*>(cache);
  if (cache && !ssm) throw Error("[MambaBlock] this layer's cache is not an SSMCache");
  // x (B, T, D); the residual stream may be f32 while the mixer runs in the weights' dtype.
  Tensor residual = residual_in_fp32_ ? x.to(DType::F32) : x;
  Tensor h = x.dtype() == norm->weight.dtype() ? x : x.to(norm->weight.dtype());
  h = mixer->forward(norm->forward(h), ctx.token_mask, ssm);  // (B, T, D)
  return {residual + h, Tensor()};
}

std::shared_ptr<components::LayerCache> MambaBlock::make_cache(int64_t) const {
  return std::make_shared<components::SSMCache>();
}

}  // namespace lazarus::blocks
