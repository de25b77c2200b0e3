// Forward of the elementwise, reduction, softmax and matmul primitives against naive double loops
// written here, at awkward sizes (0, 1, 31, 32, 33, 1000+), non-contiguous views and broadcasting.
#include <algorithm>
#include <map>

#include "test_helpers.h"

using namespace etest;

namespace {

const std::vector<Shape> kShapes = {{0}, {1}, {31}, {32}, {33}, {1031}, {3, 33}, {2, 3, 5}, {}};

struct UnaryCase {
  const char* name;
  Tensor (*op)(const Tensor&);
  double (*ref)(double);
  double lo, hi;
};
Tensor gelu_erf(const Tensor& x) { return gelu(x, false); }
Tensor gelu_tanh(const Tensor& x) { return gelu(x, true); }
double ref_gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double ref_gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
double ref_softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

const UnaryCase kUnary[] = {
    {"neg", neg, [](double x) { return -x; }, -3, 3},
    {"abs", abs, [](double x) { return std::fabs(x); }, -3, 3},
    {"exp", exp, [](double x) { return std::exp(x); }, -10, 10},
    {"log", log, [](double x) { return std::log(x); }, 0.01, 50},
    {"sqrt", sqrt, [](double x) { return std::sqrt(x); }, 0, 50},
    {"rsqrt", rsqrt, [](double x) { return 1 / std::sqrt(x); }, 0.01, 50},
    {"sin", sin, [](double x) { return std::sin(x); }, -6, 6},
    {"cos", cos, [](double x) { return std::cos(x); }, -6, 6},
    {"tanh", tanh, [](double x) { return std::tanh(x); }, -6, 6},
    {"sigmoid", sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }, -20, 20},
    {"relu", relu, [](double x) { return x > 0 ? x : 0.0; }, -3, 3},
    {"gelu", gelu_erf, ref_gelu, -6, 6},
    {"gelu_tanh", gelu_tanh, ref_gelu_tanh, -6, 6},
    {"silu", silu, [](double x) { return x / (1 + std::exp(-x)); }, -20, 20},
    {"softplus", softplus, ref_softplus, -30, 30},
    {"square", square, [](double x) { return x * x; }, -3, 3},
};

Vec map(const Vec& v, double (*f)(double)) {
  Vec o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = f(v[i]);
  return o;
}

}  // namespace

TEST(Unary, F32AllShapesAndLayouts) {
  for (const auto& c : kUnary) {
    for (const auto& s : kShapes) {
      for (const auto& l : layouts(s, 11, DType::F32, c.lo, c.hi)) {
        Tensor y = c.op(l.t);
        ASSERT_EQ(y.shape(), s);
        ASSERT_EQ(y.dtype(), DType::F32);
        EXPECT_TRUE(close(y, map(values(l.t), c.ref), 2e-6, 1e-6))
            << c.name << " " << shape_str(s) << " " << l.name;
      }
    }
  }
}

TEST(Unary, F64AndHalfDtypes) {
  for (const auto& c : kUnary) {
    Tensor x = rand_t({257}, 5, DType::F64, c.lo, c.hi);
    EXPECT_TRUE(close(c.op(x), map(values(x), c.ref), 1e-12, 1e-14)) << c.name << " f64";
    for (DType d : {DType::BF16, DType::F16}) {
      Tensor h = rand_t({257}, 6, d, c.lo, c.hi);
      Tensor y = c.op(h);
      ASSERT_EQ(y.dtype(), d);
      // Computed in f32 and rounded once: within one half-precision rounding of the exact value.
      Vec want = map(values(h), c.ref);
      for (auto& w : want) w = round_to(w, d);
      double tol = d == DType::BF16 ? 8e-3 : 1e-3;
      EXPECT_TRUE(close(y, want, tol, 1e-5)) << c.name << " " << dtype_name(d);
    }
  }
}

TEST(Unary, SpecialValues) {
  Tensor x = make({0.0, -1.0, INFINITY, -INFINITY, NAN}, {5});
  EXPECT_TRUE(close(log(x), {-INFINITY, NAN, INFINITY, NAN, NAN}, 0, 0));
  EXPECT_TRUE(close(sqrt(x), {0, NAN, INFINITY, NAN, NAN}, 0, 0));
  EXPECT_TRUE(close(exp(x), {1, std::exp(-1.0), INFINITY, 0, NAN}, 1e-6, 0));
  EXPECT_TRUE(close(sigmoid(x), {0.5, 1 / (1 + std::exp(1.0)), 1, 0, NAN}, 1e-6, 0));
  EXPECT_TRUE(close(tanh(x), {0, std::tanh(-1.0), 1, -1, NAN}, 1e-6, 0));
  EXPECT_TRUE(close(relu(x), {0, 0, INFINITY, 0, NAN}, 0, 0));
  // exp(-100) is an f32 subnormal: compare against its f32 rounding.
  EXPECT_TRUE(close(softplus(make({100.0, -100.0}, {2})), {100, double(float(std::exp(-100.0)))},
                    1e-6, 2e-45));
}

// ---- binary ----

namespace {
struct BinCase {
  const char* name;
  Tensor (*op)(const Tensor&, const Tensor&);
  double (*ref)(double, double);
  bool positive_a;  // pow needs a > 0
};
Tensor pow_t(const Tensor& a, const Tensor& b) { return pow(a, b); }
const BinCase kBinary[] = {
    {"add", add, [](double a, double b) { return a + b; }, false},
    {"sub", sub, [](double a, double b) { return a - b; }, false},
    {"mul", mul, [](double a, double b) { return a * b; }, false},
    {"div", div, [](double a, double b) { return a / b; }, false},
    {"pow", pow_t, [](double a, double b) { return std::pow(a, b); }, true},
    {"maximum", maximum, [](double a, double b) { return std::max(a, b); }, false},
    {"minimum", minimum, [](double a, double b) { return std::min(a, b); }, false},
};
const std::vector<std::pair<Shape, Shape>> kBroadcast = {
    {{33}, {33}},           {{0}, {1}},           {{1}, {1031}},
    {{3, 33}, {33}},        {{4, 1, 32}, {5, 1}}, {{}, {31}},
    {{2, 3, 5}, {2, 1, 5}}, {{0, 3}, {1, 3}},     {{1, 1}, {}}};

Vec bin_ref(const Tensor& a, const Tensor& b, const Shape& out, double (*f)(double, double)) {
  Vec va = values(a), vb = values(b), o(numel_of(out));
  for (int64_t i = 0; i < numel_of(out); ++i) {
    auto idx = unravel(i, out);
    o[i] = f(va[bcast_index(idx, a.shape())], vb[bcast_index(idx, b.shape())]);
  }
  return o;
}
Shape bshape(const Shape& a, const Shape& b) {
  Shape o(std::max(a.size(), b.size()));
  for (size_t i = 0; i < o.size(); ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1,
            db = i < b.size() ? b[b.size() - 1 - i] : 1;
    o[o.size() - 1 - i] = da == 1 ? db : da;
  }
  return o;
}
}  // namespace

TEST(Binary, BroadcastingAndLayouts) {
  for (const auto& c : kBinary) {
    for (const auto& [sa, sb] : kBroadcast) {
      Shape so = bshape(sa, sb);
      double lo = c.positive_a ? 0.2 : -3;
      for (const auto& la : layouts(sa, 21, DType::F32, lo, 3)) {
        for (bool swap : {false, true}) {
          Tensor b = rand_t(sb, 22, DType::F32, 0.5, 2.5);  // away from 0 for div
          if (std::string(c.name) == "maximum" || std::string(c.name) == "minimum") b = b - 1.5;
          Tensor x = la.t, y = b;
          if (swap && !c.positive_a) std::swap(x, y);
          Tensor out = c.op(x, y);
          ASSERT_EQ(out.shape(), bshape(x.shape(), y.shape())) << c.name;
          EXPECT_TRUE(close(out, bin_ref(x, y, out.shape(), c.ref), 2e-6, 1e-6))
              << c.name << " " << shape_str(x.shape()) << " op " << shape_str(y.shape()) << " "
              << la.name;
        }
      }
      (void)so;
    }
  }
}

TEST(Binary, ScalarFormsPromotionAndOperators) {
  Tensor a = rand_t({33}, 1), b = rand_t({33}, 2, DType::F32, 0.5, 2);
  Vec va = values(a), vb = values(b), want(33);
  auto check = [&](const Tensor& got, auto f, const char* what) {
    for (int i = 0; i < 33; ++i) want[i] = f(va[i], vb[i]);
    EXPECT_TRUE(close(got, want, 2e-6, 1e-6)) << what;
  };
  check(
      a + b, [](double x, double y) { return x + y; }, "+");
  check(
      a - b, [](double x, double y) { return x - y; }, "-");
  check(
      a * b, [](double x, double y) { return x * y; }, "*");
  check(
      a / b, [](double x, double y) { return x / y; }, "/");
  check(
      -a, [](double x, double) { return -x; }, "unary -");
  check(
      a + 2.5, [](double x, double) { return x + 2.5; }, "+ s");
  check(
      2.5 + a, [](double x, double) { return x + 2.5; }, "s +");
  check(
      a - 2.5, [](double x, double) { return x - 2.5; }, "- s");
  check(
      2.5 - a, [](double x, double) { return 2.5 - x; }, "s -");
  check(
      a * 3.0, [](double x, double) { return x * 3; }, "* s");
  check(
      3.0 * a, [](double x, double) { return x * 3; }, "s *");
  check(
      a / 4.0, [](double x, double) { return x / 4; }, "/ s");
  check(
      div(a, 4.0), [](double x, double) { return x / 4; }, "div s");
  check(
      mul(a, 3.0), [](double x, double) { return x * 3; }, "mul s");
  check(
      sub(a, 1.0), [](double x, double) { return x - 1; }, "sub s");
  check(
      add(a, 1.0), [](double x, double) { return x + 1; }, "add s");
  check(
      pow(b, 2.5), [](double, double y) { return std::pow(y, 2.5); }, "pow s");
  check(
      pow(a, 2.0), [](double x, double) { return x * x; }, "pow 2 (negative base)");
  // Int + float promotes to float; int + int stays int.
  Tensor i = make({1, 2, 3}, {3}, DType::I32);
  Tensor f = make({0.5, 0.5, 0.5}, {3}, DType::F64);
  EXPECT_EQ((i + f).dtype(), DType::F64);
  EXPECT_TRUE(close(i + f, {1.5, 2.5, 3.5}, 0, 0));
  EXPECT_EQ((i + make({1, 1, 1}, {3}, DType::I64)).dtype(), DType::I64);
  EXPECT_TRUE(close(i * i, {1, 4, 9}, 0, 0));
  Tensor h = rand_t({40}, 3, DType::BF16);
  Vec vh = values(h), wh(40);
  // Two ops, two roundings (as torch bf16 eager).
  for (int k = 0; k < 40; ++k)
    wh[k] = round_to(round_to(vh[k] * vh[k], DType::BF16) + vh[k], DType::BF16);
  EXPECT_TRUE(close(h * h + h, wh, 0, 0));
}

TEST(Binary, ComparisonsAndLogical) {
  // Integer-valued data so ties occur.
  Vec av = rnd(3 * 33, 4, -3, 3), bv = rnd(33, 5, -3, 3);
  for (auto& v : av) v = std::round(v);
  for (auto& v : bv) v = std::round(v);
  Tensor a = make(av, {3, 33}), b = make(bv, {33});
  struct C {
    const char* n;
    Tensor (*op)(const Tensor&, const Tensor&);
    double (*r)(double, double);
  };
  C cs[] = {{"eq", eq, [](double x, double y) { return double(x == y); }},
            {"ne", ne, [](double x, double y) { return double(x != y); }},
            {"lt", lt, [](double x, double y) { return double(x < y); }},
            {"le", le, [](double x, double y) { return double(x <= y); }},
            {"gt", gt, [](double x, double y) { return double(x > y); }},
            {"ge", ge, [](double x, double y) { return double(x >= y); }}};
  for (auto& c : cs) {
    for (Tensor x : {a, a.t().contiguous().t()}) {
      Tensor o = c.op(x, b);
      EXPECT_EQ(o.dtype(), DType::Bool) << c.n;
      EXPECT_TRUE(close(o, bin_ref(x, b, {3, 33}, c.r), 0, 0)) << c.n;
    }
    EXPECT_TRUE(close(c.op(a.to(DType::I64), b.to(DType::BF16)), bin_ref(a, b, {3, 33}, c.r), 0, 0))
        << c.n << " mixed dtypes";
  }
  Tensor p = gt(a, b), q = lt(a, zeros({}));
  EXPECT_TRUE(close(logical_and(p, q),
                    bin_ref(p, q, {3, 33}, [](double x, double y) { return double(x && y); }), 0,
                    0));
  EXPECT_TRUE(close(logical_or(p, q),
                    bin_ref(p, q, {3, 33}, [](double x, double y) { return double(x || y); }), 0,
                    0));
  Vec np = values(p);
  for (auto& v : np) v = v ? 0 : 1;
  EXPECT_TRUE(close(logical_not(p), np, 0, 0));
  EXPECT_EQ(logical_not(p).dtype(), DType::Bool);
  // NaN compares unequal to everything.
  Tensor n = make({NAN}, {1});
  EXPECT_TRUE(close(eq(n, n), {0}, 0, 0));
  EXPECT_TRUE(close(ne(n, n), {1}, 0, 0));
}

TEST(Select, WhereMaskedFillTrilTriu) {
  Tensor a = rand_t({4, 1, 33}, 1), b = rand_t({5, 1}, 2), x = rand_t({5, 33}, 3);
  Tensor cond = gt(x, zeros({}));
  Tensor w = where(cond, a, b);
  ASSERT_EQ(w.shape(), (Shape{4, 5, 33}));
  Vec vc = values(cond), va = values(a), vb = values(b), want;
  for (int64_t i = 0; i < 4 * 5 * 33; ++i) {
    auto idx = unravel(i, {4, 5, 33});
    want.push_back(vc[bcast_index(idx, {5, 33})] ? va[bcast_index(idx, a.shape())]
                                                 : vb[bcast_index(idx, b.shape())]);
  }
  EXPECT_TRUE(close(w, want, 0, 0));

  Tensor xt = rand_t({33, 5}, 4).t();  // non-contiguous
  Tensor m = gt(rand_t({33}, 5), zeros({}));
  Tensor mf = masked_fill(xt, m, -7.5);
  Vec vx = values(xt), vm = values(m);
  want.clear();
  for (int64_t i = 0; i < 5 * 33; ++i) want.push_back(vm[i % 33] ? -7.5 : vx[i]);
  EXPECT_TRUE(close(mf, want, 0, 0));
  EXPECT_TRUE(close(
      masked_fill(xt, m, -INFINITY),
      [&] {
        Vec v = want;
        for (auto& e : v) e = e == -7.5 ? -INFINITY : e;
        return v;
      }(),
      0, 0));

  for (int64_t k : {-40, -2, 0, 1, 5, 40}) {
    for (Shape s : {Shape{2, 5, 7}, Shape{33, 31}, Shape{0, 4}, Shape{1, 1}}) {
      Tensor t = rand_t(s, 6);
      for (Tensor v : {t, t.transpose(-1, -2).contiguous().transpose(-1, -2)}) {
        Vec vv = values(v), lo(vv.size()), up(vv.size());
        for (int64_t i = 0; i < int64_t(vv.size()); ++i) {
          auto idx = unravel(i, s);
          int64_t r = idx[idx.size() - 2], c = idx.back();
          lo[i] = c - r <= k ? vv[i] : 0;
          up[i] = c - r >= k ? vv[i] : 0;
        }
        EXPECT_TRUE(close(tril(v, k), lo, 0, 0)) << "tril k=" << k << " " << shape_str(s);
        EXPECT_TRUE(close(triu(v, k), up, 0, 0)) << "triu k=" << k << " " << shape_str(s);
      }
    }
  }
}

// ---- reductions ----

namespace {
// Groups x's values by output position (keepdim shape) and applies f to each group.
Vec reduce_ref(const Tensor& x, std::vector<int64_t> dims,
               const std::function<double(const Vec&)>& f) {
  Shape s = x.shape();
  int64_t nd = int64_t(s.size());
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  for (auto& d : dims) d = d < 0 ? d + nd : d;
  Shape ks = s;
  for (auto d : dims) ks[d] = 1;
  std::vector<Vec> groups(numel_of(ks));
  Vec v = values(x);
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    auto idx = unravel(i, s);
    for (auto d : dims) idx[d] = 0;
    int64_t f2 = 0;
    for (int64_t d = 0; d < nd; ++d) f2 = f2 * ks[d] + idx[d];
    groups[f2].push_back(v[i]);
  }
  Vec o;
  for (auto& g : groups) o.push_back(f(g));
  return o;
}
double r_sum(const Vec& g) {
  double s = 0;
  for (double v : g) s += v;
  return s;
}
double r_mean(const Vec& g) { return r_sum(g) / double(g.size()); }
double r_max(const Vec& g) { return *std::max_element(g.begin(), g.end()); }
double r_min(const Vec& g) { return *std::min_element(g.begin(), g.end()); }
double r_argmax(const Vec& g) { return double(std::max_element(g.begin(), g.end()) - g.begin()); }
double r_argmin(const Vec& g) { return double(std::min_element(g.begin(), g.end()) - g.begin()); }
double r_var(const Vec& g, int64_t corr) {
  double m = r_mean(g), s = 0;
  for (double v : g) s += (v - m) * (v - m);
  return s / double(int64_t(g.size()) - corr);
}
double r_lse(const Vec& g) {
  double m = r_max(g);
  if (std::isinf(m)) return m;
  double s = 0;
  for (double v : g) s += std::exp(v - m);
  return m + std::log(s);
}
Shape drop(const Shape& s, std::vector<int64_t> dims) {
  int64_t nd = int64_t(s.size());
  if (dims.empty()) return {};
  for (auto& d : dims) d = d < 0 ? d + nd : d;
  Shape o;
  for (int64_t d = 0; d < nd; ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) o.push_back(s[d]);
  return o;
}
Shape keep(const Shape& s, std::vector<int64_t> dims) {
  int64_t nd = int64_t(s.size());
  Shape o = s;
  if (dims.empty())
    for (auto& v : o) v = 1;
  for (auto d : dims) o[d < 0 ? d + nd : d] = 1;
  return o;
}
}  // namespace

TEST(Reduce, AllOpsAllDimsKeepdimLayouts) {
  const std::vector<std::pair<Shape, std::vector<std::vector<int64_t>>>> cases = {
      {{3, 33, 5}, {{}, {0}, {1}, {-1}, {0, 2}, {2, 0, 1}}},
      {{1031}, {{}, {0}}},
      {{2, 1, 32}, {{1}, {0, 1}}},
      {{31}, {{-1}}}};
  for (const auto& [s, dimsets] : cases) {
    for (const auto& l : layouts(s, 31)) {
      for (const auto& dims : dimsets) {
        for (bool kd : {false, true}) {
          Shape os = kd ? keep(s, dims) : drop(s, dims);
          std::string what =
              shape_str(s) + " " + l.name + " dims " + shape_str(dims) + (kd ? " keepdim" : "");
          Tensor r = sum(l.t, dims, kd);
          EXPECT_EQ(r.shape(), os) << what;
          EXPECT_TRUE(close(r, reduce_ref(l.t, dims, r_sum), 1e-5, 1e-5)) << "sum " << what;
          EXPECT_TRUE(close(mean(l.t, dims, kd), reduce_ref(l.t, dims, r_mean), 1e-5, 1e-6))
              << "mean " << what;
          EXPECT_TRUE(close(amax(l.t, dims, kd), reduce_ref(l.t, dims, r_max), 0, 0))
              << "amax " << what;
          EXPECT_TRUE(close(amin(l.t, dims, kd), reduce_ref(l.t, dims, r_min), 0, 0))
              << "amin " << what;
          for (int64_t c : {0, 1}) {
            EXPECT_TRUE(close(var(l.t, dims, c, kd),
                              reduce_ref(l.t, dims, [c](const Vec& g) { return r_var(g, c); }),
                              1e-5, 1e-6))
                << "var c=" << c << " " << what;
          }
          EXPECT_TRUE(close(logsumexp(l.t, dims, kd), reduce_ref(l.t, dims, r_lse), 1e-5, 1e-6))
              << "logsumexp " << what;
          EXPECT_EQ(logsumexp(l.t, dims, kd).shape(), os) << what;
        }
      }
      for (int64_t d = 0; d < int64_t(s.size()); ++d) {
        for (bool kd : {false, true}) {
          Tensor am = argmax(l.t, d, kd);
          EXPECT_EQ(am.dtype(), DType::I64);
          EXPECT_EQ(am.shape(), kd ? keep(s, {d}) : drop(s, {d}));
          EXPECT_TRUE(close(am, reduce_ref(l.t, {d}, r_argmax), 0, 0))
              << "argmax " << l.name << " d" << d;
          EXPECT_TRUE(close(argmin(l.t, d, kd), reduce_ref(l.t, {d}, r_argmin), 0, 0))
              << "argmin " << l.name;
        }
      }
    }
  }
}

TEST(Reduce, TiesEmptyAndSpecial) {
  Tensor t = make({1, 3, 3, 0, 0, 2}, {6});
  EXPECT_EQ(argmax(t, 0).item(), 1);  // first of the tied maxima
  EXPECT_EQ(argmin(t, 0).item(), 3);
  Tensor e = zeros({0, 4});
  EXPECT_TRUE(close(sum(e, {0}), Vec(4, 0), 0, 0));
  EXPECT_EQ(sum(e, {1}).shape(), (Shape{0}));
  EXPECT_TRUE(close(mean(e, {0}), Vec(4, NAN), 0, 0));
  Tensor ninf = make({-INFINITY, -INFINITY, 1, 2}, {2, 2});
  EXPECT_TRUE(close(logsumexp(ninf, {1}), {-INFINITY, r_lse({1, 2})}, 1e-6, 0));
  Tensor big = make({1000, 1000}, {2});
  EXPECT_TRUE(close(logsumexp(big, {0}), {1000 + std::log(2.0)}, 1e-6, 0));
  EXPECT_TRUE(close(sum(make({1, 2, 3}, {3}, DType::I32)), {6}, 0, 0));
  EXPECT_EQ(sum(make({1, 2, 3}, {3}, DType::I32)).dtype(), DType::I64);
  Tensor nan = make({1, NAN, 3}, {3});
  EXPECT_TRUE(std::isnan(amax(nan).item()));  // NaN propagates as torch.amax
  // 1-element var with correction 1 is NaN (0/0).
  EXPECT_TRUE(std::isnan(var(make({2}, {1})).item()));
  // Large-sum accuracy: 100003 x 0.1 within f32 pairwise error.
  EXPECT_NEAR(sum(full({100003}, 0.1)).item(), 10000.3, 0.05);
}

TEST(Reduce, Cumsum) {
  for (Shape s : {Shape{3, 33, 5}, Shape{1031}, Shape{0, 3}, Shape{1}}) {
    for (const auto& l : layouts(s, 41)) {
      for (int64_t d = 0; d < int64_t(s.size()); ++d) {
        Vec v = values(l.t), want(v.size());
        for (int64_t i = 0; i < int64_t(v.size()); ++i) {
          auto idx = unravel(i, s);
          double acc = 0;
          auto j = idx;
          for (int64_t k = 0; k <= idx[d]; ++k) {
            j[d] = k;
            int64_t f = 0;
            for (size_t q = 0; q < s.size(); ++q) f = f * s[q] + j[q];
            acc += v[f];
          }
          want[i] = acc;
        }
        EXPECT_TRUE(close(cumsum(l.t, d), want, 1e-5, 1e-5))
            << shape_str(s) << " " << l.name << " d" << d;
        EXPECT_TRUE(close(cumsum(l.t, d - int64_t(s.size())), want, 1e-5, 1e-5)) << "negative dim";
      }
    }
  }
  EXPECT_TRUE(close(cumsum(make({1, 2, 3}, {3}, DType::I32), 0), {1, 3, 6}, 0, 0));
}

TEST(Softmax, AllDimsLayoutsAndInf) {
  for (Shape s : {Shape{3, 33, 5}, Shape{2, 1031}, Shape{1}, Shape{4, 1}}) {
    for (const auto& l : layouts(s, 51, DType::F32, -10, 10)) {
      for (int64_t d = 0; d < int64_t(s.size()); ++d) {
        Vec lse = reduce_ref(l.t, {d}, r_lse), v = values(l.t), sm(v.size()), lsm(v.size());
        Shape ks = keep(s, {d});
        for (int64_t i = 0; i < int64_t(v.size()); ++i) {
          auto idx = unravel(i, s);
          double z = lse[bcast_index(idx, ks)];
          lsm[i] = v[i] - z;
          sm[i] = std::exp(lsm[i]);
        }
        EXPECT_TRUE(close(softmax(l.t, d), sm, 1e-5, 1e-7)) << shape_str(s) << l.name << d;
        EXPECT_TRUE(close(log_softmax(l.t, d), lsm, 1e-5, 2e-6)) << shape_str(s) << l.name << d;
      }
    }
  }
  Tensor m = make({0, -INFINITY, 1, -INFINITY, -INFINITY, 5}, {2, 3});
  double e = std::exp(1.0);
  EXPECT_TRUE(close(softmax(m, -1), {1 / (1 + e), 0, e / (1 + e), 0, 0, 1}, 1e-6, 0));
  EXPECT_TRUE(close(log_softmax(m, -1),
                    {-std::log1p(e), -INFINITY, 1 - std::log1p(e), -INFINITY, -INFINITY, 0}, 1e-6,
                    1e-7));
  Tensor big = make({1000, 0}, {2});
  EXPECT_TRUE(close(softmax(big, 0), {1, 0}, 1e-6, 0));
}

// ---- matmul / linear ----

namespace {
// torch.matmul in double: promotes 1-D operands, broadcasts batch dims.
Vec matmul_ref(const Tensor& a, const Tensor& b, Shape* out_shape) {
  Shape sa = a.shape(), sb = b.shape();
  bool a1 = sa.size() == 1, b1 = sb.size() == 1;
  if (a1) sa.insert(sa.begin(), 1);
  if (b1) sb.push_back(1);
  int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2), bo = bshape(ba, bb);
  Vec va = values(a), vb = values(b), o;
  for (int64_t bi = 0; bi < numel_of(bo); ++bi) {
    auto idx = unravel(bi, bo);
    int64_t fa = bcast_index(idx, ba), fb = bcast_index(idx, bb);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += va[(fa * M + m) * K + k] * vb[(fb * K + k) * N + n];
        o.push_back(acc);
      }
  }
  *out_shape = bo;
  if (!a1) out_shape->push_back(M);
  if (!b1) out_shape->push_back(N);
  return o;
}
}  // namespace

TEST(Matmul, ShapesLayoutsAndBroadcast) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{33}, {33}},        {{31}, {31, 5}},           {{4, 33}, {33}},
      {{1, 1}, {1, 1}},    {{31, 32}, {32, 33}},      {{0, 5}, {5, 3}},
      {{3, 0}, {0, 4}},    {{2, 33, 17}, {2, 17, 9}}, {{2, 1, 5, 7}, {3, 7, 4}},
      {{5, 7}, {4, 7, 2}}, {{64, 1031}, {1031, 3}},   {{1, 300}, {300, 129}}};
  for (const auto& [sa, sb] : cases) {
    for (const auto& la : layouts(sa, 61)) {
      for (const auto& lb : layouts(sb, 62)) {
        Shape os;
        Vec want = matmul_ref(la.t, lb.t, &os);
        Tensor r = matmul(la.t, lb.t);
        ASSERT_EQ(r.shape(), os) << shape_str(sa) << " @ " << shape_str(sb);
        // Against the exact (f64) product: gamma_{K+1} sum |a| |b| per element.
        EXPECT_TRUE(within(values(r), want, matmul_bound(la.t, lb.t)))
            << shape_str(sa) << " " << la.name << " @ " << shape_str(sb) << " " << lb.name;
      }
    }
  }
  // Transposed operands (the BLAS trans flags) and f64 / bf16.
  Tensor a = rand_t({33, 20}, 63), b = rand_t({17, 33}, 64);
  Shape os;
  EXPECT_TRUE(within(values(matmul(a.t(), b.t())), matmul_ref(a.t(), b.t(), &os),
                     matmul_bound(a.t(), b.t())));
  Tensor ad = rand_t({3, 9, 20}, 65, DType::F64), bd = rand_t({3, 20, 7}, 66, DType::F64);
  EXPECT_TRUE(close(matmul(ad, bd), matmul_ref(ad, bd, &os), 1e-13, 1e-13));
  Tensor ah = rand_t({9, 64}, 67, DType::BF16), bh = rand_t({64, 7}, 68, DType::BF16);
  Tensor rh = matmul(ah, bh);
  EXPECT_EQ(rh.dtype(), DType::BF16);
  EXPECT_TRUE(close(rh, matmul_ref(ah, bh, &os), 8e-3, 2e-2));
  Tensor af = rand_t({9, 64}, 67, DType::F16), bf = rand_t({64, 7}, 68, DType::F16);
  EXPECT_TRUE(close(matmul(af, bf), matmul_ref(af, bf, &os), 1e-3, 5e-3));
}

// bf16 / f16 weights are used in place (widened in registers for a few rows, panel by panel for
// a GEMM): every path must equal the exact product of the half values, up to the f32 sum's
// gamma_{K+1} sum |a| |b| and the one rounding to the output dtype (2^-8 / 2^-11 relative).
TEST(Matmul, HalfOperandsEveryPathEqualsExactProduct) {
  for (DType dt : {DType::BF16, DType::F16}) {
    const double u = dt == DType::BF16 ? 0x1p-8 : 0x1p-11;
    auto check = [&](const Tensor& a, const Tensor& b, const std::string& what) {
      Shape os;
      Vec want = matmul_ref(a, b, &os), bound = matmul_bound(a, b);
      for (size_t i = 0; i < want.size(); ++i) bound[i] += u * (std::fabs(want[i]) + bound[i]);
      Tensor r = matmul(a, b);
      ASSERT_EQ(r.dtype(), dt);
      ASSERT_EQ(r.shape(), os) << what;
      EXPECT_TRUE(within(values(r), want, bound)) << dtype_name(dt) << " " << what;
    };
    for (int64_t M : {1, 3, 4, 5, 33}) {
      for (int64_t K : {1, 17, 64}) {
        Tensor x = rand_t({M, K}, 81, dt), w = rand_t({19, K}, 82, dt);
        const std::string mk = " M=" + std::to_string(M) + " K=" + std::to_string(K);
        check(x, w.t(), "weight rows" + mk);                   // linear: b = W^T
        check(x, w.t().contiguous(), "row-major b" + mk);      // b (K, N) rows contiguous
        check(rand_t({2, M, K}, 83, dt), w.t(), "batched a" + mk);
      }
    }
    // Several widening panels (8 MiB of f32 each: 1024 columns at K = 2048).
    check(rand_t({5, 2048}, 84, dt), rand_t({2500, 2048}, 85, dt).t(), "three panels");
    // The backward's products: a half gradient as b, transposed activations as a.
    Tensor x = rand_t({6, 40}, 86, dt), g = rand_t({6, 30}, 87, dt);
    check(x.t(), g, "weight gradient");
  }
}

TEST(Linear, WithAndWithoutBias) {
  for (Shape xs : {Shape{33}, Shape{5, 33}, Shape{2, 3, 33}, Shape{0, 33}}) {
    Tensor x = rand_t(xs, 71), w = rand_t({17, 33}, 72), bias = rand_t({17}, 73);
    Shape os;
    Vec ref = matmul_ref(x, w.t(), &os), vb = values(bias);
    EXPECT_TRUE(close(linear(x, w), ref, 1e-5, 1e-5)) << shape_str(xs);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += vb[i % 17];
    Tensor y = linear(x, w, bias);
    EXPECT_EQ(y.shape(), os);
    EXPECT_TRUE(close(y, ref, 1e-5, 1e-5)) << shape_str(xs);
    EXPECT_TRUE(close(linear(x, w.t().contiguous().t(), bias), ref, 1e-5, 1e-5))
        << "strided weight";
  }
}
