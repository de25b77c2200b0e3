// Shared pieces of the CPU kernels: storage-type dispatch, element conversion, and an N-d strided
// loop that coalesces dims and hands the innermost run to a callback.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::cpu {

// ---- element conversion between storage types ----

template <class T>
inline double to_double(T v) {
  if constexpr (std::is_same_v<T, BF16>)
    return bf16_bits_to_f32(v.bits);
  else if constexpr (std::is_same_v<T, F16>)
    return f16_bits_to_f32(v.bits);
  else
    return static_cast<double>(v);
}

template <class I>
inline I saturating_int(double d) {
  if (std::isnan(d)) return 0;
  constexpr double lo = double(std::numeric_limits<I>::min());
  constexpr double hi = double(std::numeric_limits<I>::max());
  if (d <= lo) return std::numeric_limits<I>::min();
  if (d >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(d);
}

template <class D, class S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, BF16>) {
    if constexpr (std::is_same_v<S, F16>)
      return BF16{f32_to_bf16_bits(f16_bits_to_f32(v.bits))};
    else
      return BF16{f32_to_bf16_bits(static_cast<float>(to_double(v)))};
  } else if constexpr (std::is_same_v<D, F16>) {
    if constexpr (std::is_same_v<S, BF16>)
      return F16{f32_to_f16_bits(bf16_bits_to_f32(v.bits))};
    else
      return F16{f32_to_f16_bits(static_cast<float>(to_double(v)))};
  } else if constexpr (std::is_same_v<D, uint8_t>) {  // bool
    return to_double(v) != 0.0 ? 1 : 0;
  } else if constexpr (std::is_same_v<D, float>) {
    if constexpr (std::is_same_v<S, BF16>)
      return bf16_bits_to_f32(v.bits);
    else if constexpr (std::is_same_v<S, F16>)
      return f16_bits_to_f32(v.bits);
    else
      return static_cast<float>(v);
  } else if constexpr (std::is_same_v<D, double>) {
    return to_double(v);
  } else if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double> ||
                       std::is_same_v<S, BF16> || std::is_same_v<S, F16>) {
    return saturating_int<D>(to_double(v));  // float -> int: truncate, saturate, NaN -> 0
  } else {
    return static_cast<D>(v);  // int/bool -> int
  }
}

/// Calls f(T{}) with T the storage type of dt.
template <class F>
decltype(auto) dispatch(DType dt, F&& f) {
  switch (dt) {
    case DType::F32:
      return f(float{});
    case DType::F64:
      return f(double{});
    case DType::BF16:
      return f(BF16{});
    case DType::F16:
      return f(F16{});
    case DType::I32:
      return f(int32_t{});
    case DType::I64:
      return f(int64_t{});
    case DType::Bool:
      return f(uint8_t{});
    default:
      break;
  }
  throw DTypeError(fmt::format("[cpu] this op does not take {} tensors", dtype_name(dt)));
}

/// Like dispatch, limited to compute types (f32, f64, i32, i64, bool).
template <class F>
decltype(auto) dispatch_compute(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32:
      return f(float{});
    case DType::F64:
      return f(double{});
    case DType::I32:
      return f(int32_t{});
    case DType::I64:
      return f(int64_t{});
    case DType::Bool:
      return f(uint8_t{});
    default:
      break;
  }
  throw DTypeError(fmt::format("[{}] the CPU kernel does not take {}", op, dtype_name(dt)));
}

template <class F>
decltype(auto) dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32:
      return f(float{});
    case DType::F64:
      return f(double{});
    default:
      break;
  }
  throw DTypeError(fmt::format("[{}] the CPU kernel needs f32 or f64, got {}", op, dtype_name(dt)));
}

// ---- strided N-d loop ----

/// Geometry of N operands over one shape after merging dims that are contiguous in all operands.
template <int N>
struct Strided {
  int64_t ndim = 0;
  std::array<int64_t, 16> shape{};
  std::array<std::array<int64_t, 16>, N> strides{};
};

template <int N>
Strided<N> coalesce(const Shape& shape, const std::array<const Shape*, N>& strides) {
  Strided<N> g;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (g.ndim > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k) {
        if ((*strides[k])[i] * shape[i] != g.strides[k][g.ndim - 1]) merge = false;
      }
      if (merge) {
        g.shape[g.ndim - 1] *= shape[i];
        for (int k = 0; k < N; ++k) g.strides[k][g.ndim - 1] = (*strides[k])[i];
        continue;
      }
    }
    if (g.ndim == 16) throw ShapeError("[cpu] more than 16 non-mergeable dims");
    g.shape[g.ndim] = shape[i];
    for (int k = 0; k < N; ++k) g.strides[k][g.ndim] = (*strides[k])[i];
    ++g.ndim;
  }
  if (g.ndim == 0) {
    g.ndim = 1;
    g.shape[0] = 1;
    for (int k = 0; k < N; ++k) g.strides[k][0] = 0;
  }
  return g;
}

/// Calls fn(offsets, n, inner_strides) for rows [row_begin, row_end) of the coalesced geometry,
/// where a row is one run of the innermost dim; offsets are element offsets per operand.
template <int N, class F>
void for_rows(const Strided<N>& g, int64_t row_begin, int64_t row_end, F&& fn) {
  int64_t inner = g.shape[g.ndim - 1];
  std::array<int64_t, N> inner_st;
  for (int k = 0; k < N; ++k) inner_st[k] = g.strides[k][g.ndim - 1];
  std::array<int64_t, 16> idx{};
  std::array<int64_t, N> off{};
  // Decompose row_begin into outer indices.
  int64_t r = row_begin;
  for (int64_t d = g.ndim - 2; d >= 0; --d) {
    idx[d] = r % g.shape[d];
    r /= g.shape[d];
    for (int k = 0; k < N; ++k) off[k] += idx[d] * g.strides[k][d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    fn(off, inner, inner_st);
    for (int64_t d = g.ndim - 2; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < N; ++k) off[k] += g.strides[k][d];
      if (idx[d] < g.shape[d]) break;
      for (int k = 0; k < N; ++k) off[k] -= idx[d] * g.strides[k][d];
      idx[d] = 0;
    }
  }
}

template <int N>
int64_t num_rows(const Strided<N>& g) {
  int64_t r = 1;
  for (int64_t d = 0; d < g.ndim - 1; ++d) r *= g.shape[d];
  return r;
}

}  // namespace lazarus::cpu
