// The next-token loss of causal LMs, as HF computes it (shift inside, -100 ignored, f32).
#pragma once

#include "lazarus/tensor/tensor.h"

namespace lazarus::models {

/// Mean cross-entropy of logits (B, T, V) at position t against labels (B, T) at t + 1; labels of
/// -100 contribute nothing and are not counted (0 when nothing is counted). bf16/f16 logits are
/// upcast to f32. Throws ShapeError on mismatched shapes, IndexError on labels outside [0, V).
Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels);

}  // namespace lazarus::models
