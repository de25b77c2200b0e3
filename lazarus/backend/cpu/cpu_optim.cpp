// CPU optimizer kernels: the AdamW update in one pass over param, grad and the two moments (the
// composed form reads and writes each of them several times and allocates a temporary per op),
// and a sum of squares for global-norm clipping. Both are bound by memory bandwidth.
#include <cmath>
#include <vector>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/parallel.h"

namespace lazarus::cpu {

namespace {

// The math of training::AdamW in the order its composed form used (Loshchilov & Hutter, with
// PyTorch's bias corrections):
//   p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps)
template <class V>
void adamw_kernel(V* p, const V* g, V* m, V* v, int64_t n, const AdamWStep& s) {
  const V decay = V(1.0 - s.lr * s.weight_decay);
  const V b1 = V(s.beta1), one_b1 = V(1.0 - s.beta1);
  const V b2 = V(s.beta2), one_b2 = V(1.0 - s.beta2);
  const V sqrt_c2 = V(std::sqrt(s.bias_correction2)), eps = V(s.eps);
  const V step = V(s.lr / s.bias_correction1);
  const bool decays = s.weight_decay != 0;
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      V pi = decays ? p[i] * decay : p[i];
      V gi = g[i];
      V mi = m[i] * b1 + gi * one_b1;
      V vi = v[i] * b2 + gi * gi * one_b2;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi - mi / (std::sqrt(vi) / sqrt_c2 + eps) * step;
    }
  });
}

// Fixed blocks, each summed in f64, then the block sums in order: the result does not depend on
// how many threads ran.
template <class V>
double sum_squares_kernel(const V* x, int64_t n) {
  constexpr int64_t kBlock = 1 << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(blocks), 0.0);
  parallel_for(blocks, 4, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t lo = k * kBlock, hi = std::min(n, lo + kBlock);
      double acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = lo; i < hi; ++i) acc += double(x[i]) * double(x[i]);
      part[size_t(k)] = acc;
    }
  });
  double total = 0;
  for (double v : part) total += v;
  return total;
}

}  // namespace

void CpuBackend::adamw_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                              const Tensor& exp_avg_sq, const AdamWStep& step) {
  if (param.dtype() == DType::F64) {
    adamw_kernel<double>(param.data<double>(), grad.data<double>(), exp_avg.data<double>(),
                         exp_avg_sq.data<double>(), param.numel(), step);
  } else {
    adamw_kernel<float>(param.data<float>(), grad.data<float>(), exp_avg.data<float>(),
                        exp_avg_sq.data<float>(), param.numel(), step);
  }
}

double CpuBackend::sum_squares(const Tensor& x) {
  switch (x.dtype()) {
    case DType::F64:
      return sum_squares_kernel(x.data<double>(), x.numel());
    case DType::F32:
      return sum_squares_kernel(x.data<float>(), x.numel());
    default: {
      Tensor f = x.to(DType::F32);
      return sum_squares_kernel(f.data<float>(), f.numel());
    }
  }
}

}  // namespace lazarus::cpu
