// Helpers shared by the op implementations (not part of the public API).
#pragma once

#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::detail {

/// The backend the ops run on (CPU today; a device argument joins when CUDA does).
inline Backend& cpu() { return backend_for(Device::CPU); }

/// Wraps a possibly negative dim into [0, ndim); throws ShapeError naming `op`.
inline int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;  // 0-dim tensors accept dim 0 / -1 like PyTorch
  if (d < -n || d >= n) {
    throw ShapeError(fmt::format("[{}] dim {} out of range for a {}-d tensor", op, d, ndim));
  }
  return d < 0 ? d + n : d;
}

/// A view sharing x's storage with new geometry (no autograd).
inline Tensor make_view(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  auto im = std::make_shared<TensorImpl>();
  im->storage = x.storage();
  im->shape = std::move(shape);
  im->strides = std::move(strides);
  im->offset = offset;
  im->dtype = x.dtype();
  return Tensor(std::move(im));
}

/// Throws DTypeError unless x is floating.
inline void require_floating(const Tensor& x, const char* op, const char* what = "input") {
  if (!is_floating(x.dtype())) {
    throw DTypeError(
        fmt::format("[{}] {} must be a floating dtype, got {}", op, what, dtype_name(x.dtype())));
  }
}

inline void require_defined(const Tensor& x, const char* op, const char* what = "input") {
  if (!x.defined()) throw Error(fmt::format("[{}] {} is an undefined tensor", op, what));
}

/// x converted to its compute dtype (f32 for bf16/f16), else x itself.
inline Tensor to_compute(const Tensor& x) {
  DType c = compute_dtype(x.dtype());
  return c == x.dtype() ? x : x.to(c);
}

/// Normalises a dims list: wraps, sorts, rejects duplicates; empty = all dims.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

}  // namespace lazarus::detail
