// Losses, optimizers, clipping and schedules: edge cases and errors (values against PyTorch are in
// training_torch_parity).
#include <gtest/gtest.h>

#include <cmath>

#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/tensor/autograd.h"
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

}  // namespace
