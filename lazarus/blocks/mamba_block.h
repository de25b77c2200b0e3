// MambaBlock (HF MambaBlock): out = residual + mixer(norm(x)), pre-norm RMSNorm. Children are named
// as in HF Mamba checkpoints: norm, mixer.
#pragma once

#include <memory>

#include "lazarus/blocks/block.h"
#include "lazarus/components/ffn.h"
#include "lazarus/components/ssm.h"

namespace lazarus::blocks {

class MambaBlock : public Block {
 public:
  /// Validates `cfg` (a mamba block; ConfigError naming the field).
  MambaBlock(int64_t hidden_size, const config::BlockConfig& cfg, DType dtype = DType::F32);
  /// x (B, T, D) -> (B, T, D); reads ctx.token_mask (B, T) or undefined; `cache` must be an
  /// SSMCache (or null). With residual_in_fp32 the residual sum (and the output) is f32.
  BlockOutput forward(const Tensor& x, const BlockContext& ctx = {},
                      components::LayerCache* cache = nullptr) const override;
  /// An SSMCache (conv + SSM state; max_length does not matter: the state has a fixed size).
  std::shared_ptr<components::LayerCache> make_cache(int64_t max_length) const override;
  config::BlockType type() const override { return config::BlockType::Mamba; }

  std::shared_ptr<components::Norm> norm;
  std::shared_ptr<components::MambaMixer> mixer;

 private:
  bool residual_in_fp32_;
};

}  // namespace lazarus::blocks
