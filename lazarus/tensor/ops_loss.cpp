// Fused losses: row-wise cross-entropy and cross-entropy through a linear layer (the LM head)
// that never holds the whole logits matrix.
#include <algorithm>

#include <fmt/format.h>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/internal.h"
#include "lazarus/tensor/ops.h"

namespace lazarus {

using detail::cpu;
using detail::require_defined;
using detail::require_floating;
using detail::to_compute;

namespace {

// Targets as contiguous i64, each in [0, C) or ignore_index; returns how many are counted.
Tensor checked_targets(const Tensor& targets, int64_t rows, int64_t C, int64_t ignore_index,
                       const char* op, int64_t* counted) {
  require_defined(targets, op, "targets");
  if (targets.dtype() != DType::I64 && targets.dtype() != DType::I32) {
    throw DTypeError(fmt::format("[{}] targets must be integer class ids, got {}", op,
                                 dtype_name(targets.dtype())));
  }
  if (targets.dim() != 1 || targets.size(0) != rows) {
    throw ShapeError(fmt::format("[{}] targets must have shape ({},), got {}", op, rows,
                                 shape_str(targets.shape())));
  }
  Tensor t = targets.to(DType::I64).contiguous();
  const int64_t* p = t.data<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < rows; ++i) {
    if (p[i] == ignore_index) continue;
    if (p[i] < 0 || p[i] >= C) {
      throw IndexError(
          fmt::format("[{}] target {} at position {} is outside [0, {}) and not ignore_index {}",
                      op, p[i], i, C, ignore_index));
    }
    ++n;
  }
  *counted = n;
  return t;
}

void check_smoothing(double s, const char* op) {
  if (!(s >= 0.0 && s <= 1.0)) {
    throw ConfigError(fmt::format("[{}] label_smoothing must be in [0, 1], got {}", op, s));
  }
}

}  // namespace

Tensor cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                          double label_smoothing) {
  const char* op = "cross_entropy_rows";
  require_defined(logits, op, "logits");
  require_floating(logits, op, "logits");
  if (logits.dim() != 2) {
    throw ShapeError(
        fmt::format("[{}] logits must be (N, C), got {}", op, shape_str(logits.shape())));
  }
  check_smoothing(label_smoothing, op);
  const int64_t N = logits.size(0), C = logits.size(1);
  int64_t counted = 0;
  Tensor t = checked_targets(targets, N, C, ignore_index, op, &counted);
  if (C == 0 && counted > 0) throw ShapeError(fmt::format("[{}] logits have 0 classes", op));
  Tensor x = to_compute(logits).contiguous();
  Tensor loss = empty({N}, x.dtype());
  if (N > 0 && C > 0)
    cpu().cross_entropy_rows(x, t, ignore_index, label_smoothing, loss, Tensor(), 0);
  if (N > 0 && C == 0) cpu().fill(loss, 0.0);
  if (!any_requires_grad({&logits})) return loss;
  const DType in_dtype = logits.dtype();
  return record(op, {logits}, loss,
                [x, t, ignore_index, label_smoothing, in_dtype](const Tensor& g) {
                  // d loss_r / d x_r recomputed from the saved logits, then scaled by the upstream
                  // row gradient.
                  Tensor d = empty(x.shape(), x.dtype());
                  if (d.numel() > 0)
                    cpu().cross_entropy_rows(x, t, ignore_index, label_smoothing,
                                             empty({x.size(0)}, x.dtype()), d, 1.0);
                  Tensor gx = d * g.to(x.dtype()).unsqueeze(1);
                  return std::vector<Tensor>{gx.dtype() == in_dtype ? gx : gx.to(in_dtype)};
                });
}

Tensor linear_cross_entropy(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& targets, int64_t ignore_index, double label_smoothing,
                            int64_t chunk_rows) {
  const char* op = "linear_cross_entropy";
  require_defined(x, op, "x");
  require_defined(weight, op, "weight");
  require_floating(x, op, "x");
  require_floating(weight, op, "weight");
  if (x.dim() != 2 || weight.dim() != 2 || x.size(1) != weight.size(1)) {
    throw ShapeError(fmt::format("[{}] x (N, D) and weight (V, D) expected, got {} and {}", op,
                                 shape_str(x.shape()), shape_str(weight.shape())));
  }
  const int64_t N = x.size(0), D = x.size(1), V = weight.size(0);
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != V)) {
    throw ShapeError(
        fmt::format("[{}] bias must have shape ({},), got {}", op, V, shape_str(bias.shape())));
  }
  if (chunk_rows < 0)
    throw ConfigError(fmt::format("[{}] chunk_rows must be >= 0, got {}", op, chunk_rows));
  check_smoothing(label_smoothing, op);
  int64_t counted = 0;
  Tensor t = checked_targets(targets, N, V, ignore_index, op, &counted);
  if (counted == 0) {
    throw Error(
        fmt::format("[{}] every target is ignore_index {}: the batch has no tokens to learn from",
                    op, ignore_index));
  }
  const bool want_x = grad_enabled() && x.requires_grad();
  const bool want_w = grad_enabled() && weight.requires_grad();
  const bool want_b = grad_enabled() && bias.defined() && bias.requires_grad();
  const bool want_grad = want_x || want_w || want_b;
  // f64 stays f64 (gradient checks); everything else computes in f32.
  const DType cd =
      x.dtype() == DType::F64 && weight.dtype() == DType::F64 ? DType::F64 : DType::F32;
  if (chunk_rows == 0) {
    constexpr int64_t kBudget = int64_t(64) << 20;  // bytes of logits per chunk
    chunk_rows = std::max<int64_t>(16, kBudget / (std::max<int64_t>(V, 1) * dtype_size(cd)));
  }
  chunk_rows = std::min(chunk_rows, std::max<int64_t>(N, 1));

  Tensor gx, gw, gb;
  double total = 0;
  {
    NoGradGuard ng;
    Tensor xc = x.to(cd).contiguous(), wc = weight.to(cd).contiguous();
    Tensor bc = bias.defined() ? bias.to(cd).contiguous() : Tensor();
    if (want_x) gx = empty({N, D}, cd);
    if (want_w) gw = zeros({V, D}, cd);
    if (want_b) gb = zeros({V}, cd);
    const double scale = 1.0 / double(counted);
    Tensor loss_rows = empty({chunk_rows}, cd);
    Tensor logits = empty({chunk_rows, V}, cd);
    Tensor gw_part = want_w && chunk_rows < N ? empty({V, D}, cd) : Tensor();
    for (int64_t r0 = 0; r0 < N; r0 += chunk_rows) {
      const int64_t n = std::min(chunk_rows, N - r0);
      Tensor xs = xc.narrow(0, r0, n), ls = logits.narrow(0, 0, n), lr = loss_rows.narrow(0, 0, n);
      cpu().matmul(xs.unsqueeze(0), wc.t().unsqueeze(0), ls.unsqueeze(0));
      if (bc.defined()) cpu().binary(BinaryOp::Add, ls, bc.unsqueeze(0).expand({n, V}), ls);
      // The gradient overwrites the logits in place.
      cpu().cross_entropy_rows(ls, t.narrow(0, r0, n), ignore_index, label_smoothing, lr,
                               want_grad ? ls : Tensor(), scale);
      total += sum(lr.to(DType::F64)).item();
      if (want_x) cpu().matmul(ls.unsqueeze(0), wc.unsqueeze(0), gx.narrow(0, r0, n).unsqueeze(0));
      if (want_w) {
        if (n == N) {
          cpu().matmul(ls.t().unsqueeze(0), xs.unsqueeze(0), gw.unsqueeze(0));
        } else {
          cpu().matmul(ls.t().unsqueeze(0), xs.unsqueeze(0), gw_part.unsqueeze(0));
          cpu().binary(BinaryOp::Add, gw, gw_part, gw);
        }
      }
      if (want_b) cpu().binary(BinaryOp::Add, gb, sum(ls, {0}), gb);
    }
  }
  Tensor loss = full({}, total / double(counted), cd);
  if (!want_grad) return loss;
  std::vector<Tensor> inputs = {x, weight};
  if (bias.defined()) inputs.push_back(bias);
  const DType xd = x.dtype(), wd = weight.dtype(), bd = bias.defined() ? bias.dtype() : cd;
  const bool has_bias = bias.defined();
  return record(op, inputs, loss, [gx, gw, gb, xd, wd, bd, has_bias](const Tensor& g) {
    const double s = g.item();
    auto scaled = [s](const Tensor& t, DType dt) {
      if (!t.defined()) return Tensor();
      Tensor r = s == 1.0 ? t : t * s;
      return r.dtype() == dt ? r : r.to(dt);
    };
    std::vector<Tensor> out = {scaled(gx, xd), scaled(gw, wd)};
    if (has_bias) out.push_back(scaled(gb, bd));
    return out;
  });
}

}  // namespace lazarus
