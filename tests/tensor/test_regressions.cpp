// Regressions from code review: each case once crashed, overflowed or disagreed with PyTorch.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;

namespace {

TEST(Regressions, ZeroDimTensorsRejectDimOps) {
  Tensor s = scalar_tensor(1.0);
  EXPECT_THROW(s.size(0), ShapeError);
  EXPECT_THROW(s.stride(0), ShapeError);
  EXPECT_THROW(s.select(0, 0), ShapeError);
  EXPECT_THROW(s.narrow(0, 0, 1), ShapeError);
  EXPECT_THROW(split(s, 1), ShapeError);
  EXPECT_THROW(chunk(s, 1), ShapeError);
  EXPECT_EQ(s.transpose(0, 0).dim(), 0);  // torch returns self
}

TEST(Regressions, LongGraphDroppedWithoutBackwardDoesNotOverflowTheStack) {
  Tensor y = ones({1}).requires_grad_();
  for (int i = 0; i < 200000; ++i) y = y * 1.0;
  y = Tensor();  // recursive destruction used to overflow the stack here
  SUCCEED();
}

TEST(Regressions, MatmulWithEmptyInnerOrOuterDims) {
  Tensor r = matmul(zeros({2, 3, 0}), zeros({0, 4}));
  EXPECT_EQ(r.shape(), (Shape{2, 3, 4}));
  EXPECT_DOUBLE_EQ(sum(r).item(), 0.0);
  Tensor a = ones({2, 3, 4}).requires_grad_();
  Tensor b = ones({4, 0}).requires_grad_();
  sum(matmul(a, b)).backward();
  EXPECT_EQ(b.grad().shape(), (Shape{4, 0}));
  EXPECT_DOUBLE_EQ(sum(a.grad()).item(), 0.0);
}

TEST(Regressions, PowGradientAtZeroExponentIsZero) {
  Tensor a = from_vector({0.0f}, {1}).requires_grad_();
  sum(pow(a, from_vector({0.0f}, {1}))).backward();
  EXPECT_EQ(a.grad().item(), 0.0);  // torch: 0, not NaN
}

TEST(Regressions, IntegerArithmeticWraps) {
  const int64_t mx = std::numeric_limits<int64_t>::max();
  Tensor r =
      add(from_vector<int64_t>({mx}, {1}, DType::I64), from_vector<int64_t>({1}, {1}, DType::I64));
  EXPECT_EQ(r.to_vector<int64_t>()[0], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(sum(from_vector<int64_t>({mx, 1}, {2}, DType::I64)).to_vector<int64_t>()[0],
            std::numeric_limits<int64_t>::min());
}

TEST(Regressions, SliceWithHugeStep) {
  Tensor x = arange(10, DType::F32);
  Tensor s = x.slice(0, 0, 10, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item(), 0.0);
}

TEST(Regressions, HugeZeroElementShapesAreRejected) {
  EXPECT_THROW(empty({0, int64_t(1) << 40, int64_t(1) << 40}), IndexError);
}

TEST(Regressions, RandF32StaysHalfOpen) {
  Generator g(0);
  Tensor r = rand({1 << 20}, DType::F32, 0.0, 1.0, &g);
  EXPECT_LT(amax(r).item(), 1.0);
}

TEST(Regressions, CopyFromOverlappingView) {
  Tensor x = arange(0.0, 2000000.0, 1.0, DType::F32);
  int64_t n = x.numel();
  x.narrow(0, 1, n - 1).copy_(x.narrow(0, 0, n - 1));
  auto v = x.to_vector<float>();
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_EQ(v[n - 1], float(n - 2));
}

TEST(Regressions, BoolStorageHoldsOnlyZeroOrOne) {
  Tensor b = from_vector<uint8_t>({2, 0, 7}, {3}, DType::Bool);
  EXPECT_EQ(sum(b).to_vector<int64_t>()[0], 2);
  EXPECT_EQ(eq(b, full({}, 1.0, DType::Bool)).to_vector<uint8_t>(),
            (std::vector<uint8_t>{1, 0, 1}));
}

}  // namespace
