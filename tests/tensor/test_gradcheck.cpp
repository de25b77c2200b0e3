// Every differentiable op's gradient against central finite differences in double:
// loss = sum(op(x) * w) with fixed random w, analytic grads from value_and_grad, numeric grads
// (f(x+h) - f(x-h)) / 2h with h = 1e-6.
#include "lazarus/tensor/ops_reference.h"
#include "test_helpers.h"

using namespace etest;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor d(Shape s, uint64_t seed, double lo = -2, double hi = 2) {
  return rand_t(s, seed, DType::F64, lo, hi);
}

// Checks analytic vs numeric gradients of sum(f(xs) * w) for every input.
::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& xs,
                                     double tol = 1e-6) {
  Tensor w;
  {
    NoGradGuard ng;
    Tensor y = f(xs);
    w = make(rnd(y.numel(), 999, -1, 1), y.shape(), DType::F64);
  }
  auto loss = [&](const std::vector<Tensor>& in) { return sum(mul(f(in), w)); };
  auto [value, grads] = value_and_grad(loss, xs);
  if (grads.size() != xs.size()) {
    return ::testing::AssertionFailure()
           << "value_and_grad returned " << grads.size() << " grads for " << xs.size() << " inputs";
  }
  const double h = 1e-6;
  std::ostringstream os;
  int bad = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    Vec base = values(xs[i]);
    Vec ga = grads[i].defined() ? values(grads[i]) : Vec(base.size(), 0.0);
    if (grads[i].defined() && grads[i].shape() != xs[i].shape()) {
      return ::testing::AssertionFailure()
             << "grad " << i << " shape " << shape_str(grads[i].shape()) << " != input shape "
             << shape_str(xs[i].shape());
    }
    for (size_t j = 0; j < base.size(); ++j) {
      double num;
      {
        NoGradGuard ng;
        std::vector<Tensor> in = xs;
        Vec p = base;
        p[j] = base[j] + h;
        in[i] = make(p, xs[i].shape(), DType::F64);
        double fp = loss(in).item();
        p[j] = base[j] - h;
        in[i] = make(p, xs[i].shape(), DType::F64);
        double fm = loss(in).item();
        num = (fp - fm) / (2 * h);
      }
      if (!(std::fabs(ga[j] - num) <= tol * std::max(1.0, std::fabs(num)))) {
        if (bad < 6)
          os << "\n  input " << i << " elem " << j << ": analytic " << ga[j] << " numeric " << num;
        ++bad;
      }
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " gradient mismatches:" << os.str();
  return ::testing::AssertionSuccess();
}

Tensor ids(const std::vector<int64_t>& v, Shape s) {
  return from_vector<int64_t>(v, s, DType::I64);
}

}  // namespace

TEST(Gradcheck, Unary) {
  struct C {
    const char* n;
    Tensor (*op)(const Tensor&);
    double lo, hi;
  };
  C cs[] = {{"neg", neg, -2, 2},           {"abs", abs, -2, 2},      {"exp", exp, -2, 2},
            {"log", log, 0.2, 3},          {"sqrt", sqrt, 0.2, 3},   {"rsqrt", rsqrt, 0.2, 3},
            {"sin", sin, -3, 3},           {"cos", cos, -3, 3},      {"tanh", tanh, -2, 2},
            {"sigmoid", sigmoid, -4, 4},   {"relu", relu, -2, 2},    {"silu", silu, -4, 4},
            {"softplus", softplus, -4, 4}, {"square", square, -2, 2}};
  for (auto& c : cs)
    EXPECT_TRUE(gradcheck([&](auto& x) { return c.op(x[0]); }, {d({3, 7}, 1, c.lo, c.hi)})) << c.n;
  EXPECT_TRUE(gradcheck([](auto& x) { return gelu(x[0], false); }, {d({3, 7}, 2, -4, 4)}))
      << "gelu";
  EXPECT_TRUE(gradcheck([](auto& x) { return gelu(x[0], true); }, {d({3, 7}, 3, -4, 4)}))
      << "gelu tanh";
  EXPECT_TRUE(gradcheck([](auto& x) { return softplus(x[0]); },
                        {make({25, -25, 19.9, 20.1}, {4}, DType::F64)}))
      << "softplus threshold";
}

TEST(Gradcheck, BinaryBroadcast) {
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 1, 4}, {5, 1}}, {{4}, {2, 3, 4}}, {{}, {3}}};
  struct C {
    const char* n;
    Tensor (*op)(const Tensor&, const Tensor&);
  };
  C cs[] = {{"add", add},
            {"sub", sub},
            {"mul", mul},
            {"div", div},
            {"maximum", maximum},
            {"minimum", minimum},
            {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }}};
  for (auto& c : cs) {
    for (auto& [sa, sb] : shapes) {
      EXPECT_TRUE(gradcheck([&](auto& x) { return c.op(x[0], x[1]); },
                            {d(sa, 4, 0.3, 2), d(sb, 5, 0.5, 2.5)}))
          << c.n << " " << shape_str(sa) << " " << shape_str(sb);
    }
  }
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0] * 2.5 + 1.0; }, {d({5}, 6)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return 2.5 - x[0] / 3.0; }, {d({5}, 7)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return 1.5 * x[0] - 0.5 + (-x[0]); }, {d({5}, 8)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return pow(x[0], 2.5); }, {d({5}, 9, 0.2, 2)}));
  EXPECT_TRUE(gradcheck([](auto& x) { return pow(x[0], 3.0); }, {d({5}, 10, -2, 2)}))
      << "pow, negative base";
  // Same tensor used twice (both edges accumulate).
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0] * x[0] + x[0]; }, {d({6}, 11)}));
}

TEST(Gradcheck, WhereMaskTri) {
  Tensor cond = gt(rand_t({3, 4}, 12), zeros({}));
  EXPECT_TRUE(
      gradcheck([&](auto& x) { return where(cond, x[0], x[1]); }, {d({3, 4}, 13), d({4}, 14)}));
  EXPECT_TRUE(
      gradcheck([&](auto& x) { return masked_fill(x[0], cond, -3.0); }, {d({2, 3, 4}, 15)}));
  for (int64_t k : {-1, 0, 2}) {
    EXPECT_TRUE(gradcheck([&](auto& x) { return tril(x[0], k); }, {d({2, 4, 5}, 16)}));
    EXPECT_TRUE(gradcheck([&](auto& x) { return triu(x[0], k); }, {d({2, 4, 5}, 17)}));
  }
}

TEST(Gradcheck, Reductions) {
  for (std::vector<int64_t> dims : {std::vector<int64_t>{}, {0}, {-1}, {0, 2}}) {
    for (bool kd : {false, true}) {
      std::string w = "dims " + shape_str(dims) + (kd ? " keepdim" : "");
      EXPECT_TRUE(gradcheck([&](auto& x) { return sum(x[0], dims, kd); }, {d({3, 4, 5}, 20)}))
          << "sum " << w;
      EXPECT_TRUE(gradcheck([&](auto& x) { return mean(x[0], dims, kd); }, {d({3, 4, 5}, 21)}))
          << "mean " << w;
      EXPECT_TRUE(gradcheck([&](auto& x) { return amax(x[0], dims, kd); }, {d({3, 4, 5}, 22)}))
          << "amax " << w;
      EXPECT_TRUE(gradcheck([&](auto& x) { return amin(x[0], dims, kd); }, {d({3, 4, 5}, 23)}))
          << "amin " << w;
      EXPECT_TRUE(gradcheck([&](auto& x) { return var(x[0], dims, 1, kd); }, {d({3, 4, 5}, 24)}))
          << "var " << w;
      EXPECT_TRUE(gradcheck([&](auto& x) { return var(x[0], dims, 0, kd); }, {d({3, 4, 5}, 25)}))
          << "var0 " << w;
      EXPECT_TRUE(gradcheck([&](auto& x) { return logsumexp(x[0], dims, kd); }, {d({3, 4, 5}, 26)}))
          << "lse " << w;
    }
  }
  for (int64_t dim : {0, 1, -1}) {
    EXPECT_TRUE(gradcheck([&](auto& x) { return cumsum(x[0], dim); }, {d({3, 4, 5}, 27)}))
        << "cumsum " << dim;
    EXPECT_TRUE(gradcheck([&](auto& x) { return softmax(x[0], dim); }, {d({3, 4, 5}, 28)}))
        << "softmax " << dim;
    EXPECT_TRUE(gradcheck([&](auto& x) { return log_softmax(x[0], dim); }, {d({3, 4, 5}, 29)}))
        << "log_softmax " << dim;
  }
  // logsumexp with a -inf entry: finite grads, zero at the -inf entry.
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return logsumexp(x[0] + make({0, -INFINITY, 0}, {3}, DType::F64), {0});
      },
      {d({3}, 30)}));
}

TEST(Gradcheck, AmaxTiesShareGradient) {
  Tensor x = make({1, 3, 3, 2, 5, 5, 5, 0}, {2, 4}, DType::F64);
  x.requires_grad_();
  sum(amax(x, {1})).backward();
  EXPECT_TRUE(close(x.grad(), {0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0}, 1e-12, 0));
  Tensor y = make({2, 2}, {2}, DType::F64);
  y.requires_grad_();
  amin(y).backward();
  EXPECT_TRUE(close(y.grad(), {0.5, 0.5}, 1e-12, 0));
}

TEST(Gradcheck, Views) {
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0].slice(1, 1, 7, 2); }, {d({3, 8}, 31)}))
      << "slice step";
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0].narrow(0, 1, 2); }, {d({4, 3}, 32)})) << "narrow";
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0].select(1, -1); }, {d({4, 3}, 33)})) << "select";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return x[0].expand({2, 3, 4});
      },
      {d({3, 1}, 34)}))
      << "expand";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return x[0].permute({2, 0, 1});
      },
      {d({2, 3, 4}, 35)}))
      << "permute";
  EXPECT_TRUE(
      gradcheck([](auto& x) { return x[0].transpose(0, 1).reshape({12}); }, {d({3, 4}, 36)}))
      << "reshape(copy)";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return x[0].view({4, 3}).t().contiguous();
      },
      {d({3, 4}, 37)}))
      << "view/contiguous";
  EXPECT_TRUE(
      gradcheck([](auto& x) { return x[0].unsqueeze(1).squeeze(0).flatten(); }, {d({1, 4}, 38)}))
      << "squeeze";
  EXPECT_TRUE(gradcheck([](auto& x) { return x[0].clone() * 3.0; }, {d({4}, 39)})) << "clone";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return x[0].expand({3, 4}).reshape({12});
      },
      {d({3, 1}, 41)}))
      << "expand+reshape";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return x[0].permute({1, 0, 2}).flatten(0, 1);
      },
      {d({2, 3, 2}, 42)}))
      << "flatten strided";
  // A view of a view, then an op that reads it twice.
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        Tensor v = x[0].t().slice(0, 0, 4, 3);
        return v * x[0].narrow(1, 0, 2).t();
      },
      {d({5, 4}, 40)}))
      << "view chain";
}

TEST(Gradcheck, MatmulLinear) {
  std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},          {{4}, {4}},          {{4}, {4, 5}},         {{3, 4}, {4}},
      {{2, 1, 3, 4}, {3, 4, 5}}, {{3, 4}, {2, 4, 2}}, {{2, 3, 4}, {2, 4, 5}}};
  for (auto& [sa, sb] : cases) {
    EXPECT_TRUE(gradcheck([](auto& x) { return matmul(x[0], x[1]); }, {d(sa, 41), d(sb, 42)}))
        << shape_str(sa) << " @ " << shape_str(sb);
  }
  EXPECT_TRUE(
      gradcheck([](auto& x) { return matmul(x[0].t(), x[1].t()); }, {d({4, 3}, 43), d({5, 4}, 44)}))
      << "transposed";
  EXPECT_TRUE(gradcheck([](auto& x) { return linear(x[0], x[1], x[2]); },
                        {d({2, 3, 4}, 45), d({5, 4}, 46), d({5}, 47)}));
  EXPECT_TRUE(
      gradcheck([](auto& x) { return linear(x[0], x[1]); }, {d({3, 4}, 48), d({5, 4}, 49)}));
}

TEST(Gradcheck, Indexing) {
  Tensor rep = ids({1, 3, 1, 1, 0, 3}, {2, 3});  // repeated ids: scatter-add in backward
  EXPECT_TRUE(gradcheck([&](auto& x) { return embedding(x[0], rep); }, {d({5, 3}, 50)}))
      << "embedding";
  EXPECT_TRUE(gradcheck([&](auto& x) { return embedding(x[0].t(), rep); }, {d({3, 5}, 51)}))
      << "embedding strided";
  Tensor sel = ids({2, 0, 2}, {3});
  EXPECT_TRUE(gradcheck([&](auto& x) { return index_select(x[0], 1, sel); }, {d({2, 4, 3}, 52)}))
      << "index_select";
  Tensor gi = ids({0, 2, 2, 1, 0, 0}, {2, 3});
  EXPECT_TRUE(gradcheck([&](auto& x) { return gather(x[0], 1, gi); }, {d({2, 4}, 53)})) << "gather";
  EXPECT_TRUE(gradcheck(
      [&](auto& x) {
        return gather(x[0], 0, ids({1, 0, 1, 1}, {2, 2}));
      },
      {d({2, 4}, 54)}))
      << "gather dim0";
  EXPECT_TRUE(gradcheck([&](auto& x) { return scatter_add(x[0], 1, gi, x[1]); },
                        {d({2, 4}, 55), d({2, 3}, 56)}))
      << "scatter_add";
}

TEST(Gradcheck, JoinSplit) {
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return cat({x[0], x[1], x[0]}, 1);
      },
      {d({2, 3}, 60), d({2, 1}, 61)}))
      << "cat";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        return stack({x[0], x[1]}, 1);
      },
      {d({2, 3}, 62), d({2, 3}, 63)}))
      << "stack";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        auto p = split(x[0], 2, 1);
        return cat({p[2] * 3.0, p[0], square(p[1])}, 1);
      },
      {d({2, 5}, 64)}))
      << "split";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        auto p = split(x[0], std::vector<int64_t>{1, 3}, 0);
        return p[1] * 2.0;  // the unused part gets zero gradient
      },
      {d({4, 2}, 65)}))
      << "split sizes";
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        auto p = chunk(x[0], 3, -1);
        return p[0] * p[2];
      },
      {d({2, 6}, 66)}))
      << "chunk";
}

TEST(Gradcheck, Norms) {
  for (double eps : {1e-6, 1e-2}) {
    EXPECT_TRUE(gradcheck([&](auto& x) { return rms_norm(x[0], x[1], eps); },
                          {d({2, 3, 8}, 70), d({8}, 71)}))
        << "rms_norm";
    EXPECT_TRUE(gradcheck([&](auto& x) { return rms_norm(x[0], Tensor(), eps); }, {d({3, 8}, 72)}))
        << "rms_norm no weight";
    EXPECT_TRUE(gradcheck([&](auto& x) { return layer_norm(x[0], x[1], x[2], eps); },
                          {d({2, 3, 8}, 73), d({8}, 74), d({8}, 75)}))
        << "layer_norm";
    EXPECT_TRUE(gradcheck([&](auto& x) { return layer_norm(x[0], Tensor(), Tensor(), eps); },
                          {d({3, 8}, 76)}))
        << "layer_norm bare";
    EXPECT_TRUE(gradcheck([&](auto& x) { return reference::rms_norm(x[0], x[1], eps); },
                          {d({3, 8}, 77), d({8}, 78)}))
        << "ref rms_norm";
    EXPECT_TRUE(gradcheck([&](auto& x) { return reference::layer_norm(x[0], x[1], x[2], eps); },
                          {d({3, 8}, 79), d({8}, 80), d({8}, 81)}))
        << "ref layer_norm";
  }
  // Non-contiguous input.
  EXPECT_TRUE(gradcheck([](auto& x) { return rms_norm(x[0].t(), x[1], 1e-6); },
                        {d({8, 3}, 82), d({8}, 83)}))
      << "rms_norm strided";
}

TEST(Gradcheck, Rope) {
  Vec cv, sv;
  for (int t = 0; t < 12; ++t)
    for (int i = 0; i < 4; ++i) {
      double a = t * std::pow(100.0, -i / 4.0);
      cv.push_back(std::cos(a));
      sv.push_back(std::sin(a));
    }
  Tensor c = make(cv, {12, 4}, DType::F64), s = make(sv, {12, 4}, DType::F64);
  for (bool inter : {false, true}) {
    for (int64_t off : {0, 5}) {
      EXPECT_TRUE(
          gradcheck([&](auto& x) { return rope(x[0], c, s, off, inter); }, {d({1, 2, 7, 8}, 90)}))
          << "rope interleaved=" << inter << " off " << off;
      EXPECT_TRUE(gradcheck([&](auto& x) { return reference::rope(x[0], c, s, off, inter); },
                            {d({1, 2, 7, 8}, 91)}))
          << "ref rope interleaved=" << inter;
      EXPECT_TRUE(gradcheck([&](auto& x) { return rope(x[0].transpose(1, 2), c, s, off, inter); },
                            {d({1, 7, 2, 8}, 92)}))
          << "rope strided";
    }
  }
}

TEST(Gradcheck, Attention) {
  struct C {
    int64_t H, Hkv, Tq, Tk;
    bool causal;
    int64_t window;
    int mask;
  };
  C cs[] = {{2, 2, 4, 4, false, 0, 0},
            {2, 2, 4, 4, true, 0, 0},
            {4, 2, 3, 5, true, 0, 1},
            {2, 1, 5, 5, true, 2, 0},
            {2, 2, 2, 6, false, 0, 2}};
  for (auto& c : cs) {
    AttentionOptions o;
    o.causal = c.causal;
    o.window = c.window;
    Tensor mask;
    if (c.mask == 1) mask = d({c.Tq, c.Tk}, 93, -1, 1);
    if (c.mask == 2) mask = gt(rand_t({1, 1, c.Tq, c.Tk}, 94, DType::F32, -0.3, 1), zeros({}));
    std::vector<Tensor> in{d({1, c.H, c.Tq, 4}, 95), d({1, c.Hkv, c.Tk, 4}, 96),
                           d({1, c.Hkv, c.Tk, 4}, 97)};
    std::string w = "H" + std::to_string(c.H) + " Hkv" + std::to_string(c.Hkv) + " causal" +
                    std::to_string(c.causal) + " win" + std::to_string(c.window) + " mask" +
                    std::to_string(c.mask);
    EXPECT_TRUE(gradcheck(
        [&](auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], mask, o); }, in))
        << w;
    EXPECT_TRUE(gradcheck(
        [&](auto& x) { return reference::scaled_dot_product_attention(x[0], x[1], x[2], mask, o); },
        in))
        << "ref " << w;
  }
  // Gradient through the additive mask too.
  EXPECT_TRUE(
      gradcheck([](auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); },
                {d({1, 2, 3, 4}, 98), d({1, 2, 3, 4}, 99), d({1, 2, 3, 4}, 100), d({3, 3}, 101)}))
      << "mask grad";
}

TEST(Gradcheck, AttentionDropout) {
  // A fixed keep mask (f64); and the drawn path with a generator reset on every call, so each
  // finite-difference evaluation sees the same mask.
  struct C {
    int64_t H, Hkv, Tq, Tk;
    bool causal;
    int64_t window;
    int mask;
    double p;
  };
  C cs[] = {{2, 2, 4, 4, false, 0, 0, 0.3},
            {4, 2, 3, 5, true, 0, 1, 0.5},
            {2, 1, 5, 5, true, 2, 0, 0.2},
            {2, 2, 2, 6, false, 0, 2, 0.4}};
  for (auto& c : cs) {
    Tensor mask;
    if (c.mask == 1) mask = d({c.Tq, c.Tk}, 93, -1, 1);
    if (c.mask == 2) mask = gt(rand_t({1, 1, c.Tq, c.Tk}, 94, DType::F32, -0.3, 1), zeros({}));
    std::vector<Tensor> in{d({1, c.H, c.Tq, 4}, 95), d({1, c.Hkv, c.Tk, 4}, 96),
                           d({1, c.Hkv, c.Tk, 4}, 97)};
    std::string w = "H" + std::to_string(c.H) + " Hkv" + std::to_string(c.Hkv) + " causal" +
                    std::to_string(c.causal) + " win" + std::to_string(c.window) + " mask" +
                    std::to_string(c.mask);
    AttentionOptions o;
    o.causal = c.causal;
    o.window = c.window;
    o.dropout = c.p;
    Generator g0(17);
    AttentionOptions fixed = o;
    fixed.dropout_keep = attention_dropout_keep({1, c.H, c.Tq, c.Tk}, c.p, &g0);
    EXPECT_TRUE(gradcheck(
        [&](auto& x) { return scaled_dot_product_attention(x[0], x[1], x[2], mask, fixed); }, in))
        << "fixed mask " << w;
    EXPECT_TRUE(gradcheck(
        [&](auto& x) {
          Generator g(17);
          AttentionOptions drawn = o;
          drawn.generator = &g;
          return scaled_dot_product_attention(x[0], x[1], x[2], mask, drawn);
        },
        in))
        << "drawn mask " << w;
  }
}

TEST(Gradcheck, Composite) {
  // A small MLP + cross-entropy-like loss: many ops chained, shared subexpressions.
  EXPECT_TRUE(gradcheck(
      [](auto& x) {
        Tensor h = gelu(linear(x[0], x[1], x[2]));
        Tensor logits = linear(rms_norm(h, Tensor(), 1e-6), x[3]);
        Tensor lp = log_softmax(logits, -1);
        return neg(mean(gather(lp, 1, ids({0, 2, 1}, {3, 1}))));
      },
      {d({3, 4}, 110), d({6, 4}, 111), d({6}, 112), d({3, 6}, 113)}));
}
