// Autograd semantics: accumulation, no-grad scope, graph freed after backward, errors on misuse,
// explicit upstream gradients, value_and_grad not touching the caller's tensors, half-precision
// grads.
#include "test_helpers.h"

using namespace etest;

TEST(Autograd, AccumulatesOverTwoBackwards) {
  Tensor x = make({1, 2, 3}, {3}, DType::F64);
  x.requires_grad_();
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  sum(x * x).backward();
  EXPECT_TRUE(close(x.grad(), {2, 4, 6}, 0, 0));
  sum(x * 3.0).backward();  // a fresh graph; grads add up
  EXPECT_TRUE(close(x.grad(), {5, 7, 9}, 0, 0));
  x.zero_grad();
  sum(x).backward();
  EXPECT_TRUE(close(x.grad(), {1, 1, 1}, 0, 0));
}

TEST(Autograd, LeafGradOnlyNonLeavesAndUnusedLeaves) {
  Tensor a = make({1, 2}, {2}), b = make({3, 4}, {2});
  a.requires_grad_();
  b.requires_grad_();
  Tensor c = a * 2.0;
  EXPECT_FALSE(c.is_leaf());
  EXPECT_TRUE(c.requires_grad());
  EXPECT_NE(c.grad_fn(), nullptr);
  sum(c).backward();
  EXPECT_TRUE(close(a.grad(), {2, 2}, 0, 0));
  EXPECT_FALSE(b.grad().defined());  // never reached
  EXPECT_EQ(a.grad().dtype(), DType::F32);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = make({1, 2, 3}, {3});
  x.requires_grad_();
  {
    NoGradGuard ng;
    EXPECT_FALSE(grad_enabled());
    Tensor y = exp(x) * x + 1.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    Tensor z = matmul(x.unsqueeze(0), x.unsqueeze(1));
    EXPECT_FALSE(z.requires_grad());
    EXPECT_FALSE(x.slice(0, 0, 2).requires_grad());
    EXPECT_FALSE(rms_norm(x, Tensor(), 1e-6).requires_grad());
    { NoGradGuard inner; }
    EXPECT_FALSE(grad_enabled());  // nesting restores the outer state
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
  EXPECT_FALSE(x.detach().requires_grad());
  EXPECT_EQ(x.detach().raw_data(), x.raw_data());
}

TEST(Autograd, GraphFreedAfterBackward) {
  Tensor x = make({1, 2}, {2});
  x.requires_grad_();
  Tensor loss = sum(exp(x));
  loss.backward();
  EXPECT_THROW(loss.backward(), AutogradError);
  // The saved tensors are released: x is held only by our handle and the grad.
  std::weak_ptr<TensorImpl> mid;
  {
    Tensor m = exp(x);
    mid = m.impl_ptr();
    Tensor l = sum(m);
    l.backward();
  }
  EXPECT_TRUE(mid.expired());
}

TEST(Autograd, MisuseThrows) {
  Tensor x = make({1, 2}, {2});
  x.requires_grad_();
  EXPECT_TRUE(throws_with<AutogradError>([&] { (x * 2.0).backward(); }, "scalar"));
  Tensor plain = make({1}, {1});
  EXPECT_THROW(sum(plain).backward(), AutogradError);  // nothing requires grad
  for (DType d : {DType::I32, DType::I64, DType::Bool}) {
    Tensor i = zeros({2}, d);
    EXPECT_THROW(i.requires_grad_(), DTypeError) << dtype_name(d);
  }
  Tensor nl = x * 2.0;
  EXPECT_THROW(nl.requires_grad_(), AutogradError);  // not a leaf
  Tensor y = make({1, 2}, {2});
  y.requires_grad_();
  Tensor out = record_no_grad_primitive("mystery_op", {y}, y.detach() * 2.0);
  EXPECT_TRUE(throws_with<AutogradError>([&] { sum(out).backward(); }, "mystery_op"));
}

TEST(Autograd, ExplicitUpstreamGradient) {
  Tensor x = make({1, 2, 3}, {3}, DType::F64);
  x.requires_grad_();
  Tensor y = x * x;
  y.backward(make({1, 0.5, -1}, {3}, DType::F64));
  EXPECT_TRUE(close(x.grad(), {2, 2, -6}, 0, 0));
  Tensor z = x * 1.0;
  EXPECT_THROW(z.backward(make({1, 2}, {2}, DType::F64)), Error);  // wrong shape
}

TEST(Autograd, ValueAndGradLeavesCallerUntouched) {
  Tensor a = make({1, 2, 3}, {3}, DType::F64), b = make({2}, {1}, DType::F64);
  auto [v, g] =
      value_and_grad([](const std::vector<Tensor>& p) { return sum(p[0] * p[0] * p[1]); }, {a, b});
  EXPECT_DOUBLE_EQ(v.item(), 28);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_TRUE(close(g[0], {4, 8, 12}, 0, 0));
  EXPECT_TRUE(close(g[1], {14}, 0, 0));
  EXPECT_FALSE(a.requires_grad());
  EXPECT_FALSE(a.grad().defined());
  // Calling twice gives the same result (no hidden accumulation).
  auto [v2, g2] =
      value_and_grad([](const std::vector<Tensor>& p) { return sum(p[0] * p[0] * p[1]); }, {a, b});
  EXPECT_TRUE(close(g2[0], {4, 8, 12}, 0, 0));
}

TEST(Autograd, HalfPrecisionGradsKeepDtype) {
  for (DType dt : {DType::BF16, DType::F16}) {
    Tensor x = rand_t({4, 8}, 1, dt), w = rand_t({8}, 2, dt);
    x.requires_grad_();
    w.requires_grad_();
    sum(rms_norm(x, w, 1e-6) * x).backward();
    EXPECT_EQ(x.grad().dtype(), dt);
    EXPECT_EQ(w.grad().dtype(), dt);
    // Against the same computation in f64.
    Tensor xd = x.detach().to(DType::F64), wd = w.detach().to(DType::F64);
    xd.requires_grad_();
    wd.requires_grad_();
    sum(rms_norm(xd, wd, 1e-6) * xd).backward();
    double tol = dt == DType::BF16 ? 3e-2 : 4e-3;
    EXPECT_TRUE(close(x.grad(), values(xd.grad()), tol, tol)) << dtype_name(dt);
    EXPECT_TRUE(close(w.grad(), values(wd.grad()), tol, tol)) << dtype_name(dt);
  }
}

TEST(Autograd, GradThroughIntegerIndexAndComparisonsStopsCleanly) {
  Tensor x = make({3, 1, 2}, {3});
  x.requires_grad_();
  Tensor m = gt(x, make({1.5}, {1}));
  EXPECT_FALSE(m.requires_grad());
  Tensor am = argmax(x, 0);
  EXPECT_FALSE(am.requires_grad());
  sum(where(m, x, x * 0.0)).backward();
  EXPECT_TRUE(close(x.grad(), {1, 0, 1}, 0, 0));
}

TEST(Autograd, DeepChainDoesNotOverflowStack) {
  Tensor x = make({1}, {1}, DType::F64);
  x.requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0;
  sum(y).backward();
  EXPECT_TRUE(close(x.grad(), {1}, 0, 0));
}

TEST(Autograd, GradThroughCastsKeepsLeafDtype) {
  Tensor x = make({1, 2, 3}, {3});
  x.requires_grad_();
  sum(x.to(DType::F64) * 2.0).backward();
  EXPECT_EQ(x.grad().dtype(), DType::F32);
  EXPECT_TRUE(close(x.grad(), {2, 2, 2}, 0, 0));
  Tensor h = make({1, 2}, {2}, DType::BF16);
  h.requires_grad_();
  sum(h.to(DType::F32) * 3.0).backward();
  EXPECT_EQ(h.grad().dtype(), DType::BF16);
  EXPECT_TRUE(close(h.grad(), {3, 3}, 0, 0));
}

TEST(Autograd, SecondBackwardThroughFreedSharedSubgraphThrows) {
  Tensor x = make({1, 2}, {2});
  x.requires_grad_();
  Tensor a = exp(x);
  Tensor l1 = sum(a), l2 = sum(a * 2.0);
  l1.backward();
  // torch: "Trying to backward through the graph a second time"; never a crash or silent zeros.
  EXPECT_THROW(l2.backward(), AutogradError);
}

TEST(Autograd, ValueAndGradNeedsScalar) {
  Tensor a = make({1, 2}, {2});
  EXPECT_THROW(value_and_grad([](const std::vector<Tensor>& p) { return p[0] * 2.0; }, {a}),
               AutogradError);
  auto [v, g] =
      value_and_grad([](const std::vector<Tensor>& p) { return sum(p[0] * 0.0 + 1.0); }, {a});
  EXPECT_DOUBLE_EQ(v.item(), 2);
  ASSERT_EQ(g.size(), 1u);
  if (g[0].defined()) {
    EXPECT_TRUE(close(g[0], {0, 0}, 0, 0));
  }
}

TEST(Autograd, SetGradAndViewsOfLeaves) {
  Tensor x = make({1, 2, 3, 4}, {2, 2});
  x.requires_grad_();
  Tensor v = x.t();
  EXPECT_FALSE(v.is_leaf());
  EXPECT_TRUE(v.requires_grad());
  sum(v.select(0, 1) * make({10, 100}, {2})).backward();  // v[1] = x[:, 1]
  EXPECT_TRUE(close(x.grad(), {0, 10, 0, 100}, 0, 0));
  x.set_grad(zeros({2, 2}));
  EXPECT_TRUE(close(x.grad(), {0, 0, 0, 0}, 0, 0));
}

namespace {
Vec grad_of(const std::function<Tensor(const Tensor&)>& f, const Vec& x0) {
  Tensor x = make(x0, {int64_t(x0.size())}, DType::F64);
  x.requires_grad_();
  sum(f(x)).backward();
  return values(x.grad());
}
}  // namespace

TEST(Autograd, GradientsAtNonDifferentiablePointsFollowTorch) {
  EXPECT_TRUE(close(grad_of([](const Tensor& x) { return relu(x); }, {-1, 0, 2}), {0, 0, 1}, 0, 0))
      << "relu'(0) = 0";
  EXPECT_TRUE(close(grad_of([](const Tensor& x) { return abs(x); }, {-1, 0, 2}), {-1, 0, 1}, 0, 0))
      << "abs'(0) = 0";
  EXPECT_TRUE(close(grad_of([](const Tensor& x) { return maximum(x, x.detach()); }, {1, 2}),
                    {0.5, 0.5}, 0, 0))
      << "maximum tie";
  EXPECT_TRUE(close(
      grad_of([](const Tensor& x) { return minimum(x, full({}, 2.0, DType::F64)); }, {1, 2, 3}),
      {1, 0.5, 0}, 0, 0))
      << "minimum tie";
  EXPECT_TRUE(close(grad_of([](const Tensor& x) { return pow(x, 2.0); }, {0, 3}), {0, 6}, 0, 0))
      << "pow(0, 2)";
  EXPECT_TRUE(close(grad_of([](const Tensor& x) { return sqrt(x); }, {0}), {INFINITY}, 0, 0))
      << "sqrt'(0)";
  // d/db 0^b at b = 2 is 0 in torch (not 0 * log 0 = NaN).
  EXPECT_TRUE(close(grad_of([](const Tensor& b) { return pow(zeros({2}, DType::F64), b); }, {2, 3}),
                    {0, 0}, 0, 0))
      << "pow base 0, grad of exponent";
  EXPECT_TRUE(close(grad_of(
                        [](const Tensor& x) {
                          return log_softmax(x + make({0, -INFINITY, 0}, {3}, DType::F64), 0) *
                                 make({1, 0, 1}, {3}, DType::F64);
                        },
                        {1, 2, 3}),
                    {1 - 2 / (1 + std::exp(2.0)), 0, 1 - 2 / (1 + std::exp(-2.0))}, 1e-12, 1e-12))
      << "log_softmax with -inf entry";
  EXPECT_TRUE(close(grad_of(
                        [](const Tensor& x) {
                          return softmax(x + make({0, -INFINITY}, {2}, DType::F64), 0);
                        },
                        {1, 2}),
                    {0, 0}, 0, 1e-12))
      << "softmax -inf";
  Tensor m = make({1, 0, 1}, {3}, DType::F64);
  EXPECT_TRUE(close(
      grad_of([&](const Tensor& x) { return masked_fill(x, gt(m, zeros({})), 5.0); }, {1, 2, 3}),
      {0, 1, 0}, 0, 0))
      << "masked_fill";
  // where: the unselected branch gets exactly 0 even when its forward value is inf.
  EXPECT_TRUE(
      close(grad_of([&](const Tensor& x) { return where(gt(x, zeros({})), x, log(x)); }, {0.5, 2}),
            {1, 1}, 0, 0))
      << "where";
  EXPECT_TRUE(close(grad_of([](const Tensor& x) { return amax(x); }, {-INFINITY, 1, 1}),
                    {0, 0.5, 0.5}, 0, 0))
      << "amax ties with -inf";
}
