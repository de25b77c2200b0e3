// matmul (torch.matmul semantics, batch broadcasting) and linear, through the backend's one GEMM.
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::require_defined;
using detail::to_compute;

namespace {

// A (Bt, R, C) view of x (..., R, C) whose batch dims are already `batch`; copies only when the
// batch dims cannot be folded into one stride.
Tensor as_batched(const Tensor& x, const Shape& batch) {
  Shape full = batch;
  full.push_back(x.size(-2));
  full.push_back(x.size(-1));
  Tensor e = x.expand(full);
  int64_t bt = 1;
  for (int64_t s : batch) bt *= s;
  // Fold batch dims if they form a single arithmetic progression.
  int64_t nb = int64_t(batch.size());
  int64_t bstride = 0;
  bool ok = true;
  int64_t expect = -1;
  for (int64_t i = nb - 1; i >= 0; --i) {
    if (full[i] == 1) continue;
    int64_t st = e.strides()[i];
    if (expect < 0) {
      bstride = st;
      expect = st * full[i];
    } else if (st != expect) {
      ok = false;
      break;
    } else {
      expect = st * full[i];
    }
  }
  if (!ok) {
    e = e.contiguous();
    bstride = e.size(-1) * e.size(-2);
  }
  return detail::make_view(e, {bt, full[nb], full[nb + 1]},
                           {bstride, e.strides()[nb], e.strides()[nb + 1]}, e.offset());
}

// Core for a.dim() >= 2 and b.dim() >= 2 (no autograd).
Tensor matmul_raw(const Tensor& a, const Tensor& b) {
  NoGradGuard ng;
  // A bf16 / f16 right operand (a weight, in inference) stays in its dtype: the backend widens it
  // in registers or panel by panel instead of converting the whole matrix on every call.
  Tensor ac = to_compute(a);
  Tensor bc = (b.dtype() == DType::BF16 || b.dtype() == DType::F16) && ac.dtype() == DType::F32
                  ? b
                  : to_compute(b);
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.size(-2) != K) {
    throw ShapeError(fmt::format("[matmul] inner dims differ: a {} vs b {}", shape_str(a.shape()),
                                 shape_str(b.shape())));
  }
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ab, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  checked_numel(out_shape, "matmul");
  Tensor out;
  if (b.dim() == 2 && a.dim() > 2) {
    // Fold a's batch into M: one GEMM instead of a batch of small ones.
    int64_t rows = ac.numel() / std::max<int64_t>(K, 1);
    if (K == 0) rows = checked_numel(Shape(a.shape().begin(), a.shape().end() - 1), "matmul");
    Tensor a2 = ac.reshape({rows, K});
    Tensor o = empty({a2.size(0), N}, ac.dtype());
    if (o.numel() > 0) {
      if (K == 0)
        backend_for(Device::CPU).fill(o, 0.0);
      else
        backend_for(Device::CPU).matmul(a2.unsqueeze(0), bc.unsqueeze(0), o.unsqueeze(0));
    }
    out = o.reshape(out_shape);
  } else {
    out = empty(out_shape, ac.dtype());
    if (out.numel() > 0) {
      int64_t bt = 1;
      for (int64_t s : batch) bt *= s;
      Tensor o3 = out.view({bt, M, N});
      if (K == 0)
        backend_for(Device::CPU).fill(o3, 0.0);
      else
        backend_for(Device::CPU).matmul(as_batched(ac, batch), as_batched(bc, batch), o3);
    }
  }
  return out.dtype() == a.dtype() ? out : out.to(a.dtype());
}

Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  Tensor out = matmul_raw(a, b);
  if (!any_requires_grad({&a, &b})) return out;
  Tensor ad = a.detach(), bd = b.detach();
  return record("matmul", {a, b}, out, [ad, bd](const Tensor& g) {
    Tensor ga = sum_to_shape(matmul(g, bd.transpose(-1, -2)), ad.shape());
    Tensor gb;
    if (bd.dim() == 2 && ad.dim() > 2) {
      int64_t K = ad.size(-1), N = bd.size(-1);
      int64_t rows = checked_numel(Shape(ad.shape().begin(), ad.shape().end() - 1), "matmul");
      gb = matmul(ad.reshape({rows, K}).transpose(0, 1), g.reshape({rows, N}));
    } else {
      gb = sum_to_shape(matmul(ad.transpose(-1, -2), g), bd.shape());
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  require_defined(a, "matmul", "a");
  require_defined(b, "matmul", "b");
  if (!is_floating(a.dtype()) || a.dtype() != b.dtype()) {
    throw DTypeError(fmt::format("[matmul] needs two floating tensors of one dtype, got {} and {}",
                                 dtype_name(a.dtype()), dtype_name(b.dtype())));
  }
  if (a.dim() == 0 || b.dim() == 0) {
    throw ShapeError(fmt::format("[matmul] both operands need at least 1 dim, got {} and {}",
                                 shape_str(a.shape()), shape_str(b.shape())));
  }
  if (a.dim() == 1 && b.dim() == 1) {
    if (a.size(0) != b.size(0)) {
      throw ShapeError(fmt::format("[matmul] inner dims differ: a {} vs b {}", shape_str(a.shape()),
                                   shape_str(b.shape())));
    }
    return matmul_nd(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a.dim() == 1) return matmul_nd(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul_nd(a, b.unsqueeze(1)).squeeze(-1);
  return matmul_nd(a, b);
}

namespace {
// x W^T for a block-quantized W (N, K): the backend's integer / widened-panel product, in f32;
// differentiable in x (through the dequantized weight), not in W.
Tensor linear_quantized(const Tensor& x, const Tensor& weight) {
  if (!weight.is_contiguous()) {
    throw DTypeError(fmt::format("[linear] a {} weight must be contiguous (shape {})",
                                 dtype_name(weight.dtype()), shape_str(weight.shape())));
  }
  if (x.dtype() != DType::F32 && x.dtype() != DType::BF16 && x.dtype() != DType::F16) {
    throw DTypeError(fmt::format("[linear] a {} weight takes f32, bf16 or f16 input, got {}",
                                 dtype_name(weight.dtype()), dtype_name(x.dtype())));
  }
  const int64_t N = weight.size(0), K = weight.size(1);
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  const int64_t rows = checked_numel(lead, "linear");
  Tensor out = empty({rows, N}, DType::F32);
  {
    NoGradGuard ng;
    Tensor x2 = x.to(DType::F32).contiguous().reshape({rows, K});
    if (out.numel() > 0) backend_for(Device::CPU).linear_quantized(x2, weight, out);
  }
  lead.push_back(N);
  Tensor y = out.reshape(lead);
  if (x.dtype() != DType::F32) y = y.to(x.dtype());
  if (!any_requires_grad({&x})) return y;
  return record("linear_quantized", {x}, y, [weight](const Tensor& g) {
    return std::vector<Tensor>{matmul(g.to(DType::F32), weight.to(DType::F32)).to(g.dtype())};
  });
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  require_defined(x, "linear", "x");
  require_defined(weight, "linear", "weight");
  if (weight.dim() != 2) {
    throw ShapeError(
        fmt::format("[linear] weight must be 2-D (out, in), got {}", shape_str(weight.shape())));
  }
  if (x.dim() == 0 || x.size(-1) != weight.size(1)) {
    throw ShapeError(fmt::format("[linear] x {} last dim must equal weight in_features ({})",
                                 shape_str(x.shape()), weight.size(1)));
  }
  // f32 activations against a bf16 / f16 weight (a GGUF file's, used in place): the weight is
  // widened inside the product; with gradients, through a converted copy.
  const bool half_weight = (weight.dtype() == DType::BF16 || weight.dtype() == DType::F16) &&
                           x.dtype() == DType::F32;
  Tensor y;
  if (is_quantized(weight.dtype()))
    y = linear_quantized(x, weight);
  else if (half_weight && !any_requires_grad({&x, &weight}))
    y = x.dim() == 1 ? matmul_raw(x.unsqueeze(0), weight.t()).squeeze(0)
                     : matmul_raw(x, weight.t());
  else
    y = matmul(x, (half_weight ? weight.to(DType::F32) : weight).t());
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.size(0) != weight.size(0)) {
      throw ShapeError(fmt::format("[linear] bias must be ({},), got {}", weight.size(0),
                                   shape_str(bias.shape())));
    }
    y = y + bias;
  }
  return y;
}

}  // namespace lazarus
