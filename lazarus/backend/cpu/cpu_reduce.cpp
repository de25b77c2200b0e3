// CPU reductions (sum/max/min/argmax/argmin over any dims), cumsum and row softmax.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/backend/cpu/parallel.h"

namespace lazarus::cpu {

namespace {
template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// Accumulator type: sums of f32 run in f64 (like PyTorch's CPU acc_type), ints in i64.
template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T>
void reduce_rows(ReduceOp op, const T* x, int64_t rows, int64_t n, const Tensor& out) {
  parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const T* xr = x + r * n;
                   switch (op) {
                     case ReduceOp::Sum: {
                       Acc<T> s = 0;
                       if constexpr (std::is_same_v<T, float>) {
#pragma omp simd reduction(+ : s)
                         for (int64_t i = 0; i < n; ++i) s += double(xr[i]);
                       } else {
                         for (int64_t i = 0; i < n; ++i) {
                           if constexpr (std::is_integral_v<Acc<T>>)
                             s = Acc<T>(uint64_t(s) + uint64_t(Acc<T>(xr[i])));  // wraps
                           else
                             s += Acc<T>(xr[i]);
                         }
                       }
                       ptr<T>(out)[r] = T(s);
                       break;
                     }
                     case ReduceOp::Max:
                     case ReduceOp::Min: {
                       bool mx = op == ReduceOp::Max;
                       T m = xr[0];
                       for (int64_t i = 1; i < n; ++i) {
                         T v = xr[i];
                         if constexpr (std::is_floating_point_v<T>) {
                           if (v != v) {
                             m = v;
                             break;
                           }  // NaN propagates
                           if (m != m) break;
                         }
                         if (mx ? v > m : v < m) m = v;
                       }
                       ptr<T>(out)[r] = m;
                       break;
                     }
                     case ReduceOp::ArgMax:
                     case ReduceOp::ArgMin: {
                       bool mx = op == ReduceOp::ArgMax;
                       T m = xr[0];
                       int64_t at = 0;
                       for (int64_t i = 1; i < n; ++i) {
                         T v = xr[i];
                         if constexpr (std::is_floating_point_v<T>) {
                           if (m != m) break;  // first NaN wins (PyTorch treats NaN as the extreme)
                           if (v != v) {
                             m = v;
                             at = i;
                             break;
                           }
                         }
                         if (mx ? v > m : v < m) {
                           m = v;
                           at = i;
                         }
                       }
                       ptr<int64_t>(out)[r] = at;
                       break;
                     }
                   }
                 }
               });
}
}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                        const Tensor& out) {
  int64_t nd = x.dim();
  std::vector<bool> red(nd, false);
  for (int64_t d : dims) red[d] = true;
  // Fast path: sum over leading dims of a contiguous tensor -> column sums, no transpose copy.
  int64_t prefix = 0;
  while (prefix < nd && red[prefix]) ++prefix;
  bool is_prefix = prefix == int64_t(dims.size());
  if (op == ReduceOp::Sum && is_prefix && x.is_contiguous() && prefix < nd &&
      (x.dtype() == DType::F32 || x.dtype() == DType::F64)) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < prefix; ++i) outer *= x.size(i);
    for (int64_t i = prefix; i < nd; ++i) inner *= x.size(i);
    dispatch_float(x.dtype(), "sum", [&](auto tag) {
      using T = decltype(tag);
      const T* xp = ptr<T>(x);
      T* o = ptr<T>(out);
      parallel_for(inner, 256, [&](int64_t j0, int64_t j1) {
        std::vector<double> acc(size_t(j1 - j0), 0.0);
        for (int64_t i = 0; i < outer; ++i) {
          const T* row = xp + i * inner + j0;
          for (int64_t j = 0; j < j1 - j0; ++j) acc[j] += double(row[j]);
        }
        for (int64_t j = j0; j < j1; ++j) o[j] = T(acc[j - j0]);
      });
    });
    return;
  }
  // General: move the reduced dims last, make contiguous, reduce rows.
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < nd; ++i)
    if (!red[i]) perm.push_back(i);
  int64_t n = 1;
  for (int64_t d : dims) {
    perm.push_back(d);
    n *= x.size(d);
  }
  Shape ps, pst;
  for (int64_t p : perm) {
    ps.push_back(x.size(p));
    pst.push_back(x.stride(p));
  }
  auto im = std::make_shared<TensorImpl>();
  im->storage = x.storage();
  im->shape = ps;
  im->strides = pst;
  im->offset = x.offset();
  im->dtype = x.dtype();
  Tensor xp(im);
  if (!xp.is_contiguous()) {
    Tensor c = empty(ps, x.dtype());
    copy(xp, c);
    xp = c;
  }
  int64_t rows = out.numel();
  dispatch_compute(x.dtype(), "reduce", [&](auto tag) {
    using T = decltype(tag);
    reduce_rows<T>(op, ptr<T>(xp), rows, n, out);
  });
}

void CpuBackend::cumsum(const Tensor& x, int64_t dim, const Tensor& out) {
  Tensor xc = x;
  if (!xc.is_contiguous()) {
    xc = empty(x.shape(), x.dtype());
    copy(x, xc);
  }
  int64_t nd = x.dim();
  int64_t n = nd == 0 ? 1 : x.size(dim);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim && i < nd; ++i) outer *= x.size(i);
  for (int64_t i = dim + 1; i < nd; ++i) inner *= x.size(i);
  dispatch_compute(x.dtype(), "cumsum", [&](auto tag) {
    using T = decltype(tag);
    const T* s = ptr<T>(xc);
    T* d = ptr<T>(out);
    parallel_for(outer * inner, 64, [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        int64_t o = line / inner, i = line % inner;
        Acc<T> acc = 0;
        for (int64_t k = 0; k < n; ++k) {
          int64_t at = (o * n + k) * inner + i;
          if constexpr (std::is_integral_v<Acc<T>>)
            acc = Acc<T>(uint64_t(acc) + uint64_t(Acc<T>(s[at])));  // wraps
          else
            acc += Acc<T>(s[at]);
          d[at] = T(acc);
        }
      }
    });
  });
}

void CpuBackend::softmax(const Tensor& x, bool log, const Tensor& out) {
  int64_t n = x.size(-1);
  int64_t rows = n == 0 ? 0 : x.numel() / n;
  if (x.dtype() == DType::F32) {
    const KernelTable& kt = kernels();
    const float* s = ptr<float>(x);
    float* d = ptr<float>(out);
    parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)),
                 [&](int64_t r0, int64_t r1) {
                   kt.softmax_rows_f32(s + r0 * n, d + r0 * n, r1 - r0, n, log);
                 });
    return;
  }
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* s = ptr<T>(x);
    T* d = ptr<T>(out);
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = s + r * n;
        T* yr = d + r * n;
        T m = -INFINITY;
        bool nan = false;
        for (int64_t i = 0; i < n; ++i) {
          nan |= xr[i] != xr[i];
          m = std::max(m, xr[i]);
        }
        if (nan) {
          for (int64_t i = 0; i < n; ++i) yr[i] = NAN;
          continue;
        }
        if (m == -INFINITY) m = 0;
        T sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += std::exp(xr[i] - m);
        if (log) {
          T ls = std::log(sum) + m;
          for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - ls;
        } else {
          for (int64_t i = 0; i < n; ++i) yr[i] = std::exp(xr[i] - m) / sum;
        }
      }
    });
  });
}

void CpuBackend::cross_entropy_rows(const Tensor& logits, const Tensor& targets,
                                    int64_t ignore_index, double label_smoothing,
                                    const Tensor& loss, const Tensor& grad, double grad_scale) {
  const int64_t n = logits.size(-1), rows = logits.numel() / std::max<int64_t>(n, 1);
  const int64_t* t = ptr<int64_t>(targets);
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1));
  if (logits.dtype() == DType::F32) {
    const KernelTable& kt = kernels();
    const float* x = ptr<float>(logits);
    float* l = ptr<float>(loss);
    float* g = grad.defined() ? ptr<float>(grad) : nullptr;
    parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
      kt.cross_entropy_rows_f32(x + r0 * n, t + r0, r1 - r0, n, ignore_index,
                                float(label_smoothing), l + r0, g ? g + r0 * n : nullptr,
                                float(grad_scale));
    });
    return;
  }
  // f64 (gradient checks): the same math, scalar.
  const double* x = ptr<double>(logits);
  double* l = ptr<double>(loss);
  double* g = grad.defined() ? ptr<double>(grad) : nullptr;
  const double s = label_smoothing;
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const double* xr = x + r * n;
      double* gr = g ? g + r * n : nullptr;
      if (t[r] == ignore_index) {
        l[r] = 0;
        if (gr) std::fill(gr, gr + n, 0.0);
        continue;
      }
      double m = -INFINITY, sx = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (xr[i] > m) m = xr[i];
        sx += xr[i];
      }
      if (m == -INFINITY) m = 0;
      double se = 0;
      for (int64_t i = 0; i < n; ++i) se += std::exp(xr[i] - m);
      const double lse = std::log(se) + m, xt = xr[t[r]];
      l[r] = lse - (1 - s) * xt - s * sx / double(n);
      if (gr) {
        for (int64_t i = 0; i < n; ++i)
          gr[i] = grad_scale * (std::exp(xr[i] - m) / se - s / double(n));
        gr[t[r]] -= grad_scale * (1 - s);
      }
    }
  });
}

}  // namespace lazarus::cpu
