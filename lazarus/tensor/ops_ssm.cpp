// The selective scan (Mamba's SSM recurrence) as one fused primitive: validation, dtype handling
// and the autograd node whose backward is the backend's fused reverse scan (see ops.h).
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

void expect_shape(const Tensor& t, const Shape& want, const char* what) {
  if (t.shape() != want) {
    throw ShapeError(fmt::format("[selective_scan] {} must be {}, got {}", what, shape_str(want),
                                 shape_str(t.shape())));
  }
}

}  // namespace

SelectiveScanOutput selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C, const Tensor& h0) {
  const char* op = "selective_scan";
  require_defined(u, op, "u");
  require_defined(delta, op, "delta");
  require_defined(A, op, "A");
  require_defined(B, op, "B");
  require_defined(C, op, "C");
  if (u.dim() != 3) {
    throw ShapeError(
        fmt::format("[selective_scan] u must be (B, T, Din), got {}", shape_str(u.shape())));
  }
  if (A.dim() != 2) {
    throw ShapeError(
        fmt::format("[selective_scan] A must be (Din, N), got {}", shape_str(A.shape())));
  }
  const int64_t Bsz = u.size(0), T = u.size(1), Din = u.size(2), N = A.size(1);
  expect_shape(delta, u.shape(), "delta");
  expect_shape(A, {Din, N}, "A");
  expect_shape(B, {Bsz, T, N}, "B");
  expect_shape(C, {Bsz, T, N}, "C");
  if (h0.defined()) expect_shape(h0, {Bsz, Din, N}, "initial_state");
  const std::pair<const Tensor*, const char*> all[] = {
      {&u, "u"}, {&delta, "delta"}, {&A, "A"}, {&B, "B"}, {&C, "C"}, {&h0, "initial_state"}};
  for (auto& [t, name] : all) {
    if (!t->defined()) continue;
    require_floating(*t, op, name);
    if (t->dtype() != u.dtype()) {
      throw DTypeError(fmt::format("[selective_scan] {} is {} but u is {}: one dtype for all", name,
                                   dtype_name(t->dtype()), dtype_name(u.dtype())));
    }
  }

  auto c = [](const Tensor& t) { return t.defined() ? to_compute(t.detach()).contiguous() : t; };
  Tensor uc = c(u), dc = c(delta), Ac = c(A), Bc = c(B), Cc = c(C), hc = c(h0);
  const DType cd = uc.dtype();
  Tensor y = empty({Bsz, T, Din}, cd), last = empty({Bsz, Din, N}, cd);
  {
    NoGradGuard ng;
    if (last.numel() > 0)
      cpu().selective_scan(uc, dc, Ac, Bc, Cc, hc, y, last);
    else
      y = zeros({Bsz, T, Din}, cd);  // no state (N = 0 or Din = 0 or B = 0): nothing to sum
  }
  SelectiveScanOutput out{y.dtype() == u.dtype() ? y : y.to(u.dtype()),
                          last.dtype() == u.dtype() ? last : last.to(u.dtype())};
  if (!any_requires_grad({&u, &delta, &A, &B, &C, &h0})) return out;

  std::vector<Tensor> inputs{u, delta, A, B, C};
  if (h0.defined()) inputs.push_back(h0);
  std::vector<DType> dts;
  for (auto& t : inputs) dts.push_back(t.dtype());
  out.y = record(op, inputs, out.y, [uc, dc, Ac, Bc, Cc, hc, dts](const Tensor& g) {
    Tensor gy = to_compute(g).contiguous();
    const DType cd = uc.dtype();
    Tensor du = zeros(uc.shape(), cd), dd = zeros(dc.shape(), cd), dA = zeros(Ac.shape(), cd);
    Tensor dB = zeros(Bc.shape(), cd), dC = zeros(Cc.shape(), cd);
    Tensor dh = zeros({uc.size(0), uc.size(2), Ac.size(1)}, cd);
    if (dh.numel() > 0) {
      cpu().selective_scan_backward(uc, dc, Ac, Bc, Cc, hc, gy.to(cd), du, dd, dA, dB, dC, dh);
    }
    std::vector<Tensor> gs{du, dd, dA, dB, dC};
    if (hc.defined()) gs.push_back(dh);
    for (size_t i = 0; i < gs.size(); ++i)
      if (gs[i].dtype() != dts[i]) gs[i] = gs[i].to(dts[i]);
    return gs;
  });
  return out;
}

}  // namespace lazarus
