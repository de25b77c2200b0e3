// CPU backend: copies/casts, fills, random, elementwise, where, tri and matmul dispatch. The
// reductions, indexing and the fused nn kernels live in cpu_reduce.cpp, cpu_index.cpp, cpu_nn.cpp.
#include "lazarus/backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/gemm.h"
#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/backend/cpu/parallel.h"
#include "lazarus/tensor/quants.h"

namespace lazarus {

Backend& backend_for(Device device) {
  static cpu::CpuBackend cpu_backend;
  switch (device) {
    case Device::CPU:
      return cpu_backend;
  }
  throw Error("[backend] unknown device");
}

namespace cpu {

namespace {
constexpr int64_t kGrain = 1 << 14;  // elements per task for cheap elementwise loops

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

Tensor contiguous_copy(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor c = empty(x.shape(), x.dtype());
  backend_for(Device::CPU).copy(x, c);
  return c;
}

// Runs fn(offsets, n, inner_strides) over all rows of a 2- or more-operand geometry in parallel.
template <int N, class F>
void run_strided(const Shape& shape, const std::array<const Shape*, N>& strides, F&& fn) {
  Strided<N> g = coalesce<N>(shape, strides);
  int64_t rows = num_rows(g);
  int64_t inner = g.shape[g.ndim - 1];
  if (rows == 1) {
    // One long run: split it.
    std::array<int64_t, N> st;
    for (int k = 0; k < N; ++k) st[k] = g.strides[k][g.ndim - 1];
    parallel_for(inner, kGrain, [&](int64_t b, int64_t e) {
      std::array<int64_t, N> off;
      for (int k = 0; k < N; ++k) off[k] = b * st[k];
      fn(off, e - b, st);
    });
    return;
  }
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1));
  parallel_for(rows, grain, [&](int64_t b, int64_t e) { for_rows<N>(g, b, e, fn); });
}

uint64_t philox_pair(uint64_t counter, uint64_t seed, uint32_t out[4]) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t m0 = uint64_t(0xD2511F53u) * c0, m1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(m1 >> 32) ^ c1 ^ k0, n1 = uint32_t(m1);
    uint32_t n2 = uint32_t(m0 >> 32) ^ c3 ^ k1, n3 = uint32_t(m0);
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return (uint64_t(c0) << 32) | c1;
}
inline double unit53(uint32_t hi, uint32_t lo) {
  return double(((uint64_t(hi) << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

template <class T>
T scalar_unary(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::Neg:
      return -x;
    case UnaryOp::Abs:
      return std::abs(x);
    case UnaryOp::Exp:
      return std::exp(x);
    case UnaryOp::Log:
      return std::log(x);
    case UnaryOp::Sqrt:
      return std::sqrt(x);
    case UnaryOp::Rsqrt:
      return T(1) / std::sqrt(x);
    case UnaryOp::Sin:
      return std::sin(x);
    case UnaryOp::Cos:
      return std::cos(x);
    case UnaryOp::Tanh:
      return std::tanh(x);
    case UnaryOp::Sigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::Relu:
      return x > T(0) ? x : (x != x ? x : T(0));
    case UnaryOp::Gelu:
      return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    case UnaryOp::GeluTanh:
      return T(0.5) * x *
             (T(1) + std::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
    case UnaryOp::Silu:
      return x / (T(1) + std::exp(-x));
    case UnaryOp::Softplus:
      return x > T(20) ? x : std::log1p(std::exp(x));
    case UnaryOp::Square:
      return x * x;
    case UnaryOp::Erf:
      return std::erf(x);
    case UnaryOp::Sign:
      return T((x > T(0)) - (x < T(0)));
    case UnaryOp::LogicalNot:
      return x;
  }
  return x;
}

template <class T>
auto scalar_binary(BinaryOp op, T a, T b) {
  switch (op) {
    // Integers wrap on overflow (as PyTorch), computed unsigned so it is defined behaviour.
    case BinaryOp::Add:
      if constexpr (std::is_integral_v<T>)
        return T(std::make_unsigned_t<T>(a) + std::make_unsigned_t<T>(b));
      else
        return T(a + b);
    case BinaryOp::Sub:
      if constexpr (std::is_integral_v<T>)
        return T(std::make_unsigned_t<T>(a) - std::make_unsigned_t<T>(b));
      else
        return T(a - b);
    case BinaryOp::Mul:
      if constexpr (std::is_integral_v<T>)
        return T(std::make_unsigned_t<T>(a) * std::make_unsigned_t<T>(b));
      else
        return T(a * b);
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>)
        return T(a / b);
      else
        return T(b == 0 ? 0 : a / b);  // integer division is only reached for bool/int maximum etc.
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>)
        return T(std::pow(a, b));
      else
        return T(std::pow(double(a), double(b)));
    case BinaryOp::Maximum:
      if constexpr (std::is_floating_point_v<T>) {
        if (a != a || b != b) return T(a + b);
      }
      return a > b ? a : b;
    case BinaryOp::Minimum:
      if constexpr (std::is_floating_point_v<T>) {
        if (a != a || b != b) return T(a + b);
      }
      return a < b ? a : b;
    default:
      return T(0);
  }
}

template <class T>
uint8_t scalar_compare(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Eq:
      return a == b;
    case BinaryOp::Ne:
      return a != b;
    case BinaryOp::Lt:
      return a < b;
    case BinaryOp::Le:
      return a <= b;
    case BinaryOp::Gt:
      return a > b;
    case BinaryOp::Ge:
      return a >= b;
    case BinaryOp::LogicalAnd:
      return (a != T(0)) && (b != T(0));
    case BinaryOp::LogicalOr:
      return (a != T(0)) || (b != T(0));
    default:
      return 0;
  }
}
}  // namespace

namespace {
// d[i] = convert<D>(s[i]) over a contiguous run; the 16-bit <-> f32 casts (every bf16 / f16 op's
// way in and out of f32 compute) go through the vectorised kernels.
template <class S, class D>
void convert_run(const S* s, D* d, int64_t n) {
  const KernelTable& kt = kernels();
  auto u16 = [](auto* p) { return reinterpret_cast<decltype(&p->bits)>(p); };
  if constexpr (std::is_same_v<S, BF16> && std::is_same_v<D, float>) {
    kt.bf16_to_f32(u16(s), d, n);
  } else if constexpr (std::is_same_v<S, F16> && std::is_same_v<D, float>) {
    kt.f16_to_f32(u16(s), d, n);
  } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, BF16>) {
    kt.f32_to_bf16(s, u16(d), n);
  } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, F16>) {
    kt.f32_to_f16(s, u16(d), n);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
  }
}
}  // namespace

// Casts to and from a block-quantized type (contiguous, whole rows): through f32, a row at a time.
namespace {
void copy_quantized(const Tensor& src, const Tensor& dst) {
  for (const Tensor* q : {&src, &dst}) {
    if (is_quantized(q->dtype()) && !q->is_contiguous()) {
      throw DTypeError(fmt::format("[copy] a {} tensor must be contiguous to be copied (shape {})",
                                   dtype_name(q->dtype()), shape_str(q->shape())));
    }
  }
  const int64_t K = src.size(-1), rows = src.numel() / K;
  if (is_quantized(src.dtype())) {  // dequantize
    const bool direct = dst.dtype() == DType::F32 && dst.is_contiguous();
    Tensor f = direct ? dst : empty(dst.shape(), DType::F32);
    const auto* s = static_cast<const uint8_t*>(src.raw_data());
    const size_t rb = dtype_nbytes(src.dtype(), K);
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        quants::dequantize_row(src.dtype(), s + size_t(r) * rb, ptr<float>(f) + r * K, K);
    });
    if (!direct) backend_for(Device::CPU).copy(f, dst);
    return;
  }
  if (!quants::can_quantize(dst.dtype())) {  // checked here: nothing may throw inside the loop
    throw DTypeError(fmt::format("[copy] quantizing to {} is not supported", dtype_name(dst.dtype())));
  }
  Tensor f = src;
  if (src.dtype() != DType::F32 || !src.is_contiguous()) {
    f = empty(src.shape(), DType::F32);
    backend_for(Device::CPU).copy(src, f);
  }
  auto* d = static_cast<uint8_t*>(dst.raw_data());
  const size_t rb = dtype_nbytes(dst.dtype(), K);
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      quants::quantize_row(dst.dtype(), ptr<float>(f) + r * K, d + size_t(r) * rb, K);
  });
}
}  // namespace

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  if (src.shape() != dst.shape()) {
    throw ShapeError(fmt::format("[copy] shapes differ: {} vs {}", shape_str(src.shape()),
                                 shape_str(dst.shape())));
  }
  if (src.numel() == 0) return;
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    size_t nb = src.nbytes();
    const char* s = static_cast<const char*>(src.raw_data());
    char* d = static_cast<char*>(dst.raw_data());
    if (s == d) return;
    parallel_for(int64_t(nb), int64_t(1) << 20,
                 [&](int64_t b, int64_t e) { std::memmove(d + b, s + b, size_t(e - b)); });
    return;
  }
  if (is_quantized(src.dtype()) || is_quantized(dst.dtype())) {
    copy_quantized(src, dst);
    return;
  }
  dispatch(src.dtype(), [&](auto s_tag) {
    using S = decltype(s_tag);
    dispatch(dst.dtype(), [&](auto d_tag) {
      using D = decltype(d_tag);
      const S* sp = ptr<S>(src);
      D* dp = ptr<D>(dst);
      run_strided<2>(
          dst.shape(), {&src.strides(), &dst.strides()},
          [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
            const S* s = sp + off[0];
            D* d = dp + off[1];
            if (st[0] == 1 && st[1] == 1) {
              convert_run(s, d, n);
            } else {
              for (int64_t i = 0; i < n; ++i) d[i * st[1]] = convert<D>(s[i * st[0]]);
            }
          });
    });
  });
}

void CpuBackend::fill(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T v = convert<T>(value);
    T* p = ptr<T>(dst);
    run_strided<1>(
        dst.shape(), {&dst.strides()},
        [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& st) {
          for (int64_t i = 0; i < n; ++i) p[off[0] + i * st[0]] = v;
        });
  });
}

void CpuBackend::arange(const Tensor& dst, double start, double step) {
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = ptr<T>(dst);
    for (int64_t i = 0, n = dst.numel(); i < n; ++i) p[i] = convert<T>(start + double(i) * step);
  });
}

void CpuBackend::random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset,
                        double a, double b, int64_t int_low, uint64_t int_range) {
  int64_t n = dst.numel();
  auto fill_with = [&](auto tag) {
    using T = decltype(tag);
    T* p = ptr<T>(dst);
    parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
      uint32_t r[4];
      for (int64_t i = i0; i < i1; ++i) {
        if (kind == RandomKind::Uniform) {
          philox_pair(offset + uint64_t(i), seed, r);
          double u = unit53(r[0], r[1]);
          T v = T(a + (b - a) * u);
          // Rounding to a narrower T can land on `high`; keep the interval half-open.
          if (double(v) >= b && b > a) v = std::nextafter(T(b), T(a));
          p[i] = v;
        } else if (kind == RandomKind::Normal) {
          philox_pair(offset + 2 * uint64_t(i), seed, r);
          double u1 = 1.0 - unit53(r[0], r[1]);  // (0, 1]
          double u2 = unit53(r[2], r[3]);
          p[i] = T(a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
        } else {
          uint64_t v = philox_pair(offset + uint64_t(i), seed, r);
          // Unsigned arithmetic: exact and defined for any int64 bounds.
          p[i] = T(int64_t(uint64_t(int_low) + v % int_range));
        }
      }
    });
  };
  switch (dst.dtype()) {
    case DType::F32:
      fill_with(float{});
      break;
    case DType::F64:
      fill_with(double{});
      break;
    case DType::I64:
      fill_with(int64_t{});
      break;
    default:
      throw DTypeError(fmt::format("[random] unsupported dtype {}", dtype_name(dst.dtype())));
  }
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  Tensor xc = contiguous_copy(x);
  int64_t n = out.numel();
  if (op == UnaryOp::LogicalNot) {
    const uint8_t* s = ptr<uint8_t>(xc);
    uint8_t* d = ptr<uint8_t>(out);
    for (int64_t i = 0; i < n; ++i) d[i] = !s[i];
    return;
  }
  if (x.dtype() == DType::F32) {
    const float* s = ptr<float>(xc);
    float* d = ptr<float>(out);
    const KernelTable& kt = kernels();
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { kt.unary_f32(op, s + b, d + b, e - b); });
    return;
  }
  dispatch_float(x.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    const T* s = ptr<T>(xc);
    T* d = ptr<T>(out);
    parallel_for(n, kGrain / 4, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] = scalar_unary<T>(op, s[i]);
    });
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Shape& shape = out.shape();
  if (!is_comparison(op) && a.dtype() == DType::F32) {
    const float* ap = ptr<float>(a);
    const float* bp = ptr<float>(b);
    float* op_ = ptr<float>(out);
    const KernelTable& kt = kernels();
    run_strided<3>(
        shape, {&a.strides(), &b.strides(), &out.strides()},
        [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
          if (st[0] <= 1 && st[1] <= 1 && st[2] == 1) {
            kt.binary_f32(op, ap + off[0], st[0], bp + off[1], st[1], op_ + off[2], n);
          } else {
            for (int64_t i = 0; i < n; ++i) {
              op_[off[2] + i * st[2]] =
                  scalar_binary<float>(op, ap[off[0] + i * st[0]], bp[off[1] + i * st[1]]);
            }
          }
        });
    return;
  }
  dispatch_compute(a.dtype(), binary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    const T* ap = ptr<T>(a);
    const T* bp = ptr<T>(b);
    if (is_comparison(op)) {
      uint8_t* o = ptr<uint8_t>(out);
      run_strided<3>(
          shape, {&a.strides(), &b.strides(), &out.strides()},
          [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
            for (int64_t i = 0; i < n; ++i) {
              o[off[2] + i * st[2]] =
                  scalar_compare<T>(op, ap[off[0] + i * st[0]], bp[off[1] + i * st[1]]);
            }
          });
    } else {
      T* o = ptr<T>(out);
      run_strided<3>(
          shape, {&a.strides(), &b.strides(), &out.strides()},
          [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& st) {
            for (int64_t i = 0; i < n; ++i) {
              o[off[2] + i * st[2]] =
                  scalar_binary<T>(op, ap[off[0] + i * st[0]], bp[off[1] + i * st[1]]);
            }
          });
    }
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const uint8_t* cp = ptr<uint8_t>(cond);
    const T* ap = ptr<T>(a);
    const T* bp = ptr<T>(b);
    T* o = ptr<T>(out);
    run_strided<4>(
        out.shape(), {&cond.strides(), &a.strides(), &b.strides(), &out.strides()},
        [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& st) {
          for (int64_t i = 0; i < n; ++i) {
            o[off[3] + i * st[3]] =
                cp[off[0] + i * st[0]] ? ap[off[1] + i * st[1]] : bp[off[2] + i * st[2]];
          }
        });
  });
}

void CpuBackend::tri(const Tensor& x, int64_t k, bool upper, const Tensor& out) {
  Tensor xc = contiguous_copy(x);
  int64_t R = x.size(-2), C = x.size(-1);
  int64_t mats = R * C == 0 ? 0 : x.numel() / (R * C);
  size_t es = dtype_size(x.dtype());
  const char* s = static_cast<const char*>(xc.raw_data());
  char* d = static_cast<char*>(out.raw_data());
  parallel_for(mats * R, 64, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t r = row % R;
      for (int64_t c = 0; c < C; ++c) {
        bool keep = upper ? (c - r >= k) : (c - r <= k);
        size_t at = size_t(row * C + c) * es;
        if (keep)
          std::memcpy(d + at, s + at, es);
        else
          std::memset(d + at, 0, es);
      }
    }
  });
}

namespace {
// Up to this many activation rows, a product with a row-major weight runs as dot products.
constexpr int64_t kMatvecMaxRows = 4;
// Multiply-adds a thread must get before a product is split across threads.
constexpr int64_t kMatvecGrainMacs = 1 << 17;
// Activation values quantized per task (quantize_act is a scalar loop).
constexpr int64_t kQuantizeGrainValues = 1 << 14;
// From this many activation rows a quantized linear runs gemm_q instead of matvec_rows_q per row
// (measured: see docs/performance.md, quantized prefill).
constexpr int64_t kGemmQMinRows = 2;
// Weight bytes per gemm_q call: a panel that stays in L2 (>= 512 KB per core on the CPUs we
// target) beside the activation rows streaming past it.
constexpr int64_t kGemmQPanelBytes = 64 * 1024;
// f32 bytes of a half weight widened at a time for a GEMM (see matmul_half_weight).
constexpr int64_t kWidenPanelBytes = int64_t(8) << 20;

// Decode: M <= kMatvecMaxRows activation rows (row stride a_rs) times a weight stored (N, K)
// row-major with row stride ldw (linear's b = W^T): dot products over the weight's contiguous
// rows beat a BLAS call, whose fixed cost and packing dominate at these sizes; threads only when
// each gets enough rows to pay the wake-up. `rows_fn` is the kernel for the weight's dtype.
template <class W>
void matvec_weight_rows(const float* a, int64_t a_rs, const W* w, int64_t ldw, float* out,
                        int64_t M, int64_t N, int64_t K,
                        void (*rows_fn)(const W*, int64_t, const float*, float*, int64_t, int64_t)) {
  const int64_t grain = std::max<int64_t>(16, kMatvecGrainMacs / std::max<int64_t>(K * M, 1));
  parallel_for(N, grain, [&](int64_t n0, int64_t n1) {
    // 64 weight rows at a time stay in L1/L2 while every activation row reads them.
    for (int64_t r0 = n0; r0 < n1; r0 += 64) {
      const int64_t r1 = std::min(n1, r0 + 64);
      for (int64_t m = 0; m < M; ++m) rows_fn(w + r0 * ldw, ldw, a + m * a_rs, out + m * N + r0, r1 - r0, K);
    }
  });
}

// A panel of widened weight columns: kWidenPanelBytes of f32, at least 64 columns, reused.
float* widen_panel(int64_t N, int64_t K, int64_t& cols) {
  cols = std::clamp<int64_t>(kWidenPanelBytes / (4 * std::max<int64_t>(K, 1)), 64, std::max<int64_t>(N, 1));
  thread_local std::vector<float> panel;
  if (panel.size() < size_t(cols * K)) panel.resize(size_t(cols * K));
  return panel.data();
}

// out (M, N) = a (M, K) f32 times W^T for a weight W (N, K) stored in another type:
// widen_row(n, dst) writes row n of W as K floats. Rows are widened a panel at a time and each
// panel goes to the f32 GEMM, so a prefill never holds an f32 copy of the whole weight.
template <class WidenRow>
void gemm_widened_rows(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs,
                       int64_t a_cs, WidenRow&& widen_row, float* out) {
  int64_t cols;
  float* p = widen_panel(N, K, cols);
  for (int64_t n0 = 0; n0 < N; n0 += cols) {
    const int64_t nc = std::min(cols, N - n0);
    parallel_for(nc, 16, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) widen_row(n0 + c, p + c * K);
    });
    gemm_f32(M, nc, K, a, a_rs, a_cs, p, 1, K, out + n0, N, false, false);
  }
}

// One product a (M, K) f32 times b (K, N) in bf16 / f16, either layout, through widened panels.
void matmul_half_weight(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs,
                        int64_t a_cs, const uint16_t* b, int64_t b_rs, int64_t b_cs, DType bt,
                        float* out) {
  const KernelTable& kt = kernels();
  auto widen = bt == DType::BF16 ? kt.bf16_to_f32 : kt.f16_to_f32;
  if (b_rs == 1 || K == 1) {  // column n of b is a contiguous weight row
    gemm_widened_rows(
        M, N, K, a, a_rs, a_cs, [&](int64_t n, float* dst) { widen(b + n * b_cs, dst, K); }, out);
    return;
  }
  // Rows of b are contiguous (b_cs == 1 or N == 1): panels of (K, nc) row-major.
  int64_t cols;
  float* p = widen_panel(N, K, cols);
  for (int64_t n0 = 0; n0 < N; n0 += cols) {
    const int64_t nc = std::min(cols, N - n0);
    parallel_for(K, 16, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) widen(b + k * b_rs + n0, p + k * nc, nc);
    });
    gemm_f32(M, nc, K, a, a_rs, a_cs, p, nc, 1, out + n0, N, false, false);
  }
}
}  // namespace

void CpuBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  Tensor ac = a, bc = b;
  // The GEMM takes row- or column-major operands with a valid leading dimension; anything else
  // (e.g. a broadcast row with stride 0) is copied first.
  auto ok = [](const Tensor& t) {
    int64_t r = t.size(1), c = t.size(2), rs = t.stride(1), cs = t.stride(2);
    if ((cs == 1 || c == 1) && (r == 1 || rs >= std::max<int64_t>(c, 1))) return true;
    if ((rs == 1 || r == 1) && (c == 1 || cs >= std::max<int64_t>(r, 1))) return true;
    return false;
  };
  if (!ok(ac)) ac = contiguous_copy(a);
  if (!ok(bc)) bc = contiguous_copy(b);
  int64_t Bt = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  const bool rows_contiguous = ac.stride(2) == 1 || K == 1;
  const bool weight_rows = bc.stride(1) == 1 && bc.stride(2) >= K;
  const bool matvec = M <= kMatvecMaxRows && rows_contiguous && weight_rows;
  if (bc.dtype() == DType::BF16 || bc.dtype() == DType::F16) {
    if (out.dtype() != DType::F32 || ac.dtype() != DType::F32) {
      throw DTypeError(fmt::format("[matmul] a {} weight needs float32 activations and output",
                                   dtype_name(bc.dtype())));
    }
    const KernelTable& kt = kernels();
    const auto* bp = static_cast<const uint16_t*>(bc.raw_data());
    for (int64_t i = 0; i < Bt; ++i) {
      const float* a0 = ptr<float>(ac) + i * ac.stride(0);
      const uint16_t* b0 = bp + i * bc.stride(0);
      float* o0 = ptr<float>(out) + i * M * N;
      if (matvec) {
        matvec_weight_rows(a0, ac.stride(1), b0, bc.stride(2), o0, M, N, K,
                           bc.dtype() == DType::BF16 ? kt.matvec_rows_bf16 : kt.matvec_rows_f16);
      } else {
        matmul_half_weight(M, N, K, a0, ac.stride(1), ac.stride(2), b0, bc.stride(1), bc.stride(2),
                           bc.dtype(), o0);
      }
    }
    return;
  }
  if (out.dtype() == DType::F32) {
    const float* ap = ptr<float>(ac);
    const float* bp = ptr<float>(bc);
    float* op_ = ptr<float>(out);
    auto one = [&](int64_t i, bool serial) {
      gemm_f32(M, N, K, ap + i * ac.stride(0), ac.stride(1), ac.stride(2), bp + i * bc.stride(0),
               bc.stride(1), bc.stride(2), op_ + i * M * N, N, false, serial);
    };
    if (matvec) {
      for (int64_t i = 0; i < Bt; ++i) {
        matvec_weight_rows(ap + i * ac.stride(0), ac.stride(1), bp + i * bc.stride(0),
                           bc.stride(2), op_ + i * M * N, M, N, K, kernels().matvec_rows_f32);
      }
      return;
    }
    if (Bt == 1) {
      one(0, false);
    } else if (Bt >= threads() && threads() > 1) {
      parallel_for(Bt, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) one(i, true);
      });
    } else {
      for (int64_t i = 0; i < Bt; ++i) one(i, false);
    }
    return;
  }
  dispatch_float(out.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, double>) {
      for (int64_t i = 0; i < Bt; ++i) {
        gemm_f64(M, N, K, ptr<double>(ac) + i * ac.stride(0), ac.stride(1), ac.stride(2),
                 ptr<double>(bc) + i * bc.stride(0), bc.stride(1), bc.stride(2),
                 ptr<double>(out) + i * M * N, N, false);
      }
    }
  });
}

void CpuBackend::linear_quantized(const Tensor& x, const Tensor& w, const Tensor& out) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  const DType dt = w.dtype();
  const auto* wp = static_cast<const uint8_t*>(w.raw_data());
  const int64_t row_bytes = int64_t(dtype_nbytes(dt, K));
  const float* xp = ptr<float>(x);
  float* op_ = ptr<float>(out);
  // The activation rows are quantized once (as llama.cpp pairs them with dt), then every output is
  // an integer dot product per block of a weight row with an activation row (the same arithmetic
  // as llama.cpp at any length).
  const quants::ActFormat f = quants::act_format(dt);
  const size_t ab = quants::act_bytes(f, K);
  std::vector<uint8_t> act(ab * size_t(M));
  parallel_for(M, std::max<int64_t>(1, kQuantizeGrainValues / std::max<int64_t>(K, 1)),
               [&](int64_t m0, int64_t m1) {
                 for (int64_t m = m0; m < m1; ++m) {
                   quants::quantize_act(f, xp + m * K, act.data() + size_t(m) * ab, K);
                 }
               });
  const KernelTable& kt = kernels();
  if (M < kGemmQMinRows) {  // decode: one activation row against 64 weight rows at a time
    const int64_t grain = std::max<int64_t>(16, kMatvecGrainMacs / std::max<int64_t>(K * M, 1));
    parallel_for(N, grain, [&](int64_t n0, int64_t n1) {
      for (int64_t r0 = n0; r0 < n1; r0 += 64) {
        const int64_t r1 = std::min(n1, r0 + 64);
        for (int64_t m = 0; m < M; ++m) {
          kt.matvec_rows_q(dt, wp + r0 * row_bytes, row_bytes, act.data() + size_t(m) * ab,
                           op_ + m * N + r0, r1 - r0, K);
        }
      }
    });
    return;
  }
  // Prefill: the register-blocked GEMM over weight panels of about kGemmQPanelBytes (they stay in
  // L2 while every activation row passes them), the threads splitting the weight rows in groups
  // of 8 (whole micro-kernel tiles). Each output is computed as matvec_rows_q computes it.
  const int64_t panel = std::clamp<int64_t>(kGemmQPanelBytes / row_bytes / 8 * 8, 8, 512);
  const int64_t groups = (N + 7) / 8;
  parallel_for(groups, std::max<int64_t>(1, kMatvecGrainMacs / std::max<int64_t>(8 * K * M, 1)),
               [&](int64_t g0, int64_t g1) {
                 const int64_t n1 = std::min(N, g1 * 8);
                 for (int64_t p0 = g0 * 8; p0 < n1; p0 += panel) {
                   kt.gemm_q(dt, wp + p0 * row_bytes, row_bytes, act.data(), int64_t(ab),
                             op_ + p0, N, M, std::min(panel, n1 - p0), K);
                 }
               });
}

}  // namespace cpu
}  // namespace lazarus
