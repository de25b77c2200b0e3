// View ops (reshape, permute, slice, expand, squeeze...): new geometry over the same storage, each
// with its gradient, plus contiguous(), casts and clone().
#include <algorithm>
#include <numeric>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::make_view;
using detail::wrap_dim;

namespace {

// Strides for viewing x with `shape`, or empty when impossible without a copy (PyTorch's
// computeStride: split/merge only dims that are contiguous with each other).
bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape,
                  Shape& out) {
  out.assign(shape.size(), 0);
  int64_t numel = 1;
  for (int64_t d : old_shape) numel *= d;
  if (numel <= 1) {  // 0 or 1 element: any geometry works
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = int64_t(old_shape.size()) - 1; td >= 0; --td) {
    tensor_numel *= old_shape[td];
    if (td == 0 ||
        (old_shape[td - 1] != 1 && old_strides[td - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (td > 0) {
        chunk_base_stride = old_strides[td - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Shape infer_shape(Shape shape, int64_t numel, const Shape& from, const char* op) {
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0)
        throw ShapeError(fmt::format("[{}] only one dim can be -1, got {}", op, shape_str(shape)));
      infer = int64_t(i);
    } else if (shape[i] < 0) {
      throw ShapeError(
          fmt::format("[{}] invalid size {} in shape {}", op, shape[i], shape_str(shape)));
    } else {
      if (shape[i] != 0 && known > INT64_MAX / shape[i]) {
        throw ShapeError(fmt::format("[{}] shape {} overflows", op, shape_str(shape)));
      }
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0) {
      throw ShapeError(fmt::format("[{}] cannot reshape {} ({} elements) into {}", op,
                                   shape_str(from), numel, shape_str(shape)));
    }
    shape[infer] = numel / known;
  } else if (known != numel) {
    throw ShapeError(fmt::format("[{}] cannot reshape {} ({} elements) into {}", op,
                                 shape_str(from), numel, shape_str(shape)));
  }
  return shape;
}

}  // namespace

Tensor Tensor::view(Shape shape) const {
  shape = infer_shape(std::move(shape), numel(), this->shape(), "view");
  Shape st;
  if (!view_strides(this->shape(), strides(), shape, st)) {
    throw ShapeError(
        fmt::format("[view] cannot view {} with strides {} as {} without a copy; use "
                    "reshape",
                    shape_str(this->shape()), shape_str(strides()), shape_str(shape)));
  }
  Tensor out = make_view(*this, shape, st, offset());
  Shape in_shape = this->shape();
  return record("view", {*this}, out,
                [in_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(in_shape)}; });
}

Tensor Tensor::reshape(Shape shape) const {
  shape = infer_shape(std::move(shape), numel(), this->shape(), "reshape");
  Shape st;
  if (view_strides(this->shape(), strides(), shape, st)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  if (s > e)
    throw ShapeError(fmt::format("[flatten] start_dim {} > end_dim {}", start_dim, end_dim));
  Shape sh;
  for (int64_t i = 0; i < s; ++i) sh.push_back(shape()[i]);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= shape()[i];
  sh.push_back(m);
  for (int64_t i = e + 1; i < dim(); ++i) sh.push_back(shape()[i]);
  return reshape(sh);
}

Tensor Tensor::permute(std::vector<int64_t> dims) const {
  int64_t n = dim();
  if (int64_t(dims.size()) != n) {
    throw ShapeError(fmt::format("[permute] {} dims given for a {}-d tensor", dims.size(), n));
  }
  std::vector<bool> seen(n, false);
  Shape sh(n), st(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    if (seen[d]) throw ShapeError(fmt::format("[permute] dim {} repeated", dims[i]));
    seen[d] = true;
    dims[i] = d;
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, sh, st, offset());
  std::vector<int64_t> inv(n);
  for (int64_t i = 0; i < n; ++i) inv[dims[i]] = i;
  return record("permute", {*this}, out,
                [inv](const Tensor& g) { return std::vector<Tensor>{g.permute(inv)}; });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  int64_t n = dim();
  if (n == 0) {
    detail::wrap_dim(d0, n, "transpose");
    detail::wrap_dim(d1, n, "transpose");
    return *this;  // like torch: a 0-dim tensor transposes to itself
  }
  if (n < 2 && d0 == -2) throw ShapeError(fmt::format("[transpose] needs 2 dims, got {}", n));
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[d0], p[d1]);
  return permute(p);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  if (dim() == 0) throw ShapeError("[slice] cannot slice a 0-d tensor");
  d = wrap_dim(d, dim(), "slice");
  if (step <= 0) throw ShapeError(fmt::format("[slice] step must be positive, got {}", step));
  int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  int64_t len = end > start ? (end - start - 1) / step + 1 : 0;  // no overflow for huge steps
  Shape sh = shape(), st = strides();
  sh[d] = len;
  if (len > 1) st[d] *= step;  // len > 1 implies step < size, so this cannot overflow
  Tensor out = make_view(*this, sh, st, offset() + start * strides()[d]);
  Shape in_shape = shape();
  DType dt = dtype();
  return record("slice", {*this}, out, [in_shape, dt, d, start, end, step](const Tensor& g) {
    Tensor z = zeros(in_shape, g.dtype());
    Tensor dst = z.slice(d, start, end, step);
    backend_for(Device::CPU).copy(g, dst);
    (void)dt;
    return std::vector<Tensor>{z};
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  if (dim() == 0) throw ShapeError("[narrow] cannot narrow a 0-dim tensor");
  d = wrap_dim(d, dim(), "narrow");
  int64_t n = shape()[d];
  if (start < 0) start += n;
  if (start < 0 || length < 0 || start > n || length > n - start) {
    throw IndexError(fmt::format("[narrow] start {} length {} out of range for dim {} of size {}",
                                 start, length, d, n));
  }
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  if (dim() == 0) throw ShapeError("[select] cannot select from a 0-dim tensor");
  d = wrap_dim(d, dim(), "select");
  int64_t n = shape()[d];
  if (index < -n || index >= n) {
    throw IndexError(
        fmt::format("[select] index {} out of range for dim {} of size {}", index, d, n));
  }
  if (index < 0) index += n;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(Shape shape) const {
  int64_t n = dim(), m = int64_t(shape.size());
  if (m < n) {
    throw ShapeError(fmt::format("[expand] cannot expand {} to fewer dims {}",
                                 shape_str(this->shape()), shape_str(shape)));
  }
  Shape st(m, 0);
  for (int64_t i = m - 1; i >= 0; --i) {
    int64_t j = i - (m - n);
    if (j >= 0) {
      int64_t have = this->shape()[j];
      if (shape[i] == -1) shape[i] = have;
      if (have == shape[i]) {
        st[i] = strides()[j];
      } else if (have == 1) {
        st[i] = 0;
      } else {
        throw ShapeError(
            fmt::format("[expand] cannot expand {} to {}: dim {} is {} (must be 1 or {})",
                        shape_str(this->shape()), shape_str(shape), j, have, shape[i]));
      }
    }
    if (shape[i] < 0)
      throw ShapeError(fmt::format("[expand] invalid size {} in {}", shape[i], shape_str(shape)));
  }
  checked_numel(shape, "expand");
  Tensor out = make_view(*this, shape, st, offset());
  Shape in_shape = this->shape();
  return record("expand", {*this}, out, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{sum_to_shape(g, in_shape)};
  });
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return view(sh);
}

Tensor Tensor::squeeze() const {
  Shape sh;
  for (int64_t s : shape())
    if (s != 1) sh.push_back(s);
  return view(sh);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape(), st = strides();
  int64_t s = d < dim() ? st[d] * sh[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, s);
  Tensor out = make_view(*this, sh, st, offset());
  return record("unsqueeze", {*this}, out,
                [d](const Tensor& g) { return std::vector<Tensor>{g.squeeze(d)}; });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

void Tensor::copy_(const Tensor& src) const {
  if (!src.defined()) throw Error("[copy_] source is an undefined tensor");
  if (grad_enabled() && requires_grad()) {
    throw AutogradError(
        "[copy_] in-place write to a tensor that requires grad while grad mode is "
        "on; wrap the update in NoGradGuard");
  }
  Shape s = broadcast_shapes(src.shape(), shape(), "copy_");
  if (s != shape()) {
    throw ShapeError(fmt::format("[copy_] source {} does not broadcast to {}",
                                 shape_str(src.shape()), shape_str(shape())));
  }
  if (numel() == 0) return;
  NoGradGuard ng;
  // Source and destination in one storage may overlap: read through a copy.
  Tensor from = src.storage() == storage() ? src.detach().clone() : src.detach();
  backend_for(device()).copy(from.expand(shape()), *this);
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  if (numel() > 0) backend_for(device()).copy(*this, out);
  return record("clone", {*this}, out, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt);
  if (numel() > 0) backend_for(device()).copy(*this, out);
  if (!is_floating(dt)) return out;  // integer results carry no gradient
  DType src = dtype();
  return record("to", {*this}, out,
                [src](const Tensor& g) { return std::vector<Tensor>{g.to(src)}; });
}

}  // namespace lazarus
