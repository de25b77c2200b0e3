// Attention dropout (AttentionOptions::dropout): p = 0 is the no-dropout path bit for bit; the mask
// is the one attention_dropout_keep draws (deterministic from the seed, independent of the thread
// count); about p of the probabilities are dropped and the kept ones scaled by 1 / (1 - p), checked
// against a naive double-loop reference with the same mask over GQA, causal, sliding window and
// KV-cache offsets; bad options throw. Gradients: test_gradcheck.cpp; PyTorch: torch_parity.
#include <cstring>

#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/ops_reference.h"
#include "test_helpers.h"

using namespace etest;

namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.raw_data(), bc.raw_data(), size_t(ac.nbytes())) == 0;
}

struct Qkv {
  Tensor q, k, v;
};
Qkv qkv(int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t Dh, DType dt,
        uint64_t seed) {
  return {rand_t({B, H, Tq, Dh}, seed, dt), rand_t({B, Hkv, Tk, Dh}, seed + 1, dt),
          rand_t({B, Hkv, Tk, Dh}, seed + 2, dt)};
}

// The output and the gradients of sum(out * out) with respect to q, k, v (fresh leaves).
std::pair<Tensor, std::vector<Tensor>> run_with_grads(const Tensor& q, const Tensor& k,
                                                      const Tensor& v, const AttentionOptions& o) {
  Tensor out;
  auto [value, grads] = value_and_grad(
      [&](const std::vector<Tensor>& x) {
        out = scaled_dot_product_attention(x[0], x[1], x[2], Tensor(), o);
        return sum(out * out);
      },
      {q, k, v});
  return {out.detach(), grads};
}

// Naive attention in double with dropout: probabilities times keep / (1 - p), then @ v.
Vec attn_dropout_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& keep,
                     double p, bool causal, int64_t window, int64_t qoff) {
  int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Dh = q.size(3), Hkv = k.size(1),
          Tk = k.size(2), Dv = v.size(3);
  Vec vq = values(q), vk = values(k), vv = values(v), vkeep = values(keep), o;
  double scale = 1.0 / std::sqrt(double(Dh));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t hk = h / (H / Hkv);
      for (int64_t i = 0; i < Tq; ++i) {
        Vec sc(Tk);
        double mx = -INFINITY;
        for (int64_t j = 0; j < Tk; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < Dh; ++d)
            acc += vq[((b * H + h) * Tq + i) * Dh + d] * vk[((b * Hkv + hk) * Tk + j) * Dh + d];
          acc *= scale;
          int64_t pos = qoff + i;
          if (causal && j > pos) acc = -INFINITY;
          if (window > 0 && j <= pos - window) acc = -INFINITY;
          sc[j] = acc;
          mx = std::max(mx, acc);
        }
        double z = 0;
        for (auto& e : sc) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j < Tk; ++j) {
          double kp = vkeep[((b * H + h) * Tq + i) * Tk + j];
          sc[j] = sc[j] / z * (kp ? 1.0 / (1.0 - p) : 0.0);
        }
        for (int64_t d = 0; d < Dv; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Tk; ++j) acc += sc[j] * vv[((b * Hkv + hk) * Tk + j) * Dv + d];
          o.push_back(acc);
        }
      }
    }
  return o;
}

}  // namespace

TEST(AttentionDropout, ZeroIsTheNoDropoutPathBitForBit) {
  auto [q, k, v] = qkv(2, 4, 2, 9, 9, 8, DType::F32, 11);
  AttentionOptions plain;
  plain.causal = true;
  AttentionOptions zero = plain;
  zero.dropout = 0.0;
  Generator g(5);
  zero.generator = &g;
  uint64_t before = default_generator().offset();
  // Without gradients (the fused kernel) and with them (the composed path).
  EXPECT_TRUE(bit_equal(scaled_dot_product_attention(q, k, v, Tensor(), plain),
                        scaled_dot_product_attention(q, k, v, Tensor(), zero)));
  auto [a, ga] = run_with_grads(q, k, v, plain);
  auto [b, gb] = run_with_grads(q, k, v, zero);
  EXPECT_TRUE(bit_equal(a, b));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bit_equal(ga[i], gb[i])) << "grad " << i;
  EXPECT_EQ(g.offset(), 0u) << "p = 0 must not draw";
  EXPECT_EQ(default_generator().offset(), before);
}

TEST(AttentionDropout, HookMaskIsTheMaskTheOpDraws) {
  auto [q, k, v] = qkv(2, 4, 2, 7, 7, 8, DType::F32, 21);
  const Shape full{2, 4, 7, 7};
  for (bool own : {false, true}) {  // the default generator (as models use), then an own one
    Generator g(1234);
    g.advance(77);  // mid-stream, as after other draws
    Generator copy = g;
    if (!own) default_generator().set_state(g.seed(), g.offset());
    Tensor keep = attention_dropout_keep(full, 0.3, &copy);
    AttentionOptions o;
    o.causal = true;
    o.dropout = 0.3;
    o.generator = own ? &g : nullptr;
    Tensor drawn = scaled_dot_product_attention(q, k, v, Tensor(), o);
    AttentionOptions f = o;
    f.generator = nullptr;
    f.dropout_keep = keep;
    uint64_t before = default_generator().offset();
    Tensor fixed = scaled_dot_product_attention(q, k, v, Tensor(), f);
    EXPECT_EQ(default_generator().offset(), before) << "a fixed mask must not draw";
    EXPECT_TRUE(bit_equal(drawn, fixed)) << (own ? "own generator" : "default generator");
    uint64_t advanced = own ? g.offset() : default_generator().offset();
    EXPECT_EQ(advanced, copy.offset()) << "the op advances the stream by B*H*Tq*Tk";
    EXPECT_EQ(copy.offset(), 77u + 2 * 4 * 7 * 7);
    // A different seed draws a different mask.
    Generator other(1235);
    o.generator = &other;
    EXPECT_FALSE(bit_equal(drawn, scaled_dot_product_attention(q, k, v, Tensor(), o)));
  }
}

TEST(AttentionDropout, DeterministicAndIndependentOfThreadCount) {
  auto [q0, k0, v0] = qkv(2, 4, 2, 40, 40, 16, DType::F32, 31);
  int threads = num_threads();
  std::vector<Tensor> outs, grads;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    Generator g(99);
    AttentionOptions o;
    o.causal = true;
    o.window = 17;
    o.dropout = 0.25;
    o.generator = &g;
    auto [out, gr] = run_with_grads(q0, k0, v0, o);
    outs.push_back(out);
    grads.insert(grads.end(), gr.begin(), gr.end());
  }
  set_num_threads(threads);
  for (size_t i = 1; i < outs.size(); ++i) {
    EXPECT_TRUE(bit_equal(outs[0], outs[i])) << "threads run " << i;
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(bit_equal(grads[j], grads[3 * i + j])) << j;
  }
}

TEST(AttentionDropout, DropsAboutPAndScalesKeptByOneOverOneMinusP) {
  // With v = identity (Tk = Dv) the output is the dropped probability matrix itself.
  const int64_t B = 2, H = 4, T = 48;
  Tensor q = rand_t({B, H, T, 8}, 41), k = rand_t({B, H, T, 8}, 42);
  Tensor ids = arange(T);
  Tensor v = eq(ids.reshape({T, 1}), ids.reshape({1, T}))  // identity (T, T)
                 .to(DType::F32)
                 .reshape({1, 1, T, T})
                 .expand({B, H, T, T});
  AttentionOptions plain;  // not causal: every probability is positive
  // The composed path's probabilities (the path dropout takes), so only the dropout differs.
  Tensor probs = reference::scaled_dot_product_attention(q, k, v, Tensor(), plain);
  for (double p : {0.1, 0.5, 0.8}) {
    Generator g(7), copy(7);
    Tensor keep = attention_dropout_keep({B, H, T, T}, p, &copy);
    AttentionOptions o;
    o.dropout = p;
    o.generator = &g;
    Vec got = values(scaled_dot_product_attention(q, k, v, Tensor(), o)), ref = values(probs),
        kv = values(keep);
    int64_t dropped = 0, bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == 0.0) ++dropped;
      bool kept = kv[i] != 0;
      double want = kept ? ref[i] / (1.0 - p) : 0.0;
      if ((got[i] == 0.0) == kept || std::fabs(got[i] - want) > 1e-6 * std::fabs(want)) {
        if (bad++ < 3)
          ADD_FAILURE() << "p " << p << " [" << i << "] got " << got[i] << " want " << want;
      }
    }
    double frac = double(dropped) / double(got.size());
    // 9216 Bernoulli draws: the standard deviation of the fraction is <= 0.0053.
    EXPECT_NEAR(frac, p, 0.03) << "p " << p;
    EXPECT_EQ(bad, 0) << "p " << p << ": kept ones must be probs / (1 - p), dropped ones 0";
  }
}

TEST(AttentionDropout, MatchesNaiveReferenceGqaCausalWindowCache) {
  struct C {
    int64_t H, Hkv, Tq, Tk;
    bool causal;
    int64_t window, qoff;
    double p;
  };
  C cs[] = {{4, 2, 9, 9, true, 0, 0, 0.3},
            {4, 1, 12, 12, true, 4, 0, 0.5},
            {2, 2, 3, 13, true, 0, 10, 0.2},
            {6, 3, 5, 21, true, 7, 16, 0.7},
            {2, 1, 6, 6, false, 0, 0, 0.1}};
  for (auto& c : cs) {
    for (DType dt : {DType::F32, DType::F64, DType::BF16}) {
      auto [q, k, v] = qkv(2, c.H, c.Hkv, c.Tq, c.Tk, 8, dt, 51);
      Generator g(3), copy(3);
      Tensor keep = attention_dropout_keep({2, c.H, c.Tq, c.Tk}, c.p, &copy);
      AttentionOptions o;
      o.causal = c.causal;
      o.window = c.window;
      o.query_offset = c.qoff;
      o.dropout = c.p;
      o.generator = &g;
      Tensor out = scaled_dot_product_attention(q, k, v, Tensor(), o);
      EXPECT_EQ(out.dtype(), dt);
      Vec want = attn_dropout_ref(q, k, v, keep, c.p, c.causal, c.window, c.qoff);
      double tol = dt == DType::BF16 ? 2e-2 : dt == DType::F32 ? 1e-5 : 1e-12;
      EXPECT_TRUE(close(values(out), want, tol, tol))
          << "H" << c.H << " Hkv" << c.Hkv << " window " << c.window << " p " << c.p << " "
          << dtype_name(dt);
    }
  }
}

TEST(AttentionDropout, OneDropsEverything) {
  auto [q, k, v] = qkv(1, 2, 2, 5, 5, 4, DType::F32, 61);
  AttentionOptions o;
  o.causal = true;
  o.dropout = 1.0;
  auto [out, g] = run_with_grads(q, k, v, o);
  for (double x : values(out)) EXPECT_EQ(x, 0.0);
  for (int i = 0; i < 3; ++i)
    for (double x : values(g[i])) EXPECT_EQ(x, 0.0) << "grad " << i;
}

TEST(AttentionDropout, BadOptionsThrow) {
  auto [q, k, v] = qkv(1, 2, 1, 3, 3, 4, DType::F32, 71);
  auto run = [&](AttentionOptions o) { return scaled_dot_product_attention(q, k, v, Tensor(), o); };
  for (double p : {-0.1, 1.5, double(NAN)}) {
    AttentionOptions o;
    o.dropout = p;
    try {
      run(o);
      ADD_FAILURE() << "no ConfigError for dropout " << p;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("[attention] dropout must be in [0, 1]"),
                std::string::npos)
          << e.what();
    }
    EXPECT_THROW(attention_dropout_keep({2, 2}, p), ConfigError);
  }
  AttentionOptions o;
  o.dropout = 0.5;
  o.dropout_keep = ones({1, 2, 3, 2}, DType::Bool);
  EXPECT_THROW(run(o), ShapeError);
  o.dropout_keep = ones({1, 2, 3, 3}, DType::F32);
  EXPECT_THROW(run(o), DTypeError);
  o.dropout_keep = ones({1, 2, 3, 3}, DType::Bool);
  EXPECT_NO_THROW(run(o));
  o.dropout = 0.0;
  EXPECT_THROW(run(o), ConfigError);
}
