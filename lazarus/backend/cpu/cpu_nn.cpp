// CPU fused nn kernels: RMSNorm, LayerNorm, rotary embedding; attention is in attention.cpp.
// RMSNorm: Zhang & Sennrich 2019; LayerNorm: Ba et al. 2016; RoPE: Su et al. 2021 (RoFormer).
#include <cmath>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/backend/cpu/parallel.h"

namespace lazarus::cpu {

namespace {
template <class T>
const T* opt(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)); }
}  // namespace

void CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out) {
  int64_t n = x.size(-1), rows = x.numel() / n;
  if (x.dtype() == DType::F32) {
    const KernelTable& kt = kernels();
    const float* w = opt<float>(weight);
    parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
      kt.rms_norm_rows_f32(x.data<float>() + r0 * n, w, out.data<float>() + r0 * n, r1 - r0, n,
                           float(eps));
    });
    return;
  }
  dispatch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* w = opt<T>(weight);
    parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x.data<T>() + r * n;
        T* yr = out.data<T>() + r * n;
        T ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
        T inv = T(1) / std::sqrt(ss / T(n) + T(eps));
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * inv * (w ? w[i] : T(1));
      }
    });
  });
}

void CpuBackend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                            const Tensor& out) {
  int64_t n = x.size(-1), rows = x.numel() / n;
  if (x.dtype() == DType::F32) {
    const KernelTable& kt = kernels();
    const float* w = opt<float>(weight);
    const float* b = opt<float>(bias);
    parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
      kt.layer_norm_rows_f32(x.data<float>() + r0 * n, w, b, out.data<float>() + r0 * n, r1 - r0, n,
                             float(eps));
    });
    return;
  }
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const T* w = opt<T>(weight);
    const T* b = opt<T>(bias);
    parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x.data<T>() + r * n;
        T* yr = out.data<T>() + r * n;
        T s = 0;
        for (int64_t i = 0; i < n; ++i) s += xr[i];
        T mu = s / T(n), v = 0;
        for (int64_t i = 0; i < n; ++i) v += (xr[i] - mu) * (xr[i] - mu);
        T inv = T(1) / std::sqrt(v / T(n) + T(eps));
        for (int64_t i = 0; i < n; ++i)
          yr[i] = (xr[i] - mu) * inv * (w ? w[i] : T(1)) + (b ? b[i] : T(0));
      }
    });
  });
}

void CpuBackend::rope(const Tensor& x, const Tensor& cos_t, const Tensor& sin_t, int64_t offset,
                      bool interleaved, bool inverse, const Tensor& out) {
  int64_t Dh = x.size(-1), T = x.size(-2), half = Dh / 2;
  int64_t rows = x.numel() / Dh;
  if (x.dtype() == DType::F32) {
    const KernelTable& kt = kernels();
    const float* xs = x.data<float>();
    float* ys = out.data<float>();
    const float* cs = cos_t.data<float>();
    const float* ss = sin_t.data<float>();
    float sign = inverse ? -1.0f : 1.0f;
    parallel_for(rows, row_grain(Dh), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t t = r % T + offset;
        kt.rope_row_f32(xs + r * Dh, cs + t * half, ss + t * half, ys + r * Dh, half, interleaved,
                        sign);
      }
    });
    return;
  }
  dispatch_float(x.dtype(), "rope", [&](auto tag) {
    using V = decltype(tag);
    const V* xs = x.data<V>();
    V* ys = out.data<V>();
    const V* cs = cos_t.data<V>();
    const V* ss = sin_t.data<V>();
    V sign = inverse ? V(-1) : V(1);
    parallel_for(rows, row_grain(Dh), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t t = r % T + offset;
        const V* c = cs + t * half;
        const V* s = ss + t * half;
        const V* xr = xs + r * Dh;
        V* yr = ys + r * Dh;
        if (!interleaved) {
          for (int64_t i = 0; i < half; ++i) {
            V x1 = xr[i], x2 = xr[i + half], sn = sign * s[i];
            yr[i] = x1 * c[i] - x2 * sn;
            yr[i + half] = x2 * c[i] + x1 * sn;
          }
        } else {
          for (int64_t i = 0; i < half; ++i) {
            V x1 = xr[2 * i], x2 = xr[2 * i + 1], sn = sign * s[i];
            yr[2 * i] = x1 * c[i] - x2 * sn;
            yr[2 * i + 1] = x2 * c[i] + x1 * sn;
          }
        }
      }
    });
  });
}

void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                           bool causal, int64_t window, double scale, int64_t query_offset,
                           const Tensor& out, const Tensor& lse) {
  attention_forward(q, k, v, mask, causal, window, scale, query_offset, out, lse);
}

void CpuBackend::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, bool causal, int64_t window, double scale,
                                    int64_t query_offset, const Tensor& out, const Tensor& lse,
                                    const Tensor& dout, const Tensor& dq, const Tensor& dk,
                                    const Tensor& dv) {
  cpu::attention_backward(q, k, v, mask, causal, window, scale, query_offset, out, lse, dout, dq,
                          dk, dv);
}

}  // namespace lazarus::cpu
