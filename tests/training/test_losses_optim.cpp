// Losses, optimizers, clipping and schedules: edge cases and errors (values against PyTorch are in
// training_torch_parity).
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"
#include "lazarus/training/optimizer.h"

using namespace lazarus;

namespace {

TEST(Losses, AllIgnoredIsAClearError) {
  Tensor logits = zeros({3, 4});
  Tensor t = full({3}, -100.0, DType::I64);
  try {
    losses::cross_entropy(logits, t);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokens to learn from"), std::string::npos);
  }
  // Sum of nothing is fine.
  EXPECT_DOUBLE_EQ(losses::cross_entropy(logits, t, -100, 0.0, losses::Reduction::Sum).item(), 0.0);
}

TEST(Losses, CausalLMWithNoRealTokenIsAClearError) {
  // Only the first position is a real label: after the shift nothing is left to predict.
  Tensor labels = from_vector<int64_t>({5, -100, -100, 2, -100, -100}, {2, 3}, DType::I64);
  try {
    losses::causal_lm_loss(zeros({2, 3, 8}), labels);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no token to learn from"), std::string::npos) << e.what();
  }
  // One real token anywhere after the shift is enough.
  Tensor one = from_vector<int64_t>({5, -100, -100, 2, -100, 3}, {2, 3}, DType::I64);
  EXPECT_NEAR(losses::causal_lm_loss(zeros({2, 3, 8}), one).item(), std::log(8.0), 1e-6);
}

TEST(Losses, CausalLMUpcastsHalfLogits) {
  Tensor logits = randn({2, 5, 11});
  Tensor labels = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5}, DType::I64);
  Tensor half = logits.to(DType::BF16);
  Tensor loss = losses::causal_lm_loss(half, labels);
  EXPECT_EQ(loss.dtype(), DType::F32);
  EXPECT_NEAR(loss.item(), losses::causal_lm_loss(half.to(DType::F32), labels).item(), 1e-6);
}

TEST(Losses, BadTargetsAndShapes) {
  Tensor logits = zeros({2, 4});
  EXPECT_THROW(losses::cross_entropy(logits, from_vector<int64_t>({0, 4}, {2}, DType::I64)),
               IndexError);
  EXPECT_THROW(losses::cross_entropy(logits, from_vector<int64_t>({0, -1}, {2}, DType::I64)),
               IndexError);
  EXPECT_THROW(losses::cross_entropy(logits, zeros({2})), DTypeError);
  EXPECT_THROW(losses::cross_entropy(logits, zeros({3}, DType::I64)), ShapeError);
  EXPECT_THROW(losses::cross_entropy(logits, zeros({2}, DType::I64), -100, 1.5), ConfigError);
  EXPECT_THROW(losses::causal_lm_loss(zeros({1, 1, 4}), zeros({1, 1}, DType::I64)), ShapeError);
  EXPECT_THROW(losses::mse_loss(zeros({2}), zeros({3})), ShapeError);
}

TEST(Losses, UniformLogitsGiveLogC) {
  Tensor logits = zeros({5, 8});
  Tensor t = from_vector<int64_t>({0, 1, 2, 3, 7}, {5}, DType::I64);
  EXPECT_NEAR(losses::cross_entropy(logits, t).item(), std::log(8.0), 1e-6);
}

TEST(Optim, CopyUpdatesEverySharingHandle) {
  Tensor w = ones({2, 2});
  Tensor tied = w;      // a second handle (tied embedding / lm_head)
  Tensor view = w.t();  // and a view
  w.copy_(full({2, 2}, 3.0));
  EXPECT_DOUBLE_EQ(sum(tied).item(), 12.0);
  EXPECT_DOUBLE_EQ(sum(view).item(), 12.0);
  w.copy_(full({2}, 1.0));  // broadcasts
  EXPECT_DOUBLE_EQ(sum(w).item(), 4.0);
  EXPECT_THROW(w.copy_(ones({3})), ShapeError);
  Tensor p = ones({2}).requires_grad_();
  EXPECT_THROW(p.copy_(zeros({2})), AutogradError);
  NoGradGuard ng;
  EXPECT_NO_THROW(p.copy_(zeros({2})));
}

TEST(Optim, DecayGroupsSkipBiasesAndNorms) {
  Tensor w = ones({3, 3}).requires_grad_(), b = ones({3}).requires_grad_();
  Tensor frozen = ones({3, 3});
  auto groups = training::decay_groups({{"w", &w}, {"b", &b}, {"f", &frozen}}, 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].params.size(), 1u);
  EXPECT_DOUBLE_EQ(groups[0].weight_decay, 0.1);
  EXPECT_DOUBLE_EQ(groups[1].weight_decay, 0.0);
}

TEST(Optim, ClipOnlyWhenAboveAndReportsNonFinite) {
  Tensor p = ones({4}).requires_grad_();
  p.set_grad(full({4}, 3.0));  // norm 6
  EXPECT_NEAR(training::clip_grad_norm({p}, 100.0), 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(sum(p.grad()).item(), 12.0);
  EXPECT_NEAR(training::clip_grad_norm({p}, 1.0), 6.0, 1e-12);
  EXPECT_NEAR(std::sqrt(sum(square(p.grad())).item()), 1.0, 1e-5);
  p.set_grad(full({4}, NAN));
  EXPECT_TRUE(std::isnan(training::clip_grad_norm({p}, 1.0)));
  EXPECT_THROW(training::clip_grad_norm({p}, 0.0), ConfigError);
}

TEST(Optim, Schedules) {
  using training::ScheduleType;
  EXPECT_DOUBLE_EQ(training::schedule_lr(ScheduleType::Constant, 1.0, 0, 10, 100), 0.0);
  EXPECT_DOUBLE_EQ(training::schedule_lr(ScheduleType::Constant, 1.0, 5, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(training::schedule_lr(ScheduleType::Linear, 1.0, 100, 10, 100), 0.0);
  EXPECT_DOUBLE_EQ(training::schedule_lr(ScheduleType::Linear, 1.0, 55, 10, 100), 0.5);
  EXPECT_NEAR(training::schedule_lr(ScheduleType::Cosine, 1.0, 55, 10, 100), 0.5, 1e-12);
  EXPECT_NEAR(training::schedule_lr(ScheduleType::Cosine, 1.0, 100, 10, 100, 0.1), 0.1, 1e-12);
  EXPECT_THROW(training::schedule_lr(ScheduleType::Cosine, 1.0, -1, 10, 100), ConfigError);
}

TEST(Optim, AdamWStateRoundTripAndErrors) {
  Tensor p = ones({3}).requires_grad_();
  training::AdamW opt({{{p}, 0.0}});
  p.set_grad(full({3}, 0.5));
  opt.step();
  auto st = opt.state_dict();
  training::AdamW again({{{p}, 0.0}});
  again.load_state_dict(st);
  EXPECT_EQ(again.step_count(), 1);
  st.erase("0.0.exp_avg");
  EXPECT_THROW(again.load_state_dict(st), LoadError);
  training::AdamWOptions bad;
  bad.beta1 = 1.0;
  EXPECT_THROW(training::AdamW({{{p}, 0.0}}, bad), ConfigError);
}

// ---- fused cross-entropy ----

// max |a - b| over every element, in f64.
double max_diff(const Tensor& a, const Tensor& b) {
  return amax(abs(a.to(DType::F64) - b.to(DType::F64))).item();
}

// The composed reference: log_softmax, gather, smoothing, mean over counted rows.
Tensor reference_ce(const Tensor& logits, const Tensor& t, double s) {
  const int64_t C = logits.size(1);
  Tensor lp = log_softmax(logits, -1);
  Tensor valid = ne(t, full({}, -100.0, DType::I64));
  Tensor safe = where(valid, t, zeros({}, DType::I64));
  Tensor nll = neg(gather(lp, 1, safe.unsqueeze(1)).squeeze(1)) * (1.0 - s) +
               neg(sum(lp, {1})) * (s / double(C));
  Tensor vf = valid.to(logits.dtype());
  return sum(nll * vf) / sum(vf).item();
}

TEST(FusedLoss, CrossEntropyRowsMatchesComposedForwardAndBackward) {
  manual_seed(3);
  for (DType dt : {DType::F32, DType::F64}) {
    for (double s : {0.0, 0.2}) {
      Tensor x = (randn({6, 37}) * 3.0).to(dt).requires_grad_();
      Tensor t = from_vector<int64_t>({4, -100, 36, 0, 17, -100}, {6}, DType::I64);
      Tensor a = sum(cross_entropy_rows(x, t, -100, s)) / 4.0;
      a.backward();
      Tensor ga = x.grad();
      Tensor xr = x.detach().requires_grad_();
      Tensor b = reference_ce(xr, t, s);
      b.backward();
      double tol = dt == DType::F64 ? 1e-12 : 2e-6;
      EXPECT_NEAR(a.item(), b.item(), tol) << dtype_name(dt) << " s=" << s;
      EXPECT_LT(max_diff(ga, xr.grad()), tol) << dtype_name(dt) << " s=" << s;
    }
  }
}

TEST(FusedLoss, CrossEntropyRowsErrors) {
  Tensor x = zeros({2, 4});
  EXPECT_THROW(cross_entropy_rows(x, from_vector<int64_t>({0, 4}, {2}, DType::I64)), IndexError);
  EXPECT_THROW(cross_entropy_rows(x, zeros({2})), DTypeError);
  EXPECT_THROW(cross_entropy_rows(x, zeros({3}, DType::I64)), ShapeError);
  EXPECT_THROW(cross_entropy_rows(zeros({8}), zeros({8}, DType::I64)), ShapeError);
  EXPECT_THROW(cross_entropy_rows(x, zeros({2}, DType::I64), -100, -0.1), ConfigError);
}

// linear_cross_entropy against cross_entropy(linear(x, w, b)) for every chunking, with and without
// a bias, and with only some inputs needing a gradient.
TEST(FusedLoss, LinearCrossEntropyMatchesLinearThenCrossEntropy) {
  manual_seed(5);
  const int64_t N = 11, D = 7, V = 23;
  Tensor t = from_vector<int64_t>({3, -100, 22, 0, 5, 5, -100, 9, 1, 14, 22}, {N}, DType::I64);
  for (DType dt : {DType::F32, DType::F64}) {
    const double tol = dt == DType::F64 ? 1e-12 : 3e-6;
    Tensor x0 = randn({N, D}).to(dt), w0 = (randn({V, D}) * 0.5).to(dt), b0 = randn({V}).to(dt);
    for (bool with_bias : {false, true}) {
      for (double s : {0.0, 0.1}) {
        Tensor xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_();
        Tensor br = with_bias ? b0.clone().requires_grad_() : Tensor();
        Tensor ref = losses::cross_entropy(linear(xr, wr, br), t, -100, s);
        ref.backward();
        for (int64_t chunk : {0, 1, 3, 4, 11, 50}) {
          std::string what =
              fmt::format("{} bias={} s={} chunk={}", dtype_name(dt), with_bias, s, chunk);
          Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
          Tensor b = with_bias ? b0.clone().requires_grad_() : Tensor();
          Tensor l = linear_cross_entropy(x, w, b, t, -100, s, chunk);
          (l * 2.0).backward();  // the upstream gradient scales every gradient
          EXPECT_NEAR(l.item(), ref.item(), tol) << what;
          EXPECT_LT(max_diff(x.grad(), xr.grad() * 2.0), tol) << what;
          EXPECT_LT(max_diff(w.grad(), wr.grad() * 2.0), tol) << what;
          if (with_bias) {
            EXPECT_LT(max_diff(b.grad(), br.grad() * 2.0), tol) << what;
          }
        }
      }
    }
    // Only the weight (a frozen trunk) or only x (a frozen head, as under LoRA) needs a gradient.
    Tensor w = w0.clone().requires_grad_();
    linear_cross_entropy(x0, w, Tensor(), t).backward();
    EXPECT_TRUE(w.grad().defined());
    Tensor x = x0.clone().requires_grad_();
    linear_cross_entropy(x, w0, Tensor(), t).backward();
    EXPECT_TRUE(x.grad().defined());
    // Without grad mode it is a plain value.
    NoGradGuard ng;
    EXPECT_FALSE(linear_cross_entropy(x, w, Tensor(), t).requires_grad());
  }
}

TEST(FusedLoss, LinearCrossEntropyKeepsInputDtypes) {
  manual_seed(6);
  Tensor x = randn({5, 8}).to(DType::BF16).requires_grad_();
  Tensor w = randn({12, 8}).to(DType::BF16).requires_grad_();
  Tensor t = from_vector<int64_t>({1, 2, 3, 4, 11}, {5}, DType::I64);
  Tensor l = linear_cross_entropy(x, w, Tensor(), t);
  EXPECT_EQ(l.dtype(), DType::F32);
  l.backward();
  EXPECT_EQ(x.grad().dtype(), DType::BF16);
  EXPECT_EQ(w.grad().dtype(), DType::BF16);
  // f32 math on the bf16 values: the same loss as the f32 path on those values.
  Tensor ref =
      losses::cross_entropy(linear(x.detach().to(DType::F32), w.detach().to(DType::F32)), t);
  EXPECT_NEAR(l.item(), ref.item(), 1e-6);
}

TEST(FusedLoss, LinearCrossEntropyErrors) {
  Tensor x = zeros({3, 4}), w = zeros({5, 4});
  Tensor t = from_vector<int64_t>({0, 1, 2}, {3}, DType::I64);
  try {
    linear_cross_entropy(x, w, Tensor(), full({3}, -100.0, DType::I64));
    FAIL() << "all-ignored targets must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokens to learn from"), std::string::npos);
  }
  EXPECT_THROW(
      linear_cross_entropy(x, w, Tensor(), from_vector<int64_t>({0, 5, 1}, {3}, DType::I64)),
      IndexError);
  EXPECT_THROW(linear_cross_entropy(x, zeros({5, 3}), Tensor(), t), ShapeError);
  EXPECT_THROW(linear_cross_entropy(x, w, zeros({4}), t), ShapeError);
  EXPECT_THROW(linear_cross_entropy(x, w, Tensor(), t, -100, 0.0, -1), ConfigError);
  EXPECT_THROW(linear_cross_entropy(x, w, Tensor(), t, -100, 2.0), ConfigError);
}

TEST(FusedLoss, CausalLMHeadLossEqualsCausalLMLossOfTheLogits) {
  manual_seed(8);
  Tensor h = randn({2, 6, 5}).requires_grad_(), w = randn({9, 5}).requires_grad_();
  Tensor labels =
      from_vector<int64_t>({1, 2, 3, -100, 4, 0, 6, 6, 5, -100, 8, 7}, {2, 6}, DType::I64);
  Tensor fused = losses::causal_lm_head_loss(h, w, Tensor(), labels, 0.0, 4);
  fused.backward();
  Tensor h2 = h.detach().requires_grad_(), w2 = w.detach().requires_grad_();
  Tensor ref = losses::causal_lm_loss(linear(h2, w2), labels);
  ref.backward();
  EXPECT_NEAR(fused.item(), ref.item(), 2e-6);
  EXPECT_LT(max_diff(h.grad(), h2.grad()), 2e-6);
  EXPECT_LT(max_diff(w.grad(), w2.grad()), 2e-6);
  // The same errors as causal_lm_loss.
  EXPECT_THROW(
      losses::causal_lm_head_loss(randn({2, 1, 5}), w, Tensor(), zeros({2, 1}, DType::I64)),
      ShapeError);
  Tensor first_only = full({2, 6}, -100.0, DType::I64);
  EXPECT_THROW(losses::causal_lm_head_loss(h, w, Tensor(), first_only), Error);
}

// ---- fused optimizer kernels ----

TEST(Optim, FusedAdamWMatchesTheFormula) {
  // Two steps with decay, computed by hand in double from the PyTorch AdamW formula.
  Tensor p = from_vector(std::vector<float>{1.0f, -2.0f, 0.5f}, {3}).requires_grad_();
  training::AdamWOptions o;
  o.lr = 0.1;
  o.beta1 = 0.8;
  o.beta2 = 0.9;
  o.eps = 1e-3;
  training::AdamW opt({{{p}, 0.05}}, o);
  std::vector<double> pv = {1.0, -2.0, 0.5}, m(3, 0.0), v(3, 0.0);
  std::vector<std::vector<double>> grads = {{0.3, -1.0, 2.0}, {-0.7, 0.2, 0.0}};
  for (int step = 1; step <= 2; ++step) {
    const auto& gs = grads[size_t(step - 1)];
    p.set_grad(from_vector(std::vector<float>{float(gs[0]), float(gs[1]), float(gs[2])}, {3}));
    opt.step();
    double c1 = 1 - std::pow(0.8, step), c2 = 1 - std::pow(0.9, step);
    for (size_t i = 0; i < 3; ++i) {
      double g = grads[step - 1][i];
      pv[i] *= 1 - 0.1 * 0.05;
      m[i] = 0.8 * m[i] + 0.2 * g;
      v[i] = 0.9 * v[i] + 0.1 * g * g;
      pv[i] -= 0.1 / c1 * m[i] / (std::sqrt(v[i]) / std::sqrt(c2) + 1e-3);
    }
  }
  auto got = p.to_vector<double>();
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(got[i], pv[i], 1e-6) << i;
}

TEST(Optim, AdamWStateDictIsASnapshot) {
  // step() updates the moments in place: a state dict taken earlier must not change, and a loaded
  // state must not alias the caller's tensors.
  Tensor p = ones({4}).requires_grad_();
  training::AdamW opt({{{p}, 0.0}});
  p.set_grad(full({4}, 0.5));
  opt.step();
  auto before = opt.state_dict();
  Tensor m_before = before.at("0.0.exp_avg").clone();
  opt.step();
  EXPECT_EQ(max_diff(before.at("0.0.exp_avg"), m_before), 0.0);
  training::AdamW other({{{p}, 0.0}});
  other.load_state_dict(before);
  other.step();
  EXPECT_EQ(max_diff(before.at("0.0.exp_avg"), m_before), 0.0);
}

TEST(Optim, FusedKernelErrorsAndSumSquares) {
  Tensor a = zeros({3});
  EXPECT_THROW(adamw_update_(a, zeros({4}), zeros({3}), zeros({3}), {}), ShapeError);
  EXPECT_THROW(adamw_update_(a, zeros({3}, DType::F64), zeros({3}), zeros({3}), {}), DTypeError);
  EXPECT_THROW(adamw_update_(zeros({3}, DType::BF16), zeros({3}, DType::BF16),
                             zeros({3}, DType::BF16), zeros({3}, DType::BF16), {}),
               DTypeError);
  EXPECT_THROW(adamw_update_(zeros({2, 3}).t(), zeros({3, 2}), zeros({3, 2}), zeros({3, 2}), {}),
               ShapeError);
  EXPECT_THROW(sum_squares(zeros({3}, DType::I64)), DTypeError);
  manual_seed(9);
  Tensor x = randn({1000, 77});
  double want = sum(x.to(DType::F64) * x.to(DType::F64)).item();
  EXPECT_NEAR(sum_squares(x), want, 1e-9 * want);
  EXPECT_NEAR(sum_squares(x.t()), want, 1e-9 * want);  // any layout
  EXPECT_EQ(sum_squares(zeros({0})), 0.0);
  // Fixed blocks: the same bits whatever the thread count.
  int before = num_threads();
  set_num_threads(1);
  double one = sum_squares(x);
  set_num_threads(2);
  double two = sum_squares(x);
  set_num_threads(before);
  EXPECT_EQ(one, two);
}

}  // namespace
