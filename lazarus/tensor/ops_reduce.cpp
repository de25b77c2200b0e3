// Reductions (sum, mean, amax/amin, arg-reductions, var, logsumexp), cumsum and softmax.
#include <algorithm>
#include <cmath>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::cpu;
using detail::require_defined;
using detail::require_floating;
using detail::to_compute;
using detail::wrap_dim;

namespace detail {
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim,
                                    const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    throw ShapeError(fmt::format("[{}] a dim appears twice in the reduction dims", op));
  }
  if (ndim == 0) out.clear();
  return out;
}
}  // namespace detail

namespace {

Shape keepdim_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k = s;
  for (int64_t d : dims) k[d] = 1;
  return k;
}
Shape dropdim_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k;
  for (int64_t i = 0; i < int64_t(s.size()); ++i) {
    if (std::find(dims.begin(), dims.end(), i) == dims.end()) k.push_back(s[i]);
  }
  return k;
}

// Raw reduction in the compute dtype; returns the keepdim-shaped result in `out_dtype`.
Tensor reduce_raw(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, DType out_dtype,
                  const char* name) {
  NoGradGuard ng;
  Tensor xc = to_compute(x);
  if ((op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax ||
       op == ReduceOp::ArgMin)) {
    for (int64_t d : dims) {
      if (x.shape()[d] == 0) {
        throw ShapeError(fmt::format("[{}] cannot reduce over a zero-size dim {} of {}", name, d,
                                     shape_str(x.shape())));
      }
    }
  }
  if (op == ReduceOp::Sum && !is_floating(xc.dtype())) xc = xc.to(DType::I64);
  DType kd = (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) ? DType::I64 : xc.dtype();
  Tensor out = empty(keepdim_shape(x.shape(), dims), kd);
  if (out.numel() > 0) {
    if (x.numel() == 0)
      cpu().fill(out, 0.0);
    else
      cpu().reduce(op, xc, dims, out);
  }
  return out.dtype() == out_dtype ? out : out.to(out_dtype);
}

Tensor finish(Tensor r, const Shape& xs, const std::vector<int64_t>& dims, bool keepdim) {
  return keepdim ? r : r.reshape(dropdim_shape(xs, dims));
}
}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  require_defined(x, "sum");
  dims = detail::normalize_dims(dims, x.dim(), "sum");
  DType rt = is_floating(x.dtype()) ? x.dtype() : DType::I64;
  Tensor r = reduce_raw(ReduceOp::Sum, x, dims, rt, "sum");
  Shape xs = x.shape();
  Shape ks = r.shape();
  r = record("sum", {x}, r, [xs, ks](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(ks).expand(xs).contiguous()};
  });
  return finish(r, xs, dims, keepdim);
}

Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  require_defined(x, "mean");
  require_floating(x, "mean");
  dims = detail::normalize_dims(dims, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
  Tensor r;
  {
    NoGradGuard ng;
    Tensor s = reduce_raw(ReduceOp::Sum, x, dims, compute_dtype(x.dtype()), "mean");
    r = div(s, double(n));  // NaN for n == 0, as PyTorch
    if (r.dtype() != x.dtype()) r = r.to(x.dtype());
  }
  Shape xs = x.shape(), ks = r.shape();
  r = record("mean", {x}, r, [xs, ks, n](const Tensor& g) {
    return std::vector<Tensor>{(g / double(n)).reshape(ks).expand(xs).contiguous()};
  });
  return finish(r, xs, dims, keepdim);
}

namespace {
Tensor extreme(const Tensor& x, std::vector<int64_t> dims, bool keepdim, bool is_max) {
  const char* name = is_max ? "amax" : "amin";
  require_defined(x, name);
  dims = detail::normalize_dims(dims, x.dim(), name);
  Tensor r = reduce_raw(is_max ? ReduceOp::Max : ReduceOp::Min, x, dims, x.dtype(), name);
  if (is_floating(x.dtype()) && any_requires_grad({&x})) {
    Tensor xd = x.detach(), rd = r.detach();
    Shape xs = x.shape(), ks = r.shape();
    r = record(name, {x}, r, [xd, rd, xs, ks, dims](const Tensor& g) {
      // Ties share the gradient evenly (PyTorch's amax/amin).
      Tensor m = eq(xd, rd).to(g.dtype());
      Tensor cnt = sum(m, dims, true);
      return std::vector<Tensor>{g.reshape(ks) * m / cnt};
    });
  }
  return finish(r, x.shape(), dims, keepdim);
}
Tensor arg_extreme(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  require_defined(x, name);
  int64_t d = wrap_dim(dim, x.dim(), name);
  std::vector<int64_t> dims = x.dim() == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{d};
  if (x.numel() == 0) {
    throw ShapeError(
        fmt::format("[{}] cannot take {} of an empty tensor {}", name, name, shape_str(x.shape())));
  }
  if (dims.empty()) return zeros({}, DType::I64);
  Tensor r = reduce_raw(is_max ? ReduceOp::ArgMax : ReduceOp::ArgMin, x, dims, DType::I64, name);
  return finish(r, x.shape(), dims, keepdim);
}
}  // namespace

Tensor amax(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  return extreme(x, dims, keepdim, true);
}
Tensor amin(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  return extreme(x, dims, keepdim, false);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extreme(x, dim, keepdim, true);
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extreme(x, dim, keepdim, false);
}

Tensor var(const Tensor& x, std::vector<int64_t> dims, int64_t correction, bool keepdim) {
  require_defined(x, "var");
  require_floating(x, "var");
  dims = detail::normalize_dims(dims, x.dim(), "var");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.shape()[d];
  Tensor xc = to_compute(x);
  Tensor mu = mean(xc, dims, true);
  Tensor dev = xc - mu;
  Tensor r = sum(dev * dev, dims, keepdim) / double(std::max<int64_t>(n - correction, 0));
  return r.dtype() == x.dtype() ? r : r.to(x.dtype());
}

Tensor logsumexp(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  require_defined(x, "logsumexp");
  require_floating(x, "logsumexp");
  dims = detail::normalize_dims(dims, x.dim(), "logsumexp");
  Tensor xc = to_compute(x);
  Tensor m;
  {
    NoGradGuard ng;
    if (x.numel() == 0) {
      m = zeros(keepdim_shape(x.shape(), dims), xc.dtype());
    } else {
      m = amax(xc, dims, true);
      // An all -inf row keeps max 0 so exp(x - m) stays 0 and the result is -inf.
      Tensor inf = full({}, INFINITY, m.dtype());
      m = where(eq(abs(m), inf), zeros({}, m.dtype()), m);
    }
  }
  Tensor r = log(sum(exp(xc - m), dims, true)) + m;
  if (!keepdim) r = r.reshape(dropdim_shape(x.shape(), dims));
  return r.dtype() == x.dtype() ? r : r.to(x.dtype());
}

Tensor cumsum(const Tensor& x, int64_t dim) {
  require_defined(x, "cumsum");
  int64_t d = wrap_dim(dim, x.dim(), "cumsum");
  DType rt = is_floating(x.dtype()) ? x.dtype() : DType::I64;
  Tensor out;
  {
    NoGradGuard ng;
    Tensor xc = is_floating(x.dtype()) ? to_compute(x) : x.to(DType::I64);
    out = empty(x.shape(), xc.dtype());
    if (out.numel() > 0) cpu().cumsum(xc, x.dim() == 0 ? 0 : d, out);
    if (out.dtype() != rt) out = out.to(rt);
  }
  if (!is_floating(rt)) return out;
  return record("cumsum", {x}, out, [d](const Tensor& g) {
    // Reverse cumulative sum: total - cumsum(g) + g.
    Tensor total = g.dim() == 0 ? g : sum(g, {d}, true);
    return std::vector<Tensor>{total - cumsum(g, d) + g};
  });
}

namespace {
Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  require_defined(x, name);
  require_floating(x, name);
  int64_t d = wrap_dim(dim, x.dim(), name);
  Tensor out;
  {
    NoGradGuard ng;
    Tensor xc = to_compute(x);
    int64_t last = std::max<int64_t>(x.dim() - 1, 0);
    Tensor xt = (x.dim() == 0 ? xc.reshape({1}) : xc.transpose(d, last)).contiguous();
    Tensor o = empty(xt.shape(), xt.dtype());
    if (o.numel() > 0) cpu().softmax(xt, log, o);
    out = x.dim() == 0 ? o.reshape({}) : o.transpose(d, last).contiguous();
    if (out.dtype() != x.dtype()) out = out.to(x.dtype());
  }
  if (!any_requires_grad({&x})) return out;
  Tensor y = out.detach();
  return record(name, {x}, out, [y, d, log](const Tensor& g) {
    int64_t dd = y.dim() == 0 ? 0 : d;
    if (log) return std::vector<Tensor>{g - exp(y) * sum(g, {dd}, true)};
    return std::vector<Tensor>{y * (g - sum(g * y, {dd}, true))};
  });
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace lazarus
