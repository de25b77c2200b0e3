// Losses with PyTorch's semantics: cross-entropy (ignore index, label smoothing, reductions), the
// causal-LM loss (labels shifted inside, optionally fused with the LM head), MSE. Cross-entropy
// runs one fused log-sum-exp pass per row (ops.h cross_entropy_rows), so it is stable.
#pragma once

#include <cstdint>

#include "lazarus/tensor/ops.h"

namespace lazarus::losses {

enum class Reduction : uint8_t { Mean, Sum, None };

inline constexpr int64_t kIgnoreIndex = -100;

/// F.cross_entropy: logits (N, C) or (..., C), targets integer (N) or (...). Mean is over the
/// targets that are not `ignore_index`; with label smoothing eps the target distribution is
/// (1 - eps) one-hot + eps / C. Throws when a mean has no target left ("no tokens to learn from").
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     int64_t ignore_index = kIgnoreIndex, double label_smoothing = 0.0,
                     Reduction reduction = Reduction::Mean);

/// Causal-LM loss: logits (B, T, V), labels (B, T) (usually the input ids, -100 where ignored);
/// position t predicts labels[t + 1]. Mean over real tokens; bf16/f16 logits are upcast to f32.
/// This is the one next-token loss (models::CausalLM uses it too). Throws ShapeError on shapes
/// other than (B, T >= 2, V) / (B, T), IndexError on a label outside [0, V), and Error when every
/// shifted label is -100 (the batch has no token to learn from).
Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0);

/// The causal-LM loss fused with the LM head: hidden (B, T, D) final hidden states, the head's
/// weight (V, D) and bias (V) or undefined, labels (B, T). Equal to
/// causal_lm_loss(linear(hidden, weight, bias), labels) without the (B, T, V) logits: the head
/// runs in row chunks holding at most `chunk_rows` x V logits at a time (0: up to 64 MB; see
/// ops.h linear_cross_entropy). The loss is computed in f32 whatever the dtypes. Same errors as
/// causal_lm_loss.
Tensor causal_lm_head_loss(const Tensor& hidden, const Tensor& weight, const Tensor& bias,
                           const Tensor& labels, double label_smoothing = 0.0,
                           int64_t chunk_rows = 0);

/// Sequence classification: logits (B, C), labels (B) integer class ids, -100 = ignore. Mean
/// cross-entropy over labelled rows (F.cross_entropy semantics, label smoothing included),
/// computed in f32. Throws ShapeError on other shapes, IndexError on a label outside [0, C), and
/// Error when every label is -100.
Tensor sequence_classification_loss(const Tensor& logits, const Tensor& labels,
                                    double label_smoothing = 0.0);

/// Token classification: logits (B, T, C), labels (B, T) integer, -100 = ignore (give padding
/// tokens -100). Mean cross-entropy over labelled tokens, in f32. Same errors as above.
Tensor token_classification_loss(const Tensor& logits, const Tensor& labels,
                                 double label_smoothing = 0.0);

/// Regression: mean squared error of predictions (B, O) against targets (B, O), or (B) when
/// O == 1 (HF squeezes single-output regression the same way); computed in f32 (integer targets
/// are converted). Throws ShapeError naming both shapes otherwise.
Tensor regression_loss(const Tensor& predictions, const Tensor& targets);

/// Multi-label classification (F.binary_cross_entropy_with_logits, mean over every element):
/// logits (B, C), targets (B, C) in [0, 1] (multi-hot), computed in f32 in the stable form
/// max(x, 0) - x * y + log(1 + exp(-|x|)). Throws ShapeError unless the shapes match.
Tensor multi_label_loss(const Tensor& logits, const Tensor& targets);

/// Mean squared error (or summed / per element).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace lazarus::losses
