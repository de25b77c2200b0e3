// Fused neural-network ops: rms_norm, layer_norm, rope, scaled-dot-product attention. Forward runs
// the backend's fused kernel; gradients are composed from plain ops (see ops_reference.h).
#include <cmath>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/ops_reference.h"
#include "lazarus/tensor/random.h"

namespace lazarus {

using detail::cpu;
using detail::require_defined;
using detail::require_floating;
using detail::to_compute;

namespace {

void check_norm_param(const Tensor& p, const Tensor& x, const char* op, const char* what) {
  if (!p.defined()) return;
  if (p.dim() != 1 || p.size(0) != x.size(-1)) {
    throw ShapeError(fmt::format("[{}] {} must have shape ({},), got {}", op, what, x.size(-1),
                                 shape_str(p.shape())));
  }
  require_floating(p, op, what);
}

Tensor maybe_compute(const Tensor& t) { return t.defined() ? to_compute(t).contiguous() : t; }
}  // namespace

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  require_defined(x, "rms_norm");
  require_floating(x, "rms_norm");
  if (x.dim() == 0) throw ShapeError("[rms_norm] x needs at least 1 dim");
  check_norm_param(weight, x, "rms_norm", "weight");
  Tensor out;
  {
    NoGradGuard ng;
    Tensor xc = to_compute(x).contiguous();
    Tensor o = empty(x.shape(), xc.dtype());
    if (o.numel() > 0) cpu().rms_norm(xc, maybe_compute(weight), eps, o);
    out = o.dtype() == x.dtype() ? o : o.to(x.dtype());
  }
  if (!any_requires_grad({&x, &weight})) return out;
  Tensor xd = x.detach(), wd = weight.defined() ? weight.detach() : Tensor();
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  return record("rms_norm", inputs, out, [xd, wd, eps](const Tensor& g) {
    Tensor xc = to_compute(xd), gc = to_compute(g);
    Tensor r = rsqrt(mean(xc * xc, {-1}, true) + eps);
    Tensor xhat = xc * r;
    Tensor gxhat = wd.defined() ? gc * to_compute(wd) : gc;
    Tensor gx = r * (gxhat - xhat * mean(gxhat * xhat, {-1}, true));
    std::vector<Tensor> gs{gx.to(xd.dtype())};
    if (wd.defined()) gs.push_back(sum_to_shape(gc * xhat, wd.shape()).to(wd.dtype()));
    return gs;
  });
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  require_defined(x, "layer_norm");
  require_floating(x, "layer_norm");
  if (x.dim() == 0) throw ShapeError("[layer_norm] x needs at least 1 dim");
  check_norm_param(weight, x, "layer_norm", "weight");
  check_norm_param(bias, x, "layer_norm", "bias");
  Tensor out;
  {
    NoGradGuard ng;
    Tensor xc = to_compute(x).contiguous();
    Tensor o = empty(x.shape(), xc.dtype());
    if (o.numel() > 0) cpu().layer_norm(xc, maybe_compute(weight), maybe_compute(bias), eps, o);
    out = o.dtype() == x.dtype() ? o : o.to(x.dtype());
  }
  if (!any_requires_grad({&x, &weight, &bias})) return out;
  Tensor xd = x.detach();
  Tensor wd = weight.defined() ? weight.detach() : Tensor();
  Tensor bd = bias.defined() ? bias.detach() : Tensor();
  std::vector<Tensor> inputs{x, weight, bias};
  return record("layer_norm", inputs, out, [xd, wd, bd, eps](const Tensor& g) {
    Tensor xc = to_compute(xd), gc = to_compute(g);
    Tensor mu = mean(xc, {-1}, true);
    Tensor d = xc - mu;
    Tensor r = rsqrt(mean(d * d, {-1}, true) + eps);
    Tensor xhat = d * r;
    Tensor gxhat = wd.defined() ? gc * to_compute(wd) : gc;
    Tensor gx = r * (gxhat - mean(gxhat, {-1}, true) - xhat * mean(gxhat * xhat, {-1}, true));
    std::vector<Tensor> gs{gx.to(xd.dtype()), Tensor(), Tensor()};
    if (wd.defined()) gs[1] = sum_to_shape(gc * xhat, wd.shape()).to(wd.dtype());
    if (bd.defined()) gs[2] = sum_to_shape(gc, bd.shape()).to(bd.dtype());
    return gs;
  });
}

std::pair<Tensor, Tensor> rope_tables(int64_t dim, int64_t max_positions, double theta) {
  if (dim <= 0 || dim % 2 != 0) {
    throw ShapeError(fmt::format("[rope_tables] dim must be positive and even, got {}", dim));
  }
  if (max_positions < 0) {
    throw ShapeError(
        fmt::format("[rope_tables] max_positions must be >= 0, got {}", max_positions));
  }
  if (!(theta > 0)) throw ShapeError(fmt::format("[rope_tables] theta must be > 0, got {}", theta));
  int64_t half = dim / 2;
  checked_numel(Shape{max_positions, half}, "rope_tables");
  Tensor c = empty({max_positions, half}, DType::F32), s = empty({max_positions, half}, DType::F32);
  float* pc = c.data<float>();
  float* ps = s.data<float>();
  // Mirrors HF: inv_freq = 1 / theta^(2i/dim) and angle = t * inv_freq, all in float32.
  std::vector<float> inv(half);
  for (int64_t i = 0; i < half; ++i) {
    inv[i] = 1.0f / std::pow(float(theta), float(2 * i) / float(dim));
  }
  for (int64_t t = 0; t < max_positions; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      float a = float(t) * inv[i];
      pc[t * half + i] = std::cos(a);
      ps[t * half + i] = std::sin(a);
    }
  }
  return {c, s};
}

Tensor rope(const Tensor& x, const Tensor& cos_t, const Tensor& sin_t, int64_t offset,
            bool interleaved) {
  require_defined(x, "rope");
  require_defined(cos_t, "rope", "cos");
  require_defined(sin_t, "rope", "sin");
  require_floating(x, "rope");
  if (x.dim() < 2)
    throw ShapeError(fmt::format("[rope] x needs (..., T, Dh), got {}", shape_str(x.shape())));
  int64_t T = x.size(-2), Dh = x.size(-1);
  if (Dh % 2 != 0) throw ShapeError(fmt::format("[rope] head dim must be even, got {}", Dh));
  if (cos_t.dim() != 2 || cos_t.size(1) != Dh / 2 || sin_t.shape() != cos_t.shape()) {
    throw ShapeError(fmt::format("[rope] cos/sin must both be (T_max, {}), got {} and {}", Dh / 2,
                                 shape_str(cos_t.shape()), shape_str(sin_t.shape())));
  }
  if (offset < 0 || offset > cos_t.size(0) - T) {
    throw IndexError(fmt::format("[rope] positions [{}, {}) exceed the table's {} positions",
                                 offset, offset + T, cos_t.size(0)));
  }
  auto run = [&](const Tensor& in, bool inverse) {
    NoGradGuard ng;
    Tensor xc = to_compute(in).contiguous();
    Tensor o = empty(in.shape(), xc.dtype());
    Tensor c = cos_t.detach().to(xc.dtype()).contiguous(),
           s = sin_t.detach().to(xc.dtype()).contiguous();
    if (o.numel() > 0) cpu().rope(xc, c, s, offset, interleaved, inverse, o);
    return o.dtype() == in.dtype() ? o : o.to(in.dtype());
  };
  Tensor out = run(x, false);
  if (!any_requires_grad({&x})) return out;
  Tensor cd = cos_t.detach(), sd = sin_t.detach();
  return record("rope", {x}, out, [cd, sd, offset, interleaved](const Tensor& g) {
    Tensor gc = to_compute(g).contiguous();
    Tensor o = empty(g.shape(), gc.dtype());
    if (o.numel() > 0) {
      cpu().rope(gc, cd.to(gc.dtype()).contiguous(), sd.to(gc.dtype()).contiguous(), offset,
                 interleaved, true, o);
    }
    return std::vector<Tensor>{o.to(g.dtype())};
  });
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, const AttentionOptions& opts) {
  const char* op = "attention";
  require_defined(q, op, "q");
  require_defined(k, op, "k");
  require_defined(v, op, "v");
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) {
    throw ShapeError(fmt::format("[attention] q, k, v must be 4-D (B, H, T, Dh), got {}, {}, {}",
                                 shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape())));
  }
  require_floating(q, op, "q");
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype()) {
    throw DTypeError(fmt::format("[attention] q, k, v must share a dtype, got {}, {}, {}",
                                 dtype_name(q.dtype()), dtype_name(k.dtype()),
                                 dtype_name(v.dtype())));
  }
  int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Dh = q.size(3);
  int64_t Hkv = k.size(1), Tk = k.size(2);
  if (k.size(0) != B || v.size(0) != B || v.size(1) != Hkv || v.size(2) != Tk || k.size(3) != Dh) {
    throw ShapeError(fmt::format("[attention] k {} and v {} do not fit q {}", shape_str(k.shape()),
                                 shape_str(v.shape()), shape_str(q.shape())));
  }
  if (Hkv == 0 || H % Hkv != 0) {
    throw ShapeError(
        fmt::format("[attention] query heads {} must be a multiple of kv heads {}", H, Hkv));
  }
  if (opts.window < 0)
    throw ShapeError(fmt::format("[attention] window must be >= 0, got {}", opts.window));
  Shape full_shape{B, H, Tq, Tk};
  if (mask.defined()) {
    Shape bs = broadcast_shapes(mask.shape(), full_shape, op);
    if (bs != full_shape) {
      throw ShapeError(fmt::format("[attention] mask {} does not broadcast to {}",
                                   shape_str(mask.shape()), shape_str(full_shape)));
    }
  }
  if (!(opts.dropout >= 0.0 && opts.dropout <= 1.0)) {
    throw ConfigError(fmt::format("[attention] dropout must be in [0, 1], got {}", opts.dropout));
  }
  if (opts.dropout_keep.defined()) {
    if (opts.dropout == 0.0) {
      throw ConfigError(
          "[attention] dropout_keep is set but dropout is 0: set the dropout "
          "probability the mask was drawn with");
    }
    if (opts.dropout_keep.dtype() != DType::Bool) {
      throw DTypeError(fmt::format("[attention] dropout_keep must be bool, got {}",
                                   dtype_name(opts.dropout_keep.dtype())));
    }
    if (opts.dropout_keep.shape() != full_shape) {
      throw ShapeError(fmt::format("[attention] dropout_keep {} must be {}",
                                   shape_str(opts.dropout_keep.shape()), shape_str(full_shape)));
    }
  }
  // Dropout needs the probabilities themselves, and a mask that wants its own gradient is
  // differentiated through the scores: both take the composed path (O(Tq x Tk)).
  if (opts.dropout > 0.0 || any_requires_grad({&mask})) {
    return reference::scaled_dot_product_attention(q, k, v, mask, opts);
  }
  const bool grad = any_requires_grad({&q, &k, &v});
  const double scale = opts.scale.value_or(1.0 / std::sqrt(double(Dh)));
  const int64_t qoff = opts.query_offset.value_or(Tk - Tq);
  Tensor qc, kc, vc, mc, oc, lse, out;
  {
    NoGradGuard ng;
    // k and v may be views with contiguous rows (a KV cache's prefix of its buffer): read in
    // place (the backward takes them whole).
    auto rows_contiguous = [grad](const Tensor& t) {
      Tensor c = to_compute(t);
      return !grad && c.stride(3) == 1 && c.stride(2) == c.size(3) ? c : c.contiguous();
    };
    qc = to_compute(q).contiguous();
    kc = rows_contiguous(k);
    vc = rows_contiguous(v);
    if (mask.defined()) {
      if (mask.dtype() == DType::Bool) {
        mc = where(mask, zeros({}, qc.dtype()), full({}, -INFINITY, qc.dtype()));
      } else {
        mc = mask.to(qc.dtype());
      }
      mc = mc.expand(full_shape);
    }
    oc = empty({B, H, Tq, v.size(3)}, qc.dtype());
    // With gradients the forward also keeps each query row's log-sum-exp, and the backward
    // recomputes the probabilities block by block from it (FlashAttention-2): training never
    // forms the Tq x Tk matrix either.
    if (grad) lse = empty({B, H, Tq}, qc.dtype());
    if (oc.numel() > 0)
      cpu().attention(qc, kc, vc, mc, opts.causal, opts.window, scale, qoff, oc, lse);
    out = oc.dtype() == q.dtype() ? oc : oc.to(q.dtype());
  }
  if (!grad) return out;
  // Saved detached: oc may be `out` itself, whose node must not hold its own output.
  qc = qc.detach();
  kc = kc.detach();
  vc = vc.detach();
  oc = oc.detach();
  const bool causal = opts.causal;
  const int64_t window = opts.window;
  const DType qt = q.dtype(), kt = k.dtype(), vt = v.dtype();
  return record(
      "attention", {q, k, v}, out,
      [qc, kc, vc, mc, oc, lse, causal, window, scale, qoff, qt, kt, vt](const Tensor& g) {
        Tensor gc = to_compute(g).contiguous();
        Tensor dq = zeros(qc.shape(), qc.dtype());
        Tensor dk = zeros(kc.shape(), kc.dtype()), dv = zeros(vc.shape(), vc.dtype());
        if (qc.numel() > 0 && kc.numel() > 0) {
          cpu().attention_backward(qc, kc, vc, mc, causal, window, scale, qoff, oc, lse, gc, dq, dk,
                                   dv);
        }
        return std::vector<Tensor>{dq.to(qt), dk.to(kt), dv.to(vt)};
      });
}

Tensor attention_dropout_keep(const Shape& shape, double p, Generator* gen) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw ConfigError(fmt::format("[attention] dropout must be in [0, 1], got {}", p));
  }
  // The draw nn::Dropout makes: u ~ U[0, 1) in f32 from the counter-based stream, kept when u >= p.
  return ge(rand(shape, DType::F32, 0.0, 1.0, gen), full({}, p, DType::F32));
}

}  // namespace lazarus
