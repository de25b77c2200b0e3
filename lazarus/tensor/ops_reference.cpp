// Composed references for rms_norm, layer_norm, rope and attention (see ops_reference.h).
#include "lazarus/tensor/ops_reference.h"

#include <cmath>

#include "lazarus/tensor/internal.h"

namespace lazarus::reference {

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  Tensor xc = detail::to_compute(x);
  Tensor y = xc * rsqrt(mean(xc * xc, {-1}, true) + eps);
  if (weight.defined()) y = y * detail::to_compute(weight);
  return y.to(x.dtype());
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  Tensor xc = detail::to_compute(x);
  Tensor mu = mean(xc, {-1}, true);
  Tensor d = xc - mu;
  Tensor y = d * rsqrt(mean(d * d, {-1}, true) + eps);
  if (weight.defined()) y = y * detail::to_compute(weight);
  if (bias.defined()) y = y + detail::to_compute(bias);
  return y.to(x.dtype());
}

Tensor rope(const Tensor& x, const Tensor& cos_t, const Tensor& sin_t, int64_t offset,
            bool interleaved) {
  Tensor xc = detail::to_compute(x);
  int64_t T = x.size(-2), Dh = x.size(-1), half = Dh / 2;
  Tensor c = cos_t.narrow(0, offset, T).to(xc.dtype());  // (T, half)
  Tensor s = sin_t.narrow(0, offset, T).to(xc.dtype());
  Tensor out;
  if (!interleaved) {
    Tensor x1 = xc.narrow(-1, 0, half), x2 = xc.narrow(-1, half, half);
    out = cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
  } else {
    Shape pairs(x.shape().begin(), x.shape().end() - 1);
    pairs.push_back(half);
    pairs.push_back(2);
    Tensor xp = xc.reshape(pairs);                        // (..., T, half, 2)
    Tensor xe = xp.select(-1, 0), xo = xp.select(-1, 1);  // (..., T, half)
    out = stack({xe * c - xo * s, xo * c + xe * s}, -1).reshape(x.shape());
  }
  return out.to(x.dtype());
}

Tensor attention_keep_mask(int64_t Tq, int64_t Tk, bool causal, int64_t window, int64_t qoff) {
  Tensor qi = arange(Tq).reshape({Tq, 1}) + qoff;  // absolute query positions (Tq, 1)
  Tensor kj = arange(Tk).reshape({1, Tk});         // key positions (1, Tk)
  Tensor keep = ones({Tq, Tk}, DType::Bool);
  if (causal) keep = logical_and(keep, le(kj, qi));
  if (window > 0) keep = logical_and(keep, gt(kj, qi - window));
  return keep;
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, const AttentionOptions& opts) {
  int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Dh = q.size(3);
  int64_t Hkv = k.size(1), Tk = k.size(2), Dv = v.size(3);
  Tensor qc = detail::to_compute(q), kc = detail::to_compute(k), vc = detail::to_compute(v);
  if (Hkv != H) {
    int64_t rep = H / Hkv;
    // (B, Hkv, Tk, D) -> (B, Hkv, rep, Tk, D) -> (B, H, Tk, D)
    kc = kc.unsqueeze(2).expand({B, Hkv, rep, Tk, Dh}).reshape({B, H, Tk, Dh});
    vc = vc.unsqueeze(2).expand({B, Hkv, rep, Tk, Dv}).reshape({B, H, Tk, Dv});
  }
  double scale = opts.scale.value_or(1.0 / std::sqrt(double(Dh)));
  Tensor scores = matmul(qc, kc.transpose(-1, -2)) * scale;  // (B, H, Tq, Tk)
  if (mask.defined()) {
    if (mask.dtype() == DType::Bool) {
      scores = where(mask, scores, full({}, -INFINITY, scores.dtype()));
    } else {
      scores = scores + mask.to(scores.dtype());
    }
  }
  if (opts.causal || opts.window > 0) {
    int64_t qoff = opts.query_offset.value_or(Tk - Tq);
    Tensor keep = attention_keep_mask(Tq, Tk, opts.causal, opts.window, qoff);
    scores = where(keep, scores, full({}, -INFINITY, scores.dtype()));
  }
  Tensor p = softmax(scores, -1);  // (B, H, Tq, Tk)
  if (opts.dropout > 0.0) {
    // torch.nn.functional.dropout: p * (keep / (1 - dropout)); the scale tensor is a constant, so
    // the gradient is g * keep / (1 - dropout). dropout = 1 drops everything (scale 0, no inf).
    Tensor keep = opts.dropout_keep.defined()
                      ? opts.dropout_keep
                      : attention_dropout_keep({B, H, Tq, Tk}, opts.dropout, opts.generator);
    double kept_scale = opts.dropout < 1.0 ? 1.0 / (1.0 - opts.dropout) : 0.0;
    p = p * where(keep, full({}, kept_scale, p.dtype()), zeros({}, p.dtype()));
  }
  return matmul(p, vc).to(q.dtype());  // (B, H, Tq, Dv)
}

SelectiveScanOutput selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C, const Tensor& h0) {
  const int64_t Bsz = u.size(0), T = u.size(1), Din = u.size(2), N = A.size(1);
  Tensor uc = detail::to_compute(u), dc = detail::to_compute(delta);
  Tensor Ac = detail::to_compute(A), Bc = detail::to_compute(B), Cc = detail::to_compute(C);
  Tensor h = h0.defined() ? detail::to_compute(h0) : zeros({Bsz, Din, N}, uc.dtype());
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < T; ++t) {
    Tensor dt = dc.select(1, t).unsqueeze(-1);                                       // (B, Din, 1)
    Tensor dA = exp(dt * Ac);                                                        // (B, Din, N)
    Tensor dBu = dt * Bc.select(1, t).unsqueeze(1) * uc.select(1, t).unsqueeze(-1);  // (B, Din, N)
    h = dA * h + dBu;
    ys.push_back(matmul(h, Cc.select(1, t).unsqueeze(-1)).squeeze(-1));  // (B, Din)
  }
  Tensor y = T ? stack(ys, 1) : zeros({Bsz, 0, Din}, uc.dtype());  // (B, T, Din)
  return {y.to(u.dtype()), h.to(u.dtype())};
}

RecurrentSequenceOutput recurrent_sequence(RecurrentCell cell, const Tensor& gates_x,
                                           const Tensor& weight_hh, const Tensor& bias_hh,
                                           const Tensor& h0, const Tensor& c0, const Tensor& mask) {
  const bool lstm = cell == RecurrentCell::LSTM;
  const int64_t B = gates_x.size(0), T = gates_x.size(1), H = weight_hh.size(1);
  const DType dt = gates_x.dtype();
  Tensor h = h0.defined() ? h0 : zeros({B, H}, dt);
  Tensor c = lstm ? (c0.defined() ? c0 : zeros({B, H}, dt)) : Tensor();
  Tensor m = mask.defined() ? mask.to(dt) : Tensor();  // (B, T)
  std::vector<Tensor> hs;
  for (int64_t t = 0; t < T; ++t) {
    Tensor gx = gates_x.select(1, t);           // (B, G)
    Tensor gh = linear(h, weight_hh, bias_hh);  // (B, G)
    Tensor h_new, c_new;
    if (lstm) {
      Tensor g = gx + gh;
      Tensor i = sigmoid(g.narrow(-1, 0, H)), f = sigmoid(g.narrow(-1, H, H));
      Tensor cand = tanh(g.narrow(-1, 2 * H, H)), o = sigmoid(g.narrow(-1, 3 * H, H));
      c_new = f * c + i * cand;
      h_new = o * tanh(c_new);
    } else {
      Tensor r = sigmoid(gx.narrow(-1, 0, H) + gh.narrow(-1, 0, H));
      Tensor z = sigmoid(gx.narrow(-1, H, H) + gh.narrow(-1, H, H));
      Tensor n = tanh(gx.narrow(-1, 2 * H, H) + r * gh.narrow(-1, 2 * H, H));
      h_new = (1.0 - z) * n + z * h;
    }
    if (m.defined()) {
      Tensor mt = m.narrow(1, t, 1);  // (B, 1): 0 keeps the previous state
      h_new = mt * h_new + (1.0 - mt) * h;
      if (lstm) c_new = mt * c_new + (1.0 - mt) * c;
    }
    h = h_new;
    if (lstm) c = c_new;
    hs.push_back(h);
  }
  Tensor y = T ? stack(hs, 1) : zeros({B, 0, H}, dt);  // (B, T, H)
  return {y, h, c};
}

}  // namespace lazarus::reference
