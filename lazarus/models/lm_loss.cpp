// Causal-LM loss (see lm_loss.h). Kept here, not in losses/, so models/ does not depend on the
// training layer; the two agree on every input where a loss is defined.
#include "lazarus/models/lm_loss.h"

#include <vector>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::models {

Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels) {
  // logits (B, T, V), labels (B, T)
  if (logits.dim() != 3 || labels.dim() != 2 || labels.size(0) != logits.size(0) ||
      labels.size(1) != logits.size(1)) {
    throw ShapeError(
        fmt::format("[causal_lm_loss] logits {} must be (B, T, V) and labels {} (B, T)",
                    shape_str(logits.shape()), shape_str(labels.shape())));
  }
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  if (T < 2) return scalar_tensor(0.0);
  const int64_t N = B * (T - 1);
  Tensor pred = logits.narrow(1, 0, T - 1).reshape({N, V});  // position t predicts t + 1
  std::vector<int64_t> y =
      labels.narrow(1, 1, T - 1).to(DType::I64).contiguous().to_vector<int64_t>();
  std::vector<int64_t> safe(N);
  std::vector<float> keep(N);
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    bool k = y[i] != -100;
    if (k && (y[i] < 0 || y[i] >= V)) {
      throw IndexError(fmt::format("[causal_lm_loss] label {} out of range for vocab {}", y[i], V));
    }
    safe[i] = k ? y[i] : 0;
    keep[i] = k ? 1.0f : 0.0f;
    count += k;
  }
  Tensor logp = log_softmax(pred.to(DType::F32), -1);                                   // (N, V)
  Tensor picked = gather(logp, 1, from_vector(safe, {N, 1}, DType::I64)).reshape({N});  // (N)
  return sum(neg(picked) * from_vector(keep, {N})) / static_cast<double>(count > 0 ? count : 1);
}

}  // namespace lazarus::models
