// Every compiled kernel table (lazarus::cpu::available_kernels(): generic, AVX2, AVX-512 as the CPU
// allows) against a double-precision loop and against the generic table, at the sizes where vector
// loops break (0, 1, 15, 16, 17, 31, 32, 33, 1000), plus the special values the kernels promise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/tensor/dtype.h"

namespace {

using lazarus::BinaryOp;
using lazarus::UnaryOp;
using lazarus::cpu::KernelTable;

const std::vector<int64_t> kSizes = {0, 1, 15, 16, 17, 31, 32, 33, 1000};
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();

std::vector<float> data(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// |got - want| <= atol + rtol * |want|, with equal infinities and NaN matching NaN.
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<double>& want,
                                 double rtol, double atol, const std::string& what) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": size differs";
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w))) {
      return ::testing::AssertionFailure()
             << what << ": element " << i << " is " << g << ", want " << w;
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// f32's unit roundoff and Higham's gamma_n (docs/testing.md): a sum of n terms in any order is
// off by at most gamma_n times the sum of their magnitudes.
constexpr double kU = 0x1p-24;
double gamma_n(double n) { return n * kU / (1 - n * kU); }

// |got - want| <= bound[i] elementwise.
::testing::AssertionResult within(const std::vector<float>& got, const std::vector<double>& want,
                                  const std::vector<double>& bound, const std::string& what) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= bound[i])) {
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << got[i]
                                           << ", want " << want[i] << " within " << bound[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// rms_norm and layer_norm of one row in double, with the bound on an f32 kernel's error per
// element, whatever order it sums in:
//   rms_norm: the sum of squares has no cancellation (relative gamma_n), so 1 / rms is off by
//     gamma_n / 2 plus the +eps, /n, sqrt and divide; y = x inv w adds two products.
//   layer_norm: the mean is off by gamma_n mean|x - shift|; a one-pass variance from sums shifted
//     by a sample of the row (or by 0) cancels by kappa = 1 + (mu - shift)^2 / var, at most
//     1 + max((x - mu)^2, mu^2) / var, and is off by 3 kappa gamma_{n+2} relatively (the square of
//     the mean's error included); y = (x - mu) inv w + b adds four roundings.
struct NormRow {
  std::vector<double> rms, rms_bound, ln, ln_bound;
};
NormRow norm_row(const float* x, const float* w, const float* b, int64_t n, double eps_rms,
                 double eps_ln) {
  double ss = 0, s = 0, v = 0, sa = 0, far = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i], s += x[i];
  const double mu = s / double(n);
  for (int64_t i = 0; i < n; ++i) {
    v += (x[i] - mu) * (x[i] - mu);
    far = std::max(far, std::fabs(x[i] - mu));
  }
  const double var = v / double(n), spread = std::max(far, std::fabs(mu));
  for (int64_t i = 0; i < n; ++i) sa += std::fabs(x[i] - mu) + spread;
  const double inv_rms = 1 / std::sqrt(ss / double(n) + eps_rms);
  const double inv_sd = 1 / std::sqrt(var + eps_ln);
  const double kappa = var > 0 ? 1 + spread * spread / var : 1;
  const double rel_rms = gamma_n(double(n)) / 2 + 6 * kU;
  const double rel_sd = 1.5 * kappa * gamma_n(double(n + 2)) + 3 * kU;
  const double d_mu = gamma_n(double(n)) * sa / double(n) + kU * std::fabs(mu);
  NormRow r;
  for (int64_t i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i);
    const double wi = w ? w[k] : 1.0, bi = b ? b[k] : 0.0, c = x[i] - mu;
    r.rms.push_back(x[i] * inv_rms * wi);
    r.rms_bound.push_back(std::fabs(r.rms.back()) * rel_rms);
    r.ln.push_back(c * inv_sd * wi + bi);
    r.ln_bound.push_back(std::fabs(wi) * inv_sd * (d_mu + std::fabs(c) * (rel_sd + 4 * kU)) +
                         kU * (std::fabs(r.ln.back()) + std::fabs(bi)));
  }
  return r;
}

const KernelTable& generic() { return *lazarus::cpu::available_kernels().front(); }

class Kernels : public ::testing::TestWithParam<const KernelTable*> {
 protected:
  const KernelTable& kt() const { return *GetParam(); }
  std::string tag(const std::string& op, int64_t n) const {
    return std::string(kt().isa) + " " + op + " n=" + std::to_string(n);
  }
  // Checks one result against the double reference and the generic table's result.
  void check(const std::vector<float>& got, const std::vector<float>& gen,
             const std::vector<double>& ref, double rtol, double atol,
             const std::string& what) const {
    EXPECT_TRUE(close(got, ref, rtol, atol, what + " vs double"));
    EXPECT_TRUE(close(got, widen(gen), 2 * rtol, 2 * atol, what + " vs generic"));
  }
};

struct UnaryCase {
  UnaryOp op;
  const char* name;
  float lo, hi;
  double (*ref)(double);
  double rtol;
  double atol = 1e-7;
};

const UnaryCase kUnary[] = {
    {UnaryOp::Neg, "neg", -5, 5, [](double x) { return -x; }, 0},
    {UnaryOp::Abs, "abs", -5, 5, [](double x) { return std::fabs(x); }, 0},
    {UnaryOp::Exp, "exp", -80, 80, [](double x) { return std::exp(x); }, 4e-7},
    {UnaryOp::Log, "log", 1e-3f, 50, [](double x) { return std::log(x); }, 4e-7},
    {UnaryOp::Sqrt, "sqrt", 0, 50, [](double x) { return std::sqrt(x); }, 2e-7},
    {UnaryOp::Rsqrt, "rsqrt", 1e-3f, 50, [](double x) { return 1 / std::sqrt(x); }, 4e-7},
    {UnaryOp::Sin, "sin", -6, 6, [](double x) { return std::sin(x); }, 4e-7},
    {UnaryOp::Cos, "cos", -6, 6, [](double x) { return std::cos(x); }, 4e-7},
    {UnaryOp::Tanh, "tanh", -12, 12, [](double x) { return std::tanh(x); }, 2e-6},
    {UnaryOp::Sigmoid, "sigmoid", -30, 30, [](double x) { return 1 / (1 + std::exp(-x)); }, 2e-6},
    {UnaryOp::Relu, "relu", -5, 5, [](double x) { return x > 0 ? x : 0.0; }, 0},
    // For x << 0, 1 + erf cancels: erf's own error (2 ulp of a value below 1: 2 u) times x / 2,
    // at most 6 u over [-6, 6], is all that is left.
    {UnaryOp::Gelu, "gelu", -6, 6,
     [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, 2e-6, 0x1p-24 * 6},
    {UnaryOp::GeluTanh, "gelu_tanh", -6, 6,
     [](double x) {
       return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
     },
     4e-6},
    {UnaryOp::Silu, "silu", -30, 30, [](double x) { return x / (1 + std::exp(-x)); }, 2e-6},
    {UnaryOp::Softplus, "softplus", -30, 30,
     [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); }, 2e-6},
    {UnaryOp::Square, "square", -5, 5, [](double x) { return x * x; }, 2e-7},
    {UnaryOp::Erf, "erf", -4, 4, [](double x) { return std::erf(x); }, 2e-6},
    {UnaryOp::Sign, "sign", -5, 5, [](double x) { return double((x > 0) - (x < 0)); }, 0},
};

TEST_P(Kernels, Unary) {
  for (const auto& c : kUnary) {
    for (int64_t n : kSizes) {
      auto x = data(static_cast<size_t>(n), c.lo, c.hi, unsigned(n) + 1);
      std::vector<float> y(x.size()), g(x.size());
      std::vector<double> ref(x.size());
      for (size_t i = 0; i < x.size(); ++i) ref[i] = c.ref(double(x[i]));
      kt().unary_f32(c.op, x.data(), y.data(), n);
      generic().unary_f32(c.op, x.data(), g.data(), n);
      check(y, g, ref, c.rtol, c.atol, tag(c.name, n));
    }
  }
}

TEST_P(Kernels, ExpSpecialValues) {
  // Below -86.9 (results under FLT_MIN) the kernel flushes to 0 instead of returning denormals.
  std::vector<float> x = {-INFINITY, -1000.f, -104.f, -86.f,    0.f, 88.f,
                          88.7f,     89.f,    1000.f, INFINITY, NAN};
  std::vector<float> y(x.size());
  kt().unary_f32(UnaryOp::Exp, x.data(), y.data(), int64_t(x.size()));
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_LT(y[2], 1e-37f);
  EXPECT_NEAR(y[3] / std::exp(-86.0), 1.0, 1e-5);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_NEAR(y[5] / std::exp(88.0), 1.0, 1e-5);
  EXPECT_TRUE(std::isfinite(y[6]));
  EXPECT_EQ(y[7], INFINITY);
  EXPECT_EQ(y[8], INFINITY);
  EXPECT_EQ(y[9], INFINITY);
  EXPECT_TRUE(std::isnan(y[10]));
}

TEST_P(Kernels, Binary) {
  struct B {
    BinaryOp op;
    const char* name;
    double (*ref)(double, double);
  };
  const B ops[] = {
      {BinaryOp::Add, "add", [](double a, double b) { return a + b; }},
      {BinaryOp::Sub, "sub", [](double a, double b) { return a - b; }},
      {BinaryOp::Mul, "mul", [](double a, double b) { return a * b; }},
      {BinaryOp::Div, "div", [](double a, double b) { return a / b; }},
      {BinaryOp::Pow, "pow", [](double a, double b) { return std::pow(a, b); }},
      {BinaryOp::Maximum, "maximum", [](double a, double b) { return std::max(a, b); }},
      {BinaryOp::Minimum, "minimum", [](double a, double b) { return std::min(a, b); }},
  };
  for (const auto& o : ops) {
    for (int64_t n : kSizes) {
      auto a = data(static_cast<size_t>(std::max<int64_t>(n, 1)), 0.5f, 3.0f, 7);
      auto b = data(static_cast<size_t>(std::max<int64_t>(n, 1)), 0.5f, 3.0f, 8);
      for (int sa : {0, 1}) {
        for (int sb : {0, 1}) {
          std::vector<float> y(static_cast<size_t>(n)), g(static_cast<size_t>(n));
          std::vector<double> ref(static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i)
            ref[static_cast<size_t>(i)] =
                o.ref(a[static_cast<size_t>(i * sa)], b[static_cast<size_t>(i * sb)]);
          kt().binary_f32(o.op, a.data(), sa, b.data(), sb, y.data(), n);
          generic().binary_f32(o.op, a.data(), sa, b.data(), sb, g.data(), n);
          check(y, g, ref, 4e-7, 0,
                tag(o.name, n) + " strides " + std::to_string(sa) + std::to_string(sb));
        }
      }
    }
  }
}

TEST_P(Kernels, SoftmaxRows) {
  const int64_t rows = 3;
  for (bool log : {false, true}) {
    for (int64_t n : kSizes) {
      auto x = data(static_cast<size_t>(rows * n), -20, 20, unsigned(n) + 3);
      std::vector<double> ref(x.size());
      for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x.data() + r * n;
        double m = -kInf, s = 0;
        for (int64_t i = 0; i < n; ++i) m = std::max(m, double(xr[i]));
        for (int64_t i = 0; i < n; ++i) s += std::exp(xr[i] - m);
        for (int64_t i = 0; i < n; ++i) {
          ref[static_cast<size_t>(r * n + i)] =
              log ? xr[i] - m - std::log(s) : std::exp(xr[i] - m) / s;
        }
      }
      std::vector<float> y(x.size()), g(x.size());
      kt().softmax_rows_f32(x.data(), y.data(), rows, n, log);
      generic().softmax_rows_f32(x.data(), g.data(), rows, n, log);
      check(y, g, ref, 2e-6, log ? 2e-6 : 1e-9, tag(log ? "log_softmax" : "softmax", n));
    }
  }
}

TEST_P(Kernels, CrossEntropyRows) {
  // Rows 0 and 3 hit ordinary targets, row 1 the last class, row 2 is ignored (-100).
  const int64_t rows = 4;
  for (double smoothing : {0.0, 0.1}) {
    for (int64_t n : kSizes) {
      if (n == 0) continue;  // the op layer never calls it with no classes
      auto x = data(static_cast<size_t>(rows * n), -20, 20, unsigned(n) + 5);
      std::vector<int64_t> t = {0, n - 1, -100, n / 2};
      const double scale = 0.25;
      std::vector<double> lref(rows, 0.0), gref(x.size(), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        if (t[size_t(r)] == -100) continue;
        const float* xr = x.data() + r * n;
        double m = -kInf, s = 0, sx = 0;
        for (int64_t i = 0; i < n; ++i) m = std::max(m, double(xr[i]));
        for (int64_t i = 0; i < n; ++i) s += std::exp(xr[i] - m), sx += xr[i];
        double lse = std::log(s) + m;
        lref[size_t(r)] = lse - (1 - smoothing) * xr[t[size_t(r)]] - smoothing * sx / double(n);
        for (int64_t i = 0; i < n; ++i) {
          gref[size_t(r * n + i)] = scale * (std::exp(xr[i] - m) / s - smoothing / double(n) -
                                             (i == t[size_t(r)] ? 1 - smoothing : 0.0));
        }
      }
      std::vector<float> loss(rows), lgen(rows), g(x.size()), ggen(x.size());
      kt().cross_entropy_rows_f32(x.data(), t.data(), rows, n, -100, float(smoothing), loss.data(),
                                  g.data(), float(scale));
      generic().cross_entropy_rows_f32(x.data(), t.data(), rows, n, -100, float(smoothing),
                                       lgen.data(), ggen.data(), float(scale));
      check(loss, lgen, lref, 2e-6, 2e-5, tag("cross_entropy loss", n));
      check(g, ggen, gref, 2e-5, 1e-7, tag("cross_entropy grad", n));
      // In place (g aliasing x) gives the same gradient; no gradient leaves x alone.
      std::vector<float> xi = x, l2(rows);
      kt().cross_entropy_rows_f32(xi.data(), t.data(), rows, n, -100, float(smoothing), l2.data(),
                                  xi.data(), float(scale));
      EXPECT_EQ(xi, g) << tag("cross_entropy in place", n);
      std::vector<float> x3 = x;
      kt().cross_entropy_rows_f32(x3.data(), t.data(), rows, n, -100, float(smoothing), l2.data(),
                                  nullptr, 1.0f);
      EXPECT_EQ(x3, x) << tag("cross_entropy no grad", n);
      EXPECT_EQ(l2, loss) << tag("cross_entropy loss without grad", n);
    }
  }
}

TEST_P(Kernels, SoftmaxSpecialValues) {
  // A row with -inf entries, a row all -inf (NaN, as PyTorch), a row with a NaN (all NaN).
  const int64_t n = 33;
  std::vector<float> x(static_cast<size_t>(3 * n), 1.0f);
  x[0] = -INFINITY;
  x[5] = -INFINITY;
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(n + i)] = -INFINITY;
  x[static_cast<size_t>(2 * n + 17)] = NAN;
  std::vector<float> y(x.size());
  kt().softmax_rows_f32(x.data(), y.data(), 3, n, false);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 1.0 / (n - 2), 1e-7);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_TRUE(std::isnan(y[static_cast<size_t>(n + i)])) << kt().isa << " all -inf, i=" << i;
  for (int64_t i = 0; i < n; ++i)
    EXPECT_TRUE(std::isnan(y[static_cast<size_t>(2 * n + i)])) << kt().isa << " NaN row, i=" << i;
}

TEST_P(Kernels, Norms) {
  const int64_t rows = 3;
  for (int64_t n : kSizes) {
    if (n == 0) continue;  // the op layer never calls a norm over an empty dim
    auto x = data(static_cast<size_t>(rows * n), -3, 3, unsigned(n) + 11);
    auto w = data(static_cast<size_t>(n), 0.5f, 1.5f, 12);
    auto b = data(static_cast<size_t>(n), -1, 1, 13);
    for (bool with_w : {false, true}) {
      std::vector<double> rr, rb, lr, lb;
      for (int64_t r = 0; r < rows; ++r) {
        NormRow ref = norm_row(x.data() + r * n, with_w ? w.data() : nullptr,
                               with_w ? b.data() : nullptr, n, 1e-6, 1e-5);
        rr.insert(rr.end(), ref.rms.begin(), ref.rms.end());
        rb.insert(rb.end(), ref.rms_bound.begin(), ref.rms_bound.end());
        lr.insert(lr.end(), ref.ln.begin(), ref.ln.end());
        lb.insert(lb.end(), ref.ln_bound.begin(), ref.ln_bound.end());
      }
      // Against double: one kernel's bound; against the generic table: two kernels' bounds.
      std::vector<double> rb2(rb), lb2(lb);
      for (double& e : rb2) e *= 2;
      for (double& e : lb2) e *= 2;
      std::vector<float> y(x.size()), g(x.size());
      std::string what = tag(with_w ? "rms_norm(w)" : "rms_norm", n);
      kt().rms_norm_rows_f32(x.data(), with_w ? w.data() : nullptr, y.data(), rows, n, 1e-6f);
      generic().rms_norm_rows_f32(x.data(), with_w ? w.data() : nullptr, g.data(), rows, n, 1e-6f);
      EXPECT_TRUE(within(y, rr, rb, what + " vs double"));
      EXPECT_TRUE(within(y, widen(g), rb2, what + " vs generic"));
      what = tag(with_w ? "layer_norm(w,b)" : "layer_norm", n);
      kt().layer_norm_rows_f32(x.data(), with_w ? w.data() : nullptr, with_w ? b.data() : nullptr,
                               y.data(), rows, n, 1e-5f);
      generic().layer_norm_rows_f32(x.data(), with_w ? w.data() : nullptr,
                                    with_w ? b.data() : nullptr, g.data(), rows, n, 1e-5f);
      EXPECT_TRUE(within(y, lr, lb, what + " vs double"));
      EXPECT_TRUE(within(y, widen(g), lb2, what + " vs generic"));
    }
  }
}

TEST_P(Kernels, NormsLargeOutputsStreamed) {
  // >= 8 MiB of output takes the non-temporal store path; 1031-wide rows start at every alignment.
  const int64_t rows = 2049, n = 1031;
  auto x = data(static_cast<size_t>(rows * n), -3, 3, 41);
  auto w = data(static_cast<size_t>(n), 0.5f, 1.5f, 42),
       b = data(static_cast<size_t>(n), -1, 1, 43);
  std::vector<float> y(x.size()), z(x.size());
  kt().rms_norm_rows_f32(x.data(), w.data(), y.data(), rows, n, 1e-6f);
  kt().layer_norm_rows_f32(x.data(), w.data(), b.data(), z.data(), rows, n, 1e-5f);
  for (int64_t r = 0; r < rows; ++r) {
    NormRow ref = norm_row(x.data() + r * n, w.data(), b.data(), n, 1e-6, 1e-5);
    for (int64_t i = 0; i < n; ++i) {
      size_t k = static_cast<size_t>(r * n + i), j = static_cast<size_t>(i);
      ASSERT_NEAR(y[k], ref.rms[j], ref.rms_bound[j])
          << kt().isa << " rms_norm row " << r << " i " << i;
      ASSERT_NEAR(z[k], ref.ln[j], ref.ln_bound[j])
          << kt().isa << " layer_norm row " << r << " i " << i;
    }
  }
}

TEST_P(Kernels, LayerNormConstantRowsAreZero) {
  // Whatever the vector summation order, a constant row has mean exactly its value.
  for (int64_t n : kSizes) {
    for (float v : {-4.37f, 0.1f, 3.3f, 1000.7f}) {
      std::vector<float> x(static_cast<size_t>(n), v), y(static_cast<size_t>(n), 1.0f);
      kt().layer_norm_rows_f32(x.data(), nullptr, nullptr, y.data(), 1, n, 1e-5f);
      for (float e : y) ASSERT_EQ(e, 0.0f) << tag("layer_norm constant row", n) << " v=" << v;
    }
  }
}

TEST_P(Kernels, MatvecRows) {
  // Rows 0..9 cover the four-row blocks and the tail; a leading dimension past K checks ldw.
  for (int64_t K : kSizes) {
    for (int64_t rows : {0, 1, 3, 4, 5, 9}) {
      const int64_t ldw = K + 3;
      auto w = data(static_cast<size_t>(rows * ldw), -2, 2, 31);
      auto x = data(static_cast<size_t>(K), -2, 2, 32);
      std::vector<float> y(static_cast<size_t>(rows), 7.0f), yg = y;
      std::vector<double> ref(static_cast<size_t>(rows), 0.0);
      double asum = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < K; ++k) {
          double p = double(w[static_cast<size_t>(r * ldw + k)]) * x[static_cast<size_t>(k)];
          ref[static_cast<size_t>(r)] += p;
          asum += std::fabs(p);
        }
      kt().matvec_rows_f32(w.data(), ldw, x.data(), y.data(), rows, K);
      generic().matvec_rows_f32(w.data(), ldw, x.data(), yg.data(), rows, K);
      check(y, yg, ref, 1e-6, 1e-6 * asum + 1e-7, tag("matvec rows=" + std::to_string(rows), K));
    }
  }
}

// The half-weight product: the weight is widened exactly, so against the double product of the
// widened values only the f32 summation errs, by gamma_K sum |w x| per row in any order.
TEST_P(Kernels, MatvecRowsHalfWeights) {
  for (bool bf16 : {true, false}) {
    auto narrow = [&](float f) { return bf16 ? lazarus::f32_to_bf16_bits(f) : lazarus::f32_to_f16_bits(f); };
    auto wide = [&](uint16_t h) { return bf16 ? lazarus::bf16_bits_to_f32(h) : lazarus::f16_bits_to_f32(h); };
    for (int64_t K : kSizes) {
      for (int64_t rows : {0, 1, 3, 4, 5, 9}) {
        const int64_t ldw = K + 3;
        auto wf = data(static_cast<size_t>(rows * ldw), -2, 2, 41);
        std::vector<uint16_t> w(wf.size());
        for (size_t i = 0; i < w.size(); ++i) w[i] = narrow(wf[i]);
        auto x = data(static_cast<size_t>(K), -2, 2, 42);
        std::vector<float> y(static_cast<size_t>(rows), 7.0f);
        std::vector<double> ref(static_cast<size_t>(rows), 0.0), bound(ref.size(), 0.0);
        for (int64_t r = 0; r < rows; ++r) {
          double asum = 0;
          for (int64_t k = 0; k < K; ++k) {
            double p = double(wide(w[static_cast<size_t>(r * ldw + k)])) * x[static_cast<size_t>(k)];
            ref[static_cast<size_t>(r)] += p;
            asum += std::fabs(p);
          }
          bound[static_cast<size_t>(r)] = gamma_n(double(K)) * asum;
        }
        (bf16 ? kt().matvec_rows_bf16 : kt().matvec_rows_f16)(w.data(), ldw, x.data(), y.data(),
                                                              rows, K);
        EXPECT_TRUE(within(y, ref, bound,
                           tag(std::string(bf16 ? "bf16" : "f16") + " matvec rows=" +
                                   std::to_string(rows), K)));
      }
    }
  }
}

// Conversions are exact (widening) or round once to nearest even (narrowing): bit for bit the
// scalar converters of dtype.h, over every 16-bit pattern and a million f32 patterns (NaN, inf,
// subnormals and ties among them), at every length the vector loops split.
TEST_P(Kernels, HalfConversionsMatchScalarConverters) {
  std::vector<uint16_t> h(65536);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
  std::vector<float> y(h.size());
  auto same_bits = [](float a, float b) { return std::memcmp(&a, &b, 4) == 0; };
  kt().bf16_to_f32(h.data(), y.data(), int64_t(h.size()));
  for (size_t i = 0; i < h.size(); ++i)
    ASSERT_TRUE(same_bits(y[i], lazarus::bf16_bits_to_f32(h[i]))) << kt().isa << " bf16 " << i;
  kt().f16_to_f32(h.data(), y.data(), int64_t(h.size()));
  for (size_t i = 0; i < h.size(); ++i) {
    const float want = lazarus::f16_bits_to_f32(h[i]);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(y[i])) << kt().isa << " f16 " << i;
      continue;
    }
    ASSERT_TRUE(same_bits(y[i], want)) << kt().isa << " f16 " << i;
  }
  std::mt19937 rng(43);
  std::vector<float> f(1 << 20);
  for (auto& v : f) {
    const uint32_t u = rng();
    std::memcpy(&v, &u, 4);
  }
  // Exact ties and the edges of both formats.
  for (float v : {1.0f + 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-7f, 65504.0f, 65520.0f, 0x1p-24f, 0x1p-25f,
                  0x1.8p-25f, 3.4e38f, -0.0f, kInfF, -kInfF})
    f.push_back(v);
  std::vector<uint16_t> out(f.size());
  for (int64_t n : {int64_t(f.size()), int64_t(17), int64_t(1)}) {
    kt().f32_to_bf16(f.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(out[size_t(i)], lazarus::f32_to_bf16_bits(f[size_t(i)])) << kt().isa << " " << f[size_t(i)];
    kt().f32_to_f16(f.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(out[size_t(i)], lazarus::f32_to_f16_bits(f[size_t(i)])) << kt().isa << " " << f[size_t(i)];
  }
}

TEST_P(Kernels, VectorHelpers) {
  for (int64_t n : kSizes) {
    auto a = data(static_cast<size_t>(n), -2, 2, 21), b = data(static_cast<size_t>(n), -2, 2, 22);
    double dref = 0, asum = 0;
    for (int64_t i = 0; i < n; ++i)
      dref += double(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)],
          asum += std::fabs(double(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)]);
    EXPECT_NEAR(kt().dot_f32(a.data(), b.data(), n), dref, 1e-6 * asum + 1e-7) << tag("dot", n);

    auto s = data(static_cast<size_t>(n), -10, 2, 23), sg = s;
    std::vector<double> eref(s.size());
    double esum = 0;
    for (size_t i = 0; i < s.size(); ++i) esum += eref[i] = std::exp(double(s[i]) - 1.5);
    float got = kt().exp_shift_sum_f32(s.data(), n, 1.5f);
    generic().exp_shift_sum_f32(sg.data(), n, 1.5f);
    EXPECT_NEAR(got, esum, 2e-6 * esum + 1e-9) << tag("exp_shift_sum", n);
    check(s, sg, eref, 1e-6, 1e-9, tag("exp_shift_sum values", n));

    auto y = data(static_cast<size_t>(n), -2, 2, 24), yg = y;
    std::vector<double> yref(y.size());
    for (size_t i = 0; i < y.size(); ++i) yref[i] = double(y[i]) * 0.75 + double(a[i]) * -1.25;
    kt().scale_add_f32(y.data(), 0.75f, a.data(), -1.25f, n);
    generic().scale_add_f32(yg.data(), 0.75f, a.data(), -1.25f, n);
    check(y, yg, yref, 1e-6, 1e-7, tag("scale_add", n));

    auto z = a, zg = a;
    std::vector<double> zref(z.size());
    for (size_t i = 0; i < z.size(); ++i) zref[i] = double(z[i]) * 0.3f;
    kt().scale_f32(z.data(), 0.3f, n);
    generic().scale_f32(zg.data(), 0.3f, n);
    check(z, zg, zref, 2e-7, 0, tag("scale", n));
  }
}

// C = [C +] A B with A row- or column-major, C wider than N (ldc > N).
void check_gemm(const KernelTable& kt, int64_t M, int64_t N, int64_t K, bool a_col_major,
                bool accumulate) {
  auto A = data(static_cast<size_t>(M * K), -1, 1, unsigned(M * 7 + K));
  auto B = data(static_cast<size_t>(K * N), -1, 1, unsigned(N * 5 + K));
  int64_t ldc = N + 3;
  auto C0 = data(static_cast<size_t>(M * ldc), -1, 1, 99);
  int64_t a_rs = a_col_major ? 1 : K, a_cs = a_col_major ? M : 1;
  std::vector<double> ref(C0.begin(), C0.end());
  double amax = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, sa = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p =
            double(A[static_cast<size_t>(i * a_rs + k * a_cs)]) * B[static_cast<size_t>(k * N + j)];
        s += p;
        sa += std::fabs(p);
      }
      ref[static_cast<size_t>(i * ldc + j)] =
          (accumulate ? ref[static_cast<size_t>(i * ldc + j)] : 0.0) + s;
      amax = std::max(amax, sa);
    }
  }
  auto C = C0, G = C0;
  kt.gemm_tile_f32(M, N, K, A.data(), a_rs, a_cs, B.data(), N, C.data(), ldc, accumulate);
  generic().gemm_tile_f32(M, N, K, A.data(), a_rs, a_cs, B.data(), N, G.data(), ldc, accumulate);
  std::string what = std::string(kt.isa) + " gemm_tile M=" + std::to_string(M) +
                     " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                     (a_col_major ? " A col-major" : "") + (accumulate ? " acc" : "");
  // Entries past N in each row of C must be untouched: the reference keeps C0 there.
  EXPECT_TRUE(close(C, ref, 0, 1e-6 * (amax + 1) + 1e-6, what + " vs double"));
  EXPECT_TRUE(close(C, widen(G), 0, 2e-6 * (amax + 1) + 1e-6, what + " vs generic"));
}

TEST_P(Kernels, GemmTile) {
  for (bool col : {false, true}) {
    for (bool acc : {false, true}) {
      for (int64_t n : kSizes) {
        check_gemm(kt(), n, 33, 17, col, acc);
        check_gemm(kt(), 7, n, 17, col, acc);
        check_gemm(kt(), 13, 65, n, col, acc);
      }
      check_gemm(kt(), 128, 64, 64, col, acc);  // attention tiles
      check_gemm(kt(), 64, 128, 128, col, acc);
    }
  }
}

TEST_P(Kernels, OnlineSoftmaxCols) {
  // Two key blocks for `cols` queries; after both, p * exp(m) / l is the softmax over all keys.
  for (int64_t cols : kSizes) {
    for (int64_t rows : {int64_t(1), int64_t(17), int64_t(128)}) {
      if (cols > 100 && rows > 17) continue;
      auto s1 = data(static_cast<size_t>(rows * cols), -8, 8, unsigned(rows + cols)),
           s2 = data(static_cast<size_t>(rows * cols), -8, 8, 5);
      // column 0 fully masked in block 1, column 1 fully masked in both blocks
      for (int64_t r = 0; r < rows; ++r) {
        if (cols > 0) s1[static_cast<size_t>(r * cols)] = -INFINITY;
        if (cols > 1)
          s1[static_cast<size_t>(r * cols + 1)] = s2[static_cast<size_t>(r * cols + 1)] = -INFINITY;
      }
      std::vector<float> m(static_cast<size_t>(cols), -INFINITY),
          l(static_cast<size_t>(cols), 0.0f), al(static_cast<size_t>(cols));
      auto p1 = s1, p2 = s2;
      kt().online_softmax_cols_f32(p1.data(), rows, cols, m.data(), l.data(), al.data());
      std::vector<float> m1 = m;
      kt().online_softmax_cols_f32(p2.data(), rows, cols, m.data(), l.data(), al.data());
      for (int64_t c = 0; c < cols; ++c) {
        double mx = -kInf, sum = 0;
        for (int64_t r = 0; r < rows; ++r)
          mx = std::max({mx, double(s1[static_cast<size_t>(r * cols + c)]),
                         double(s2[static_cast<size_t>(r * cols + c)])});
        std::string what = tag("online_softmax_cols", cols) + " rows=" + std::to_string(rows) +
                           " col=" + std::to_string(c);
        if (mx == -kInf) {
          EXPECT_EQ(m[static_cast<size_t>(c)], -INFINITY) << what;
          EXPECT_EQ(l[static_cast<size_t>(c)], 0.0f) << what;
          for (int64_t r = 0; r < rows; ++r)
            EXPECT_EQ(p2[static_cast<size_t>(r * cols + c)], 0.0f) << what;
          continue;
        }
        for (int64_t r = 0; r < rows; ++r)
          sum += std::exp(s1[static_cast<size_t>(r * cols + c)] - mx) +
                 std::exp(s2[static_cast<size_t>(r * cols + c)] - mx);
        EXPECT_EQ(double(m[static_cast<size_t>(c)]), mx) << what;
        EXPECT_NEAR(l[static_cast<size_t>(c)], sum, 4e-6 * sum) << what;
        double a_ref = m1[static_cast<size_t>(c)] == -INFINITY
                           ? 0.0
                           : std::exp(double(m1[static_cast<size_t>(c)]) - mx);
        EXPECT_NEAR(al[static_cast<size_t>(c)], a_ref, 2e-6 * a_ref + 1e-30) << what;
        for (int64_t r = 0; r < rows; ++r) {
          double want = std::exp(double(s2[static_cast<size_t>(r * cols + c)]) - mx);
          EXPECT_NEAR(p2[static_cast<size_t>(r * cols + c)], want, 2e-6 * want + 1e-30)
              << what << " r=" << r;
        }
      }
    }
  }
}

TEST_P(Kernels, RopeRow) {
  for (int64_t half : kSizes) {
    auto x = data(static_cast<size_t>(2 * half), -2, 2, unsigned(half) + 31);
    auto ang = data(static_cast<size_t>(half), -3, 3, 32);
    std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i)
      c[static_cast<size_t>(i)] = std::cos(ang[static_cast<size_t>(i)]),
      s[static_cast<size_t>(i)] = std::sin(ang[static_cast<size_t>(i)]);
    for (bool inter : {false, true}) {
      for (float sign : {1.0f, -1.0f}) {
        std::vector<double> ref(x.size());
        for (int64_t i = 0; i < half; ++i) {
          int64_t i1 = inter ? 2 * i : i, i2 = inter ? 2 * i + 1 : i + half;
          double x1 = x[static_cast<size_t>(i1)], x2 = x[static_cast<size_t>(i2)],
                 cs = c[static_cast<size_t>(i)], sn = sign * double(s[static_cast<size_t>(i)]);
          ref[static_cast<size_t>(i1)] = x1 * cs - x2 * sn;
          ref[static_cast<size_t>(i2)] = x2 * cs + x1 * sn;
        }
        std::vector<float> y(x.size()), g(x.size());
        kt().rope_row_f32(x.data(), c.data(), s.data(), y.data(), half, inter, sign);
        generic().rope_row_f32(x.data(), c.data(), s.data(), g.data(), half, inter, sign);
        check(y, g, ref, 0, 1e-6, tag(inter ? "rope interleaved" : "rope", half));
      }
    }
  }
}

std::string isa_name(const ::testing::TestParamInfo<const KernelTable*>& info) {
  return info.param->isa;
}

INSTANTIATE_TEST_SUITE_P(AllIsas, Kernels, ::testing::ValuesIn(lazarus::cpu::available_kernels()),
                         isa_name);

TEST(KernelSelection, GenericFirstAndChosenIsAvailable) {
  auto all = lazarus::cpu::available_kernels();
  ASSERT_FALSE(all.empty());
  EXPECT_STREQ(all.front()->isa, "generic");
  bool found = false;
  for (auto* k : all) found |= k == &lazarus::cpu::kernels();
  EXPECT_TRUE(found);
}

}  // namespace
