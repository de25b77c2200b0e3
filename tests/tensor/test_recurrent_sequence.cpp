// recurrent_sequence (fused LSTM / GRU over a sequence): forward and every gradient against the
// composed per-step graph (reference::recurrent_sequence, the layer's old training path) at
// awkward sizes, with and without bias / initial states / padding; gradients against central
// finite differences in double (fused and composed); chunked runs carrying the state equal one
// run; padded steps keep every state; half dtypes; bad input names the operand.
#include "lazarus/tensor/ops_reference.h"
#include "test_helpers.h"

#include <fmt/format.h>

using namespace etest;

namespace {

struct SeqIn {
  RecurrentCell cell;
  Tensor gx, w, b, h0, c0, mask;
};

const char* cell_name(RecurrentCell c) { return c == RecurrentCell::LSTM ? "lstm" : "gru"; }

// A (B, T) 0/1 mask with left padding on row 0, right padding on row 1, holes elsewhere.
Tensor draw_mask(int64_t B, int64_t T, uint64_t seed, DType dt) {
  Vec m(B * T, 1.0), r = rnd(B * T, seed, 0, 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      double& v = m[b * T + t];
      if (b == 0)
        v = t < T / 3 ? 0 : 1;
      else if (b == 1)
        v = t >= T - T / 3 ? 0 : 1;
      else
        v = r[b * T + t] < 0.3 ? 0 : 1;
    }
  return make(m, {B, T}, dt);
}

SeqIn draw(RecurrentCell cell, int64_t B, int64_t T, int64_t H, uint64_t seed, DType dt, bool bias,
           bool h0, bool mask) {
  const int64_t G = (cell == RecurrentCell::LSTM ? 4 : 3) * H;
  SeqIn s;
  s.cell = cell;
  s.gx = rand_t({B, T, G}, seed, dt, -1.5, 1.5);
  s.w = rand_t({G, H}, seed + 1, dt, -0.6, 0.6);
  if (bias) s.b = rand_t({G}, seed + 2, dt, -0.5, 0.5);
  if (h0) {
    s.h0 = rand_t({B, H}, seed + 3, dt, -1, 1);
    if (cell == RecurrentCell::LSTM) s.c0 = rand_t({B, H}, seed + 4, dt, -1, 1);
  }
  if (mask) s.mask = draw_mask(B, T, seed + 5, dt);
  return s;
}

RecurrentSequenceOutput fused(const SeqIn& s) {
  return recurrent_sequence(s.cell, s.gx, s.w, s.b, s.h0, s.c0, s.mask);
}
RecurrentSequenceOutput composed(const SeqIn& s) {
  return reference::recurrent_sequence(s.cell, s.gx, s.w, s.b, s.h0, s.c0, s.mask);
}

// The differentiable inputs present, in a fixed order, and a rebuild from replacements.
std::vector<Tensor> params(const SeqIn& s) {
  std::vector<Tensor> p{s.gx, s.w};
  for (const Tensor* t : {&s.b, &s.h0, &s.c0})
    if (t->defined()) p.push_back(*t);
  return p;
}
SeqIn with(const SeqIn& s, const std::vector<Tensor>& p) {
  SeqIn r = s;
  size_t i = 0;
  r.gx = p[i++];
  r.w = p[i++];
  for (Tensor* t : {&r.b, &r.h0, &r.c0})
    if (t->defined()) *t = p[i++];
  return r;
}

// Bounds on |fused - composed| from the arithmetic (test_helpers.h gamma_n). One step of either,
// per output element, goes through a chain of H + 75 roundings: the gate pre-activation
// gx + b + sum_k W_jk h_k (H products, up to 3 adds with GRU's r * (W_n h + b_n)), the gate
// activations and the state's tanh (2 x 34: the sigmoid / tanh kernels are accurate to 2e-6
// relative, tests/backend/test_kernels.cpp), the state update (4: f c + i g, o tanh(c); GRU's
// (1 - z) n + z h). Each rounding errs by at most u of what it rounds: products |W_jk h_k| <= 0.6
// (|W| <= 0.6 as drawn, |h| <= 1), gx, gates in (0, 1), the state; taken at the scale
// max(1, max|gx|, max|value|). A step's error is carried into the next one, not amplified (the
// gates' slopes are at most 1/4 and the state mixes convexly), so T steps add up to T (H + 75)
// roundings; two implementations are within twice that of each other.
double step_roundings(int64_t H) { return double(H) + 75; }
double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}
double forward_scale(const SeqIn& s, const Vec& want) {
  return std::max({1.0, max_abs(values(s.gx)), max_abs(want)});
}
Vec forward_bound(const SeqIn& s, const Vec& want, int64_t T, int64_t H) {
  return Vec(want.size(), 2 * gamma_n(double(T) * step_roundings(H)) * forward_scale(s, want));
}
// Gradients through time: the backward pass runs each step's chain again ((4 H + 75): dh sums over
// the 4 H (LSTM) gates), evaluated at forward values that are each off by up to the forward bound,
// and every step's gradient carries those of all later steps: another factor T on the forward
// chain. A weight or bias gradient then sums over the B T steps. Scaled by the gradient's own
// magnitude max(1, max|grad|).
double grad_roundings(int64_t B, int64_t T, int64_t H) {
  const double t = double(T);
  return t * t * step_roundings(H) + t * (4 * double(H) + 75) + double(B) * t;
}
Vec grad_bound(const Vec& want, int64_t B, int64_t T, int64_t H) {
  return Vec(want.size(), 2 * gamma_n(grad_roundings(B, T, H)) * std::max(1.0, max_abs(want)));
}

}  // namespace

TEST(RecurrentSequence, FusedMatchesComposedForward) {
  struct Sz {
    int64_t B, T, H;
  };
  for (RecurrentCell cell : {RecurrentCell::LSTM, RecurrentCell::GRU})
    for (Sz z : {Sz{1, 1, 1}, Sz{2, 7, 5}, Sz{3, 17, 13}, Sz{1, 33, 31}, Sz{4, 9, 64}, Sz{2, 0, 4},
                 Sz{0, 3, 4}})
      for (int variant = 0; variant < 4; ++variant) {
        const bool bias = variant & 1, init = variant & 2, mask = variant != 1;
        SeqIn s = draw(cell, z.B, z.T, z.H, 100 + z.T * 7 + z.H, DType::F32, bias, init, mask);
        auto got = fused(s);
        auto want = composed(s);
        std::string what = fmt::format("{} B{} T{} H{} bias={} init={} mask={}", cell_name(cell),
                                       z.B, z.T, z.H, bias, init, mask);
        ASSERT_EQ(got.y.shape(), (Shape{z.B, z.T, z.H})) << what;
        ASSERT_EQ(got.h.shape(), (Shape{z.B, z.H})) << what;
        // forward_bound: 2 gamma(T (H + 75)) max(1, max|gx|, max|value|).
        Vec wy = values(want.y), wh = values(want.h);
        EXPECT_TRUE(within(values(got.y), wy, forward_bound(s, wy, z.T, z.H))) << what;
        EXPECT_TRUE(within(values(got.h), wh, forward_bound(s, wh, z.T, z.H))) << what;
        if (cell == RecurrentCell::LSTM) {
          ASSERT_EQ(got.c.shape(), (Shape{z.B, z.H})) << what;
          Vec wc = values(want.c);
          EXPECT_TRUE(within(values(got.c), wc, forward_bound(s, wc, z.T, z.H))) << what;
        } else {
          EXPECT_FALSE(got.c.defined()) << what;
        }
      }
}

TEST(RecurrentSequence, FusedGradientsMatchComposed) {
  struct Sz {
    int64_t B, T, H;
  };
  for (RecurrentCell cell : {RecurrentCell::LSTM, RecurrentCell::GRU})
    for (Sz z : {Sz{1, 1, 1}, Sz{2, 13, 7}, Sz{3, 37, 24}, Sz{5, 6, 33}})
      for (int variant = 0; variant < 4; ++variant) {
        const bool bias = variant & 1, init = variant & 2, mask = variant >= 2;
        SeqIn s = draw(cell, z.B, z.T, z.H, 200 + z.T + z.H, DType::F32, bias, init, mask);
        Tensor w = rand_t({z.B, z.T, z.H}, 299, DType::F32, -1, 1);
        auto run = [&](bool use_composed) {
          return value_and_grad(
              [&](const std::vector<Tensor>& p) {
                SeqIn q = with(s, p);
                return sum((use_composed ? composed(q) : fused(q)).y * w);
              },
              params(s));
        };
        auto [vf, gf] = run(false);
        auto [vr, gr] = run(true);
        std::string what = fmt::format("{} B{} T{} H{} bias={} init={} mask={}", cell_name(cell),
                                       z.B, z.T, z.H, bias, init, mask);
        // The loss sums B T H products y w (|w| <= 1): each y within the forward bound, and the
        // sum's own roundings, gamma(B T H) sum |y w| per implementation.
        {
          Vec y = values(composed(s).y), wv = values(w);
          double yw = 0;
          for (size_t i = 0; i < y.size(); ++i) yw += std::fabs(y[i] * wv[i]);
          const double n = double(z.B * z.T * z.H);
          const double bound =
              n * 2 * gamma_n(double(z.T) * step_roundings(z.H)) * forward_scale(s, y) +
              2 * gamma_n(n) * yw;
          EXPECT_NEAR(vf.item(), vr.item(), bound) << what;
        }
        ASSERT_EQ(gf.size(), gr.size()) << what;
        for (size_t i = 0; i < gf.size(); ++i) {
          ASSERT_EQ(gf[i].shape(), gr[i].shape()) << what << " grad " << i;
          // grad_bound: 2 gamma(T^2 (H + 75) + T (4 H + 75) + B T) max(1, max|grad|).
          Vec want = values(gr[i]);
          EXPECT_TRUE(within(values(gf[i]), want, grad_bound(want, z.B, z.T, z.H)))
              << what << " grad " << i;
        }
      }
}

TEST(RecurrentSequence, GradientsFiniteDifferencesF64) {
  // loss = sum(y * w); central differences in double, for the fused op and the composed graph.
  for (RecurrentCell cell : {RecurrentCell::LSTM, RecurrentCell::GRU})
    for (bool use_composed : {false, true})
      for (bool mask : {false, true}) {
        SeqIn s = draw(cell, 3, 5, 3, 300, DType::F64, true, true, mask);
        Tensor w = rand_t({3, 5, 3}, 309, DType::F64, -1, 1);
        auto loss = [&](const std::vector<Tensor>& p) {
          SeqIn q = with(s, p);
          return sum((use_composed ? composed(q) : fused(q)).y * w);
        };
        std::vector<Tensor> xs = params(s);
        auto [value, grads] = value_and_grad(loss, xs);
        ASSERT_EQ(grads.size(), xs.size());
        const double h = 1e-6;
        for (size_t i = 0; i < xs.size(); ++i) {
          ASSERT_EQ(grads[i].shape(), xs[i].shape());
          Vec base = values(xs[i]), ga = values(grads[i]);
          for (size_t j = 0; j < base.size(); ++j) {
            NoGradGuard ng;
            std::vector<Tensor> in = xs;
            Vec p = base;
            p[j] = base[j] + h;
            in[i] = make(p, xs[i].shape(), DType::F64);
            double fp = loss(in).item();
            p[j] = base[j] - h;
            in[i] = make(p, xs[i].shape(), DType::F64);
            double num = (fp - loss(in).item()) / (2 * h);
            EXPECT_NEAR(ga[j], num, 1e-7 * std::max(1.0, std::fabs(num)))
                << cell_name(cell) << " input " << i << " elem " << j
                << " composed=" << use_composed << " mask=" << mask;
          }
        }
      }
}

TEST(RecurrentSequence, ChunkedRunsCarryingTheStateEqualOneRun) {
  for (RecurrentCell cell : {RecurrentCell::LSTM, RecurrentCell::GRU}) {
    SeqIn s = draw(cell, 3, 20, 9, 400, DType::F32, true, true, true);
    auto whole = fused(s);
    Tensor h = s.h0, c = s.c0;
    std::vector<Tensor> ys;
    for (auto [t0, n] : {std::pair<int64_t, int64_t>{0, 7}, {7, 1}, {8, 0}, {8, 12}}) {
      auto part =
          recurrent_sequence(cell, s.gx.narrow(1, t0, n), s.w, s.b, h, c, s.mask.narrow(1, t0, n));
      ys.push_back(part.y);
      h = part.h;
      c = part.c;
    }
    EXPECT_TRUE(close(cat(ys, 1), values(whole.y), 1e-5, 1e-6)) << cell_name(cell);
    EXPECT_TRUE(close(h, values(whole.h), 1e-5, 1e-6)) << cell_name(cell);
    if (cell == RecurrentCell::LSTM) {
      EXPECT_TRUE(close(c, values(whole.c), 1e-5, 1e-6));
    }
    // Undefined initial states are zeros.
    SeqIn z = s;
    z.h0 = zeros(s.h0.shape());
    if (z.c0.defined()) z.c0 = zeros(s.c0.shape());
    SeqIn u = s;
    u.h0 = Tensor();
    u.c0 = Tensor();
    EXPECT_TRUE(close(fused(u).y, values(fused(z).y), 0, 0)) << cell_name(cell);
  }
}

TEST(RecurrentSequence, PaddedStepsKeepEveryStateAndRowsMatchAlone) {
  for (RecurrentCell cell : {RecurrentCell::LSTM, RecurrentCell::GRU}) {
    const int64_t B = 3, T = 9, H = 6;
    SeqIn s = draw(cell, B, T, H, 500, DType::F32, true, true, true);
    auto out = fused(s);
    Vec y = values(out.y), m = values(s.mask), h0 = values(s.h0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        if (m[b * T + t] != 0) continue;
        for (int64_t k = 0; k < H; ++k) {
          double prev = t == 0 ? h0[b * H + k] : y[(b * T + t - 1) * H + k];
          EXPECT_EQ(y[(b * T + t) * H + k], prev) << cell_name(cell) << " b" << b << " t" << t;
        }
      }
    // Row 0 is left-padded by T / 3: its state after the padding is h0, so it equals the row's
    // real steps run alone from h0 / c0. Row 1 is right-padded: its last state is the state after
    // its last real step.
    const int64_t lead = T / 3, real1 = T - T / 3;
    auto alone0 =
        recurrent_sequence(cell, s.gx.narrow(0, 0, 1).narrow(1, lead, T - lead), s.w, s.b,
                           s.h0.narrow(0, 0, 1), s.c0.defined() ? s.c0.narrow(0, 0, 1) : Tensor());
    EXPECT_TRUE(
        close(out.y.narrow(0, 0, 1).narrow(1, lead, T - lead), values(alone0.y), 1e-5, 1e-6));
    auto alone1 =
        recurrent_sequence(cell, s.gx.narrow(0, 1, 1).narrow(1, 0, real1), s.w, s.b,
                           s.h0.narrow(0, 1, 1), s.c0.defined() ? s.c0.narrow(0, 1, 1) : Tensor());
    EXPECT_TRUE(close(out.h.narrow(0, 1, 1), values(alone1.h), 1e-5, 1e-6));
    if (cell == RecurrentCell::LSTM) {
      EXPECT_TRUE(close(out.c.narrow(0, 1, 1), values(alone1.c), 1e-5, 1e-6));
    }
    // A padded step sends no gradient into its gates.
    Tensor gx = s.gx.detach().requires_grad_(true);
    Tensor loss = sum(recurrent_sequence(cell, gx, s.w, s.b, s.h0, s.c0, s.mask).y);
    loss.backward();
    Vec g = values(gx.grad());
    const int64_t G = gx.size(2);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        if (m[b * T + t] == 0) {
          for (int64_t k = 0; k < G; ++k) EXPECT_EQ(g[(b * T + t) * G + k], 0.0);
        }
  }
}

TEST(RecurrentSequence, StridedInputsHalfDtypesAndNoGraphWithoutGrad) {
  for (RecurrentCell cell : {RecurrentCell::LSTM, RecurrentCell::GRU}) {
    SeqIn s = draw(cell, 2, 6, 5, 600, DType::F32, true, true, true);
    SeqIn v = s;
    v.gx = s.gx.transpose(0, 1).contiguous().transpose(0, 1);
    v.w = s.w.t().contiguous().t();
    v.mask = s.mask.to(DType::Bool);
    ASSERT_FALSE(v.gx.is_contiguous());
    EXPECT_TRUE(close(fused(v).y, values(fused(s).y), 0, 0)) << cell_name(cell);
    for (DType dt : {DType::BF16, DType::F16}) {
      SeqIn h = draw(cell, 2, 6, 5, 601, dt, true, true, true);
      auto out = fused(h);
      EXPECT_EQ(out.y.dtype(), dt);
      EXPECT_EQ(out.h.dtype(), dt);
      // The same stored values in f32: one rounding of the result apart.
      SeqIn f = h;
      for (Tensor* t : {&f.gx, &f.w, &f.b, &f.h0, &f.c0, &f.mask})
        if (t->defined()) *t = t->to(DType::F32);
      EXPECT_TRUE(close(out.y, values(fused(f).y), 1e-2, 1e-2)) << dtype_name(dt);
    }
    Tensor w = s.w.detach().requires_grad_(true);
    auto out = recurrent_sequence(cell, s.gx, w, s.b, s.h0, s.c0, s.mask);
    EXPECT_TRUE(out.y.requires_grad());
    EXPECT_FALSE(out.h.requires_grad());
    NoGradGuard ng;
    EXPECT_FALSE(recurrent_sequence(cell, s.gx, w, s.b).y.requires_grad());
  }
}

TEST(RecurrentSequence, BadInputIsNamed) {
  SeqIn s = draw(RecurrentCell::LSTM, 2, 3, 4, 700, DType::F32, true, true, true);
  auto L = RecurrentCell::LSTM, G = RecurrentCell::GRU;
  EXPECT_TRUE(throws_with<ShapeError>([&] { recurrent_sequence(G, s.gx, s.w); }, "weight_hh"));
  EXPECT_TRUE(throws_with<ShapeError>([&] { recurrent_sequence(L, s.gx.narrow(2, 0, 12), s.w); },
                                      "gates_x must be (B, T, 16)"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { recurrent_sequence(L, s.gx, s.w, s.b.narrow(0, 0, 3)); }, "bias_hh must be"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        recurrent_sequence(L, s.gx, s.w, s.b, zeros({3, 4}));
      },
      "h0 must be"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        recurrent_sequence(L, s.gx, s.w, s.b, s.h0, zeros({2, 5}));
      },
      "c0 must be"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        recurrent_sequence(L, s.gx, s.w, s.b, s.h0, s.c0, zeros({2, 4}));
      },
      "mask must be"));
  EXPECT_TRUE(throws_with<DTypeError>([&] { recurrent_sequence(L, s.gx, s.w.to(DType::F64)); },
                                      "weight_hh is float64"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] { recurrent_sequence(L, s.gx.to(DType::I64), s.w.to(DType::I64)); }, "floating"));
  SeqIn g = draw(G, 2, 3, 4, 701, DType::F32, true, true, false);
  EXPECT_TRUE(throws_with<Error>(
      [&] {
        recurrent_sequence(G, g.gx, g.w, g.b, g.h0, zeros({2, 4}));
      },
      "GRU has none"));
}
