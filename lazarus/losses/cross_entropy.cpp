// Cross-entropy (see cross_entropy.h).
#include "lazarus/losses/cross_entropy.h"

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::losses {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  // logits (N, V), targets (N)
  if (logits.dim() != 2 || targets.dim() != 1 || targets.size(0) != logits.size(0)) {
    throw ShapeError(fmt::format("[cross_entropy] logits {} must be (N, V) and targets {} (N)",
                                 shape_str(logits.shape()), shape_str(targets.shape())));
  }
  const int64_t N = logits.size(0), V = logits.size(1);
  std::vector<int64_t> t = targets.contiguous().to_vector<int64_t>();
  std::vector<int64_t> safe(N);
  std::vector<float> keep(N);
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    bool k = t[i] != ignore_index;
    if (k && (t[i] < 0 || t[i] >= V)) {
      throw IndexError(fmt::format("[cross_entropy] target {} at {} out of range for {} classes", t[i], i, V));
    }
    safe[i] = k ? t[i] : 0;
    keep[i] = k ? 1.0f : 0.0f;
    count += k;
  }
  Tensor logp = log_softmax(logits.to(DType::F32), -1);                                  // (N, V)
  Tensor picked = gather(logp, 1, from_vector(safe, {N, 1}, DType::I64)).reshape({N});  // (N)
  Tensor nll = neg(picked) * from_vector(keep, {N});
  return sum(nll) / static_cast<double>(count > 0 ? count : 1);
}

Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels, int64_t ignore_index) {
  // logits (B, T, V), labels (B, T)
  if (logits.dim() != 3 || labels.dim() != 2 || labels.size(0) != logits.size(0) || labels.size(1) != logits.size(1)) {
    throw ShapeError(fmt::format("[causal_lm_loss] logits {} must be (B, T, V) and labels {} (B, T)",
                                 shape_str(logits.shape()), shape_str(labels.shape())));
  }
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  if (T < 2) return scalar_tensor(0.0);
  Tensor l = logits.narrow(1, 0, T - 1).reshape({B * (T - 1), V});  // predictions for t+1
  Tensor y = labels.narrow(1, 1, T - 1).reshape({B * (T - 1)});
  return cross_entropy(l, y, ignore_index);
}

}  // namespace lazarus::losses
