// HF-style initialisation shared by every model: Linear and embedding weights ~ N(0, std^2),
// biases 0, norm scales at their identity (1, or 0 for Gemma's offset RMSNorm).
#pragma once

#include <cstdint>

#include "lazarus/nn/module.h"

namespace lazarus::models {

/// Re-initialises every parameter of `model` in place (requires_grad kept), deterministically
/// from `seed`.
void init_weights(nn::Module& model, double std, uint64_t seed = 0);

}  // namespace lazarus::models
