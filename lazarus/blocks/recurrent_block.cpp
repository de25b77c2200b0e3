// Recurrent block (see recurrent_block.h).
#include "lazarus/blocks/recurrent_block.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::blocks {

RecurrentBlock::RecurrentBlock(int64_t D, const config::BlockConfig& cfg, DType dtype) {
  if (cfg.type != config::BlockType::Recurrent) {
    throw ConfigError(fmt::format("block.type: RecurrentBlock needs 'recurrent', got '{}'",
                                  config::to_string(cfg.type)));
  }
  cfg.validate(D, "block");
  norm = register_module("norm", std::make_shared<components::Norm>(D, cfg.norm, dtype));
  rnn =
      register_module("rnn", std::make_shared<components::RecurrentLayer>(D, cfg.recurrent, dtype));
}

BlockOutput RecurrentBlock::forward(const Tensor& x, const BlockContext& ctx,
                                    components::LayerCache* cache) const {
  auto* rc = dynamic_cast<components::RecurrentCache*>(cache);
  if (cache && !rc) throw Error("[RecurrentBlock] this layer's cache is not a RecurrentCache");
  // x (B, T, D)
  return {x + rnn->forward(norm->forward(x), ctx.token_mask, rc), Tensor()};
}

std::shared_ptr<components::LayerCache> RecurrentBlock::make_cache(int64_t) const {
  return std::make_shared<components::RecurrentCache>();
}

}  // namespace lazarus::blocks
