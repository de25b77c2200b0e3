// LSTM / GRU over a whole sequence as one fused primitive: validation, dtype handling and the
// autograd node whose backward is the backend's fused BPTT (see ops.h recurrent_sequence).
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
  if (t.defined() && t.shape() != want) {
    throw ShapeError(fmt::format("[recurrent_sequence] {} must be {}, got {}", what,
                                 shape_str(want), shape_str(t.shape())));
  }
}

}  // namespace

RecurrentSequenceOutput recurrent_sequence(RecurrentCell cell, const Tensor& gates_x,
                                           const Tensor& weight_hh, const Tensor& bias_hh,
                                           const Tensor& h0, const Tensor& c0, const Tensor& mask) {
  const char* op = "recurrent_sequence";
  const bool lstm = cell == RecurrentCell::LSTM;
  const int64_t k = lstm ? 4 : 3;
  require_defined(gates_x, op, "gates_x");
  require_defined(weight_hh, op, "weight_hh");
  if (weight_hh.dim() != 2 || weight_hh.size(0) != k * weight_hh.size(1)) {
    throw ShapeError(fmt::format("[recurrent_sequence] weight_hh must be ({} H, H) for {}, got {}",
                                 k, lstm ? "LSTM" : "GRU", shape_str(weight_hh.shape())));
  }
  const int64_t H = weight_hh.size(1), G = k * H;
  if (gates_x.dim() != 3 || gates_x.size(2) != G) {
    throw ShapeError(fmt::format("[recurrent_sequence] gates_x must be (B, T, {}), got {}", G,
                                 shape_str(gates_x.shape())));
  }
  const int64_t B = gates_x.size(0), T = gates_x.size(1);
  expect_shape(bias_hh, {G}, "bias_hh");
  expect_shape(h0, {B, H}, "h0");
  expect_shape(c0, {B, H}, "c0");
  expect_shape(mask, {B, T}, "mask");
  if (!lstm && c0.defined())
    throw Error("[recurrent_sequence] c0 is an LSTM cell state; a GRU has none");
  const std::pair<const Tensor*, const char*> all[] = {{&gates_x, "gates_x"},
                                                       {&weight_hh, "weight_hh"},
                                                       {&bias_hh, "bias_hh"},
                                                       {&h0, "h0"},
                                                       {&c0, "c0"}};
  for (auto& [t, name] : all) {
    if (!t->defined()) continue;
    require_floating(*t, op, name);
    if (t->dtype() != gates_x.dtype()) {
      throw DTypeError(
          fmt::format("[recurrent_sequence] {} is {} but gates_x is {}: one dtype for all", name,
                      dtype_name(t->dtype()), dtype_name(gates_x.dtype())));
    }
  }

  auto c = [](const Tensor& t) { return t.defined() ? to_compute(t.detach()).contiguous() : t; };
  Tensor gxc = c(gates_x), wc = c(weight_hh), bc = c(bias_hh), hc = c(h0), cc = c(c0);
  const DType cd = gxc.dtype();
  Tensor mc = mask.defined() ? mask.detach().to(cd).contiguous() : Tensor();
  const DType dt = gates_x.dtype();
  auto out_dt = [dt](const Tensor& t) { return t.dtype() == dt ? t : t.to(dt); };
  if (B == 0 || T == 0 || H == 0) {
    // Nothing to run: no outputs, and the state stays the initial one.
    Tensor h = hc.defined() ? hc : zeros({B, H}, cd);
    Tensor cs = lstm ? (cc.defined() ? cc : zeros({B, H}, cd)) : Tensor();
    RecurrentSequenceOutput out{zeros({B, T, H}, dt), out_dt(h), lstm ? out_dt(cs) : Tensor()};
    return out;
  }
  Tensor y = empty({B, T, H}, cd), gates = empty({B, T, G}, cd), aux = empty({B, T, H}, cd);
  {
    NoGradGuard ng;
    cpu().recurrent_sequence(cell, gxc, wc, bc, hc, cc, mc, y, gates, aux);
  }
  RecurrentSequenceOutput out;
  out.h = out_dt(y.select(1, T - 1).contiguous());
  if (lstm) out.c = out_dt(aux.select(1, T - 1).contiguous());
  out.y = out_dt(y);
  if (!any_requires_grad({&gates_x, &weight_hh, &bias_hh, &h0, &c0})) return out;

  // Inputs in a fixed order; the backward returns one gradient per input present.
  std::vector<Tensor> inputs{gates_x, weight_hh};
  if (bias_hh.defined()) inputs.push_back(bias_hh);
  if (h0.defined()) inputs.push_back(h0);
  if (c0.defined()) inputs.push_back(c0);
  std::vector<DType> dts;
  for (auto& t : inputs) dts.push_back(t.dtype());
  const bool has_b = bias_hh.defined(), has_h0 = h0.defined(), has_c0 = c0.defined();
  out.y = record(
      op, inputs, out.y,
      [cell, lstm, wc, hc, cc, mc, y, gates, aux, dts, has_b, has_h0, has_c0](const Tensor& g) {
        const DType cd = y.dtype();
        const int64_t B = y.size(0), T = y.size(1), H = y.size(2);
        const int64_t G = gates.size(2);
        Tensor dy = g.to(cd).contiguous();
        Tensor dgx = empty({B, T, G}, cd), dw = empty({G, H}, cd);
        Tensor db = has_b ? empty({G}, cd) : Tensor();
        Tensor dh0 = empty({B, H}, cd), dc0 = lstm ? empty({B, H}, cd) : Tensor();
        cpu().recurrent_sequence_backward(cell, wc, hc, cc, mc, y, gates, aux, dy, dgx, dw, db, dh0,
                                          dc0);
        std::vector<Tensor> gs{dgx, dw};
        if (has_b) gs.push_back(db);
        if (has_h0) gs.push_back(dh0);
        if (has_c0) gs.push_back(dc0);
        for (size_t i = 0; i < gs.size(); ++i)
          if (gs[i].dtype() != dts[i]) gs[i] = gs[i].to(dts[i]);
        return gs;
      });
  return out;
}

}  // namespace lazarus
