// Cross-entropy losses for language models.
#pragma once

#include "lazarus/tensor/tensor.h"

namespace lazarus::losses {

constexpr int64_t kIgnoreIndex = -100;

/// Mean cross-entropy of logits (N, V) against integer targets (N); targets equal to
/// `ignore_index` contribute nothing and are not counted (0 when every target is ignored).
/// Computed in f32 (bf16/f16 logits are upcast). Throws ShapeError / IndexError on bad input.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = kIgnoreIndex);

/// Next-token loss as HF causal LMs: logits (B, T, V) at position t predict labels (B, T) at t + 1.
Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels, int64_t ignore_index = kIgnoreIndex);

}  // namespace lazarus::losses
