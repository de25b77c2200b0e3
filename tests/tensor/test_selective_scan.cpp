// selective_scan (Mamba's SSM recurrence): fused kernel against a naive triple loop written here
// and against the composed per-token reference, at awkward sizes and layouts; gradients against
// central finite differences in double (fused and composed); fused gradients against the composed
// graph's; chunked scans (state carried) equal one scan; bad input names the operand.
#include "lazarus/tensor/ops_reference.h"
#include "test_helpers.h"

#include <fmt/format.h>

using namespace etest;

namespace {

struct ScanIn {
  Tensor u, delta, A, B, C, h0;
};

// delta > 0 and A < 0 as in a real model (softplus output, -exp(A_log)).
ScanIn draw(int64_t Bsz, int64_t T, int64_t Din, int64_t N, uint64_t seed, DType dt, bool with_h0) {
  ScanIn s;
  s.u = rand_t({Bsz, T, Din}, seed, dt, -2, 2);
  s.delta = rand_t({Bsz, T, Din}, seed + 1, dt, 0.05, 1.5);
  s.A = rand_t({Din, N}, seed + 2, dt, -2.0, -0.1);
  s.B = rand_t({Bsz, T, N}, seed + 3, dt, -1.5, 1.5);
  s.C = rand_t({Bsz, T, N}, seed + 4, dt, -1.5, 1.5);
  if (with_h0) s.h0 = rand_t({Bsz, Din, N}, seed + 5, dt, -1, 1);
  return s;
}

// The recurrence in plain double loops over the engine's stored values.
std::pair<Vec, Vec> naive(const ScanIn& s) {
  const int64_t Bsz = s.u.size(0), T = s.u.size(1), Din = s.u.size(2), N = s.A.size(1);
  Vec u = values(s.u), dl = values(s.delta), A = values(s.A), B = values(s.B), C = values(s.C);
  Vec h0 = s.h0.defined() ? values(s.h0) : Vec(Bsz * Din * N, 0.0);
  Vec y(Bsz * T * Din), last(Bsz * Din * N);
  for (int64_t b = 0; b < Bsz; ++b)
    for (int64_t d = 0; d < Din; ++d) {
      Vec h(h0.begin() + (b * Din + d) * N, h0.begin() + (b * Din + d + 1) * N);
      for (int64_t t = 0; t < T; ++t) {
        int64_t r = b * T + t;
        double acc = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dl[r * Din + d] * A[d * N + n]) * h[n] +
                 dl[r * Din + d] * B[r * N + n] * u[r * Din + d];
          acc += h[n] * C[r * N + n];
        }
        y[r * Din + d] = acc;
      }
      for (int64_t n = 0; n < N; ++n) last[(b * Din + d) * N + n] = h[n];
    }
  return {y, last};
}

}  // namespace

TEST(SelectiveScan, FusedMatchesNaiveAndComposed) {
  struct Sz {
    int64_t B, T, Din, N;
  };
  for (Sz z : {Sz{1, 1, 1, 1}, Sz{2, 7, 5, 3}, Sz{1, 33, 31, 16}, Sz{3, 17, 65, 4}, Sz{2, 0, 4, 2},
               Sz{0, 3, 4, 2}, Sz{2, 5, 3, 0}}) {
    for (bool h0 : {false, true}) {
      ScanIn s = draw(z.B, z.T, z.Din, z.N, 10 + z.T, DType::F32, h0);
      auto [y, last] = selective_scan(s.u, s.delta, s.A, s.B, s.C, s.h0);
      auto [wy, wlast] = naive(s);
      std::string what = fmt::format("B{} T{} Din{} N{} h0={}", z.B, z.T, z.Din, z.N, h0);
      ASSERT_EQ(y.shape(), (Shape{z.B, z.T, z.Din})) << what;
      ASSERT_EQ(last.shape(), (Shape{z.B, z.Din, z.N})) << what;
      EXPECT_TRUE(close(y, wy, 1e-5, 1e-5)) << what;
      EXPECT_TRUE(close(last, wlast, 1e-5, 1e-5)) << what;
      auto r = reference::selective_scan(s.u, s.delta, s.A, s.B, s.C, s.h0);
      EXPECT_TRUE(close(y, values(r.y), 1e-5, 1e-5)) << what;
      EXPECT_TRUE(close(last, values(r.last_state), 1e-5, 1e-5)) << what;
    }
  }
}

TEST(SelectiveScan, StridedInputsAndHalfDtypes) {
  // Non-contiguous views of every operand: (B, Din, T) storage viewed as (B, T, Din), etc.
  ScanIn s = draw(2, 9, 6, 4, 30, DType::F32, true);
  ScanIn v;
  v.u = s.u.transpose(1, 2).contiguous().transpose(1, 2);
  v.delta = s.delta.transpose(1, 2).contiguous().transpose(1, 2);
  v.A = s.A.t().contiguous().t();
  v.B = stack({s.B, s.B}, -1).select(-1, 1);
  v.C = s.C.transpose(0, 1).contiguous().transpose(0, 1);
  v.h0 = s.h0.permute({0, 2, 1}).contiguous().permute({0, 2, 1});
  ASSERT_FALSE(v.u.is_contiguous());
  auto [y, last] = selective_scan(v.u, v.delta, v.A, v.B, v.C, v.h0);
  auto [wy, wlast] = naive(s);
  EXPECT_TRUE(close(y, wy, 1e-5, 1e-5));
  EXPECT_TRUE(close(last, wlast, 1e-5, 1e-5));
  for (DType dt : {DType::BF16, DType::F16}) {
    ScanIn h = draw(2, 9, 6, 4, 31, dt, true);
    auto out = selective_scan(h.u, h.delta, h.A, h.B, h.C, h.h0);
    EXPECT_EQ(out.y.dtype(), dt);
    auto [wy2, wl2] = naive(h);  // from the stored (rounded) inputs; result rounded once
    EXPECT_TRUE(close(out.y, wy2, 1e-2, 1e-2)) << dtype_name(dt);
  }
}

TEST(SelectiveScan, ChunkedEqualsWhole) {
  ScanIn s = draw(2, 20, 7, 5, 40, DType::F32, true);
  auto whole = selective_scan(s.u, s.delta, s.A, s.B, s.C, s.h0);
  Tensor h = s.h0;
  std::vector<Tensor> ys;
  for (auto [t0, n] : {std::pair<int64_t, int64_t>{0, 7}, {7, 1}, {8, 12}}) {
    auto part = selective_scan(s.u.narrow(1, t0, n), s.delta.narrow(1, t0, n), s.A,
                               s.B.narrow(1, t0, n), s.C.narrow(1, t0, n), h);
    ys.push_back(part.y);
    h = part.last_state;
  }
  EXPECT_TRUE(close(cat(ys, 1), values(whole.y), 1e-5, 1e-6));
  EXPECT_TRUE(close(h, values(whole.last_state), 1e-5, 1e-6));
}

TEST(SelectiveScan, GradientsFiniteDifferences) {
  // loss = sum(y * w); numeric gradients by central differences in double.
  for (bool with_h0 : {false, true}) {
    for (bool composed : {false, true}) {
      ScanIn s = draw(2, 5, 3, 4, 50, DType::F64, true);
      std::vector<Tensor> xs{s.u, s.delta, s.A, s.B, s.C};
      if (with_h0) xs.push_back(s.h0);
      Tensor w = rand_t({2, 5, 3}, 57, DType::F64, -1, 1);
      auto loss = [&](const std::vector<Tensor>& in) {
        Tensor h0 = in.size() > 5 ? in[5] : Tensor();
        Tensor y = composed ? reference::selective_scan(in[0], in[1], in[2], in[3], in[4], h0).y
                            : selective_scan(in[0], in[1], in[2], in[3], in[4], h0).y;
        return sum(y * w);
      };
      auto [value, grads] = value_and_grad(loss, xs);
      ASSERT_EQ(grads.size(), xs.size());
      const double h = 1e-6;
      for (size_t i = 0; i < xs.size(); ++i) {
        Vec base = values(xs[i]), ga = values(grads[i]);
        ASSERT_EQ(grads[i].shape(), xs[i].shape());
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
          EXPECT_NEAR(ga[j], num, 1e-6 * std::max(1.0, std::fabs(num)))
              << "input " << i << " elem " << j << " composed=" << composed << " h0=" << with_h0;
        }
      }
    }
  }
}

TEST(SelectiveScan, FusedGradientsMatchComposedAtModelSizes) {
  ScanIn s = draw(2, 37, 48, 16, 60, DType::F32, true);
  std::vector<Tensor> xs{s.u, s.delta, s.A, s.B, s.C, s.h0};
  Tensor w = rand_t({2, 37, 48}, 67, DType::F32, -1, 1);
  auto run = [&](bool composed) {
    return value_and_grad(
        [&](const std::vector<Tensor>& in) {
          auto o = composed ? reference::selective_scan(in[0], in[1], in[2], in[3], in[4], in[5])
                            : selective_scan(in[0], in[1], in[2], in[3], in[4], in[5]);
          return sum(o.y * w);
        },
        xs);
  };
  auto [vf, gf] = run(false);
  auto [vr, gr] = run(true);
  EXPECT_NEAR(vf.item(), vr.item(), 1e-3 * std::max(1.0, std::fabs(vr.item())));
  for (size_t i = 0; i < xs.size(); ++i) {
    Vec want = values(gr[i]);
    double scale = 0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    EXPECT_TRUE(close(gf[i], want, 1e-4, 1e-5 * std::max(1.0, scale))) << "grad " << i;
  }
}

TEST(SelectiveScan, LastStateIsNotDifferentiableAndBadInputIsNamed) {
  ScanIn s = draw(1, 3, 2, 2, 70, DType::F32, false);
  Tensor u = s.u.detach().requires_grad_(true);
  auto out = selective_scan(u, s.delta, s.A, s.B, s.C);
  EXPECT_TRUE(out.y.requires_grad());
  EXPECT_FALSE(out.last_state.requires_grad());
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { selective_scan(s.u, s.delta, s.A, s.B.narrow(1, 0, 2), s.C); }, "B must be"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { selective_scan(s.u, s.delta.narrow(2, 0, 1), s.A, s.B, s.C); }, "delta must be"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] {
        selective_scan(s.u, s.delta, s.A, s.B, s.C, zeros({1, 2, 3}));
      },
      "initial_state"));
  EXPECT_TRUE(throws_with<ShapeError>(
      [&] { selective_scan(s.u.reshape({-1}), s.delta, s.A, s.B, s.C); }, "u must be (B, T, Din)"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] { selective_scan(s.u, s.delta.to(DType::F64), s.A, s.B, s.C); }, "delta is float64"));
  EXPECT_TRUE(throws_with<DTypeError>(
      [&] {
        selective_scan(s.u.to(DType::I64), s.delta.to(DType::I64), s.A.to(DType::I64),
                       s.B.to(DType::I64), s.C.to(DType::I64));
      },
      "floating"));
}
