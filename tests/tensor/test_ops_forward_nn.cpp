// Forward of indexing, joining/splitting and the fused NN ops (rms_norm, layer_norm, rope,
// attention) against naive double loops, plus fused vs composed (lazarus::reference).
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/ops_reference.h"
#include "test_helpers.h"

using namespace etest;

namespace {
Tensor ids_t(const std::vector<int64_t>& v, Shape s, DType dt = DType::I64) {
  return from_vector<int64_t>(v, s, dt);
}
int64_t flat(const Shape& s, const std::vector<int64_t>& idx) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return f;
}
}  // namespace

TEST(Index, EmbeddingIndexSelect) {
  for (int64_t V : {1, 33, 1031}) {
    Tensor w = rand_t({V, 7}, 1);
    std::vector<int64_t> ids;
    for (int i = 0; i < 2 * 33; ++i) ids.push_back((i * 37 + 5) % V);
    ids[1] = ids[0];  // repeated ids
    for (DType it : {DType::I64, DType::I32}) {
      for (Tensor wv : {w, w.t().contiguous().t()}) {
        Tensor e = embedding(wv, ids_t(ids, {2, 33}, it));
        ASSERT_EQ(e.shape(), (Shape{2, 33, 7}));
        Vec vw = values(wv), want;
        for (auto id : ids)
          for (int d = 0; d < 7; ++d) want.push_back(vw[id * 7 + d]);
        EXPECT_TRUE(close(e, want, 0, 0)) << "V=" << V;
      }
    }
  }
  EXPECT_EQ(embedding(rand_t({5, 3}, 2), ids_t({}, {0})).shape(), (Shape{0, 3}));
  EXPECT_EQ(embedding(rand_t({5, 3}, 2), ids_t({4}, {})).shape(), (Shape{3}));

  Shape s{4, 33, 5};
  for (const auto& l : layouts(s, 3)) {
    for (int64_t d = 0; d < 3; ++d) {
      std::vector<int64_t> idx{0, s[d] - 1, 0, s[d] / 2};
      Tensor r = index_select(l.t, d, ids_t(idx, {4}));
      Shape os = s;
      os[d] = 4;
      ASSERT_EQ(r.shape(), os);
      Vec v = values(l.t), want;
      for (int64_t i = 0; i < numel_of(os); ++i) {
        auto j = unravel(i, os);
        j[d] = idx[j[d]];
        want.push_back(v[flat(s, j)]);
      }
      EXPECT_TRUE(close(r, want, 0, 0)) << l.name << " dim " << d;
    }
  }
}

TEST(Index, GatherScatterAdd) {
  Shape s{3, 7, 5};
  for (const auto& l : layouts(s, 4)) {
    for (int64_t d = 0; d < 3; ++d) {
      Shape is{3, 4, 5};
      is[d] = 6;  // index may be longer than x along d (repeats)
      if (d != 1) is[1] = 4;
      std::vector<int64_t> iv;
      for (int64_t i = 0; i < numel_of(is); ++i) iv.push_back((i * 13 + 1) % s[d]);
      Tensor index = ids_t(iv, is);
      Tensor g = gather(l.t, d, index);
      ASSERT_EQ(g.shape(), is);
      Vec v = values(l.t), want;
      for (int64_t i = 0; i < numel_of(is); ++i) {
        auto j = unravel(i, is);
        j[d] = iv[i];
        want.push_back(v[flat(s, j)]);
      }
      EXPECT_TRUE(close(g, want, 0, 0)) << "gather " << l.name << " dim " << d;

      Tensor src = rand_t(is, 5);
      Tensor sa = scatter_add(l.t, d, index, src);
      ASSERT_EQ(sa.shape(), s);
      Vec out = values(l.t), vs = values(src);
      for (int64_t i = 0; i < numel_of(is); ++i) {
        auto j = unravel(i, is);
        j[d] = iv[i];
        out[flat(s, j)] += vs[i];
      }
      EXPECT_TRUE(close(sa, out, 1e-6, 1e-6)) << "scatter_add " << l.name << " dim " << d;
      EXPECT_TRUE(close(l.t, values(l.t), 0, 0));  // out-of-place: x unchanged
    }
  }
}

TEST(Join, CatStackSplitChunk) {
  Tensor a = rand_t({2, 3, 5}, 1), b = rand_t({2, 1, 5}, 2).t().contiguous().t(),
         c = rand_t({2, 0, 5}, 3);
  Tensor r = cat({a, b, c}, 1);
  ASSERT_EQ(r.shape(), (Shape{2, 4, 5}));
  Vec va = values(a), vb = values(b), want;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 5; ++k) want.push_back(va[(i * 3 + j) * 5 + k]);
    for (int k = 0; k < 5; ++k) want.push_back(vb[i * 5 + k]);
  }
  EXPECT_TRUE(close(r, want, 0, 0));
  EXPECT_TRUE(close(
      cat({a.transpose(0, 2), a.transpose(0, 2)}, -1),
      [&] {
        Vec v = values(a.transpose(0, 2)), o;
        for (int64_t i = 0; i < 5 * 3; ++i) {
          for (int k = 0; k < 2; ++k) o.push_back(v[i * 2 + k]);
          for (int k = 0; k < 2; ++k) o.push_back(v[i * 2 + k]);
        }
        return o;
      }(),
      0, 0));
  EXPECT_EQ(cat({a}, 0).shape(), a.shape());
  // Mixed dtypes promote like torch.cat.
  EXPECT_EQ(cat({a, a.to(DType::F64)}, 0).dtype(), DType::F64);

  Tensor x = rand_t({3, 4}, 4), y = rand_t({3, 4}, 5);
  for (int64_t d : {0, 1, 2, -1}) {
    Tensor s = stack({x, y.t().contiguous().t()}, d);
    Shape os{3, 4};
    int64_t dd = d < 0 ? d + 3 : d;
    os.insert(os.begin() + dd, 2);
    ASSERT_EQ(s.shape(), os);
    Vec vx = values(x), vy = values(y), w;
    for (int64_t i = 0; i < 24; ++i) {
      auto j = unravel(i, os);
      int64_t which = j[dd];
      j.erase(j.begin() + dd);
      w.push_back((which ? vy : vx)[j[0] * 4 + j[1]]);
    }
    EXPECT_TRUE(close(s, w, 0, 0)) << "stack dim " << d;
  }

  Tensor z = rand_t({33, 4}, 6);
  Vec vz = values(z);
  auto parts = split(z, 10, 0);
  ASSERT_EQ(parts.size(), 4u);
  int64_t row = 0;
  for (auto& p : parts) {
    EXPECT_EQ(p.storage()->data(), z.storage()->data());  // views
    EXPECT_TRUE(close(p, Vec(vz.begin() + row * 4, vz.begin() + (row + p.size(0)) * 4), 0, 0));
    row += p.size(0);
  }
  EXPECT_EQ(parts[3].size(0), 3);
  auto ps = split(z, std::vector<int64_t>{1, 0, 3}, 1);
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[1].shape(), (Shape{33, 0}));
  EXPECT_TRUE(close(ps[2], values(z.narrow(1, 1, 3)), 0, 0));
  auto ch = chunk(z, 4, 0);  // torch: ceil(33/4) = 9 -> 9, 9, 9, 6
  ASSERT_EQ(ch.size(), 4u);
  EXPECT_EQ(ch[0].size(0), 9);
  EXPECT_EQ(ch[3].size(0), 6);
  EXPECT_EQ(chunk(z, 5, 1).size(), 4u);  // size 4 into 5 chunks: 4 chunks of 1, as torch
}

// ---- norms ----

namespace {
Vec norm_ref(const Tensor& x, const Tensor& w, const Tensor& b, double eps, bool rms) {
  int64_t D = x.size(-1), rows = x.numel() / std::max<int64_t>(D, 1);
  Vec v = values(x), vw = w.defined() ? values(w) : Vec(D, 1),
      vb = b.defined() ? values(b) : Vec(D, 0), o;
  for (int64_t r = 0; r < rows; ++r) {
    double mu = 0, ss = 0;
    for (int64_t i = 0; i < D; ++i) mu += v[r * D + i];
    mu = rms ? 0 : mu / D;
    for (int64_t i = 0; i < D; ++i) ss += (v[r * D + i] - mu) * (v[r * D + i] - mu);
    double inv = 1 / std::sqrt(ss / D + eps);
    for (int64_t i = 0; i < D; ++i) o.push_back((v[r * D + i] - mu) * inv * vw[i] + vb[i]);
  }
  return o;
}
}  // namespace

TEST(Norms, RmsNormLayerNormNaiveAndComposed) {
  for (Shape s :
       {Shape{1}, Shape{31}, Shape{3, 32}, Shape{2, 3, 33}, Shape{2, 1031}, Shape{0, 8}}) {
    int64_t D = s.back();
    for (const auto& l : layouts(s, 81, DType::F32, -3, 5)) {
      Tensor w = rand_t({D}, 82), b = rand_t({D}, 83);
      for (double eps : {1e-6, 1e-5}) {
        std::string what = shape_str(s) + " " + l.name;
        EXPECT_TRUE(close(rms_norm(l.t, w, eps), norm_ref(l.t, w, Tensor(), eps, true), 1e-5, 1e-5))
            << what;
        EXPECT_TRUE(close(rms_norm(l.t, Tensor(), eps),
                          norm_ref(l.t, Tensor(), Tensor(), eps, true), 1e-5, 1e-5))
            << what;
        EXPECT_TRUE(close(layer_norm(l.t, w, b, eps), norm_ref(l.t, w, b, eps, false), 1e-5, 1e-5))
            << what;
        EXPECT_TRUE(close(layer_norm(l.t, Tensor(), Tensor(), eps),
                          norm_ref(l.t, Tensor(), Tensor(), eps, false), 1e-5, 1e-5))
            << what;
        EXPECT_TRUE(
            close(rms_norm(l.t, w, eps), values(reference::rms_norm(l.t, w, eps)), 1e-5, 1e-5))
            << what;
        EXPECT_TRUE(close(layer_norm(l.t, w, b, eps), values(reference::layer_norm(l.t, w, b, eps)),
                          1e-5, 1e-5))
            << what;
      }
    }
  }
  // Constant rows (zero variance) stay finite; large offsets do not lose the variance (f32).
  Tensor c = full({2, 64}, 3.0);
  EXPECT_TRUE(close(layer_norm(c, Tensor(), Tensor(), 1e-5), Vec(128, 0), 0, 1e-6));
  Tensor off = rand_t({4, 256}, 84) + 1000.0;
  EXPECT_TRUE(close(layer_norm(off, Tensor(), Tensor(), 1e-5),
                    norm_ref(off, Tensor(), Tensor(), 1e-5, false), 1e-3, 2e-3));
  for (DType d : {DType::BF16, DType::F16, DType::F64}) {
    Tensor x = rand_t({3, 96}, 85, d), w = rand_t({96}, 86, d), b = rand_t({96}, 87, d);
    double tol = d == DType::BF16 ? 1e-2 : d == DType::F16 ? 2e-3 : 1e-12;
    Tensor y = rms_norm(x, w, 1e-6);
    EXPECT_EQ(y.dtype(), d);
    EXPECT_TRUE(close(y, norm_ref(x, w, Tensor(), 1e-6, true), tol, tol)) << dtype_name(d);
    EXPECT_TRUE(close(layer_norm(x, w, b, 1e-5), norm_ref(x, w, b, 1e-5, false), tol, tol))
        << dtype_name(d);
  }
}

// ---- rope ----

namespace {
Vec rope_ref(const Tensor& x, const Tensor& ct, const Tensor& st, int64_t off, bool inter) {
  Shape s = x.shape();
  int64_t T = s[s.size() - 2], Dh = s.back(), half = Dh / 2,
          rows = x.numel() / std::max<int64_t>(T * Dh, 1);
  Vec v = values(x), c = values(ct), sn = values(st), o(v.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < half; ++i) {
        int64_t base = (r * T + t) * Dh;
        int64_t i0 = inter ? base + 2 * i : base + i,
                i1 = inter ? base + 2 * i + 1 : base + i + half;
        double cc = c[(off + t) * half + i], ss = sn[(off + t) * half + i];
        o[i0] = v[i0] * cc - v[i1] * ss;
        o[i1] = v[i1] * cc + v[i0] * ss;
      }
  return o;
}
}  // namespace

TEST(Rope, TablesMatchHfFormula) {
  auto [c, s] = rope_tables(64, 40, 10000.0);
  ASSERT_EQ(c.shape(), (Shape{40, 32}));
  Vec vc = values(c), vs = values(s);
  for (int64_t t = 0; t < 40; ++t)
    for (int64_t i = 0; i < 32; ++i) {
      double a = double(t) * std::pow(10000.0, -2.0 * i / 64);
      ASSERT_NEAR(vc[t * 32 + i], std::cos(a), 2e-5) << t << "," << i;
      ASSERT_NEAR(vs[t * 32 + i], std::sin(a), 2e-5) << t << "," << i;
    }
}

TEST(Rope, BothConventionsOffsetsLayoutsComposed) {
  auto [c, s] = rope_tables(32, 100, 500000.0);
  for (Shape xs : {Shape{2, 3, 33, 32}, Shape{1, 1, 1, 32}, Shape{1, 2, 0, 32}, Shape{5, 32}}) {
    for (const auto& l : layouts(xs, 91)) {
      for (bool inter : {false, true}) {
        for (int64_t off : {int64_t(0), int64_t(7), 100 - xs[xs.size() - 2]}) {
          std::string what = shape_str(xs) + " " + l.name + (inter ? " interleaved" : " halves") +
                             " off " + std::to_string(off);
          Tensor y = rope(l.t, c, s, off, inter);
          ASSERT_EQ(y.shape(), xs);
          EXPECT_TRUE(close(y, rope_ref(l.t, c, s, off, inter), 1e-5, 1e-6)) << what;
          EXPECT_TRUE(close(y, values(reference::rope(l.t, c, s, off, inter)), 1e-5, 1e-6)) << what;
        }
      }
    }
  }
  Tensor xh = rand_t({1, 2, 9, 32}, 92, DType::BF16);
  Tensor yh = rope(xh, c, s, 3, false);
  EXPECT_EQ(yh.dtype(), DType::BF16);
  EXPECT_TRUE(close(yh, rope_ref(xh, c, s, 3, false), 1e-2, 1e-2));
}

// ---- attention ----

namespace {
// Naive attention in double; mask additive (or Bool keep mask) broadcast to (B, H, Tq, Tk).
Vec attn_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
             int64_t window, double scale, int64_t qoff) {
  int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Dh = q.size(3), Hkv = k.size(1),
          Tk = k.size(2), Dv = v.size(3);
  Vec vq = values(q), vk = values(k), vv = values(v), vm = mask.defined() ? values(mask) : Vec(), o;
  bool bmask = mask.defined() && mask.dtype() == DType::Bool;
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
          if (mask.defined()) {
            double m = vm[bcast_index({b, h, i, j}, mask.shape())];
            acc = bmask ? (m ? acc : -INFINITY) : acc + m;
          }
          int64_t p = qoff + i;
          if (causal && j > p) acc = -INFINITY;
          if (window > 0 && j <= p - window) acc = -INFINITY;
          sc[j] = acc;
          mx = std::max(mx, acc);
        }
        double z = 0;
        for (auto& e : sc) z += (e = std::exp(e - mx));
        for (int64_t d = 0; d < Dv; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Tk; ++j)
            acc += sc[j] / z * vv[((b * Hkv + hk) * Tk + j) * Dv + d];
          o.push_back(acc);
        }
      }
    }
  return o;
}

struct AttnCase {
  int64_t B, H, Hkv, Tq, Tk, Dh;
  bool causal;
  int64_t window;
  std::optional<int64_t> qoff;
  int mask;  // 0 none, 1 additive (Tq, Tk), 2 bool (B, 1, Tq, Tk), 3 additive (B, 1, 1, Tk) padding
};

// The geometries the forward and the backward tests both run.
const AttnCase kAttnCases[] = {
    {1, 1, 1, 1, 1, 8, false, 0, {}, 0},    {2, 4, 4, 33, 33, 16, true, 0, {}, 0},
    {1, 4, 2, 31, 31, 32, true, 0, {}, 1},  {2, 6, 2, 32, 32, 8, false, 0, {}, 2},
    {1, 4, 1, 5, 40, 16, true, 0, {}, 0},    // KV-cache: Tq < Tk, default offset Tk - Tq
    {1, 2, 2, 4, 40, 16, true, 0, 10, 3},    // explicit query_offset
    {1, 2, 1, 33, 33, 16, true, 8, {}, 0},   // sliding window
    {2, 2, 2, 7, 70, 8, true, 16, {}, 3},    // window + cache + padding mask
    {1, 2, 2, 1, 300, 64, true, 0, {}, 0},   // decode against a long cache
    {1, 2, 2, 65, 130, 8, false, 0, {}, 1},  // rectangular, non-causal
};

// The mask case c names (additive ones in dt; seeds `seed` and seed + 1), or undefined.
Tensor attn_mask(const AttnCase& c, uint64_t seed, DType dt = DType::F32) {
  if (c.mask == 1) return rand_t({c.Tq, c.Tk}, seed, dt);
  if (c.mask == 2)
    return gt(rand_t({c.B, 1, c.Tq, c.Tk}, seed + 1, DType::F32, -0.5, 2), zeros({}));
  if (c.mask == 3) {
    Vec pad(c.B * c.Tk, 0);
    for (int64_t j = 0; j < 3; ++j) pad[j] = -INFINITY;  // batch 0: first 3 keys padded
    return make(pad, {c.B, 1, 1, c.Tk}).to(dt);
  }
  return Tensor();
}

AttentionOptions attn_options(const AttnCase& c) {
  AttentionOptions o;
  o.causal = c.causal;
  o.window = c.window;
  o.query_offset = c.qoff;
  return o;
}

std::string attn_label(const AttnCase& c) {
  return "B" + std::to_string(c.B) + " H" + std::to_string(c.H) + " Hkv" + std::to_string(c.Hkv) +
         " Tq" + std::to_string(c.Tq) + " Tk" + std::to_string(c.Tk) + " mask" +
         std::to_string(c.mask) + " win" + std::to_string(c.window);
}
}  // namespace

TEST(Attention, NaiveFusedComposed) {
  for (const auto& c : kAttnCases) {
    Tensor q = rand_t({c.B, c.H, c.Tq, c.Dh}, 101), k = rand_t({c.B, c.Hkv, c.Tk, c.Dh}, 102),
           v = rand_t({c.B, c.Hkv, c.Tk, c.Dh}, 103);
    Tensor mask = attn_mask(c, 104);
    AttentionOptions o = attn_options(c);
    int64_t qoff = c.qoff.value_or(c.Tk - c.Tq);
    std::string what = attn_label(c);
    Vec want = attn_ref(q, k, v, mask, c.causal, c.window, 1 / std::sqrt(double(c.Dh)), qoff);
    Tensor fused = scaled_dot_product_attention(q, k, v, mask, o);
    ASSERT_EQ(fused.shape(), q.shape()) << what;
    EXPECT_TRUE(close(fused, want, 1e-4, 1e-5)) << "fused " << what;
    EXPECT_TRUE(close(reference::scaled_dot_product_attention(q, k, v, mask, o), want, 1e-4, 1e-5))
        << "composed " << what;
    // Non-contiguous q/k/v (the (B, T, H, Dh) -> transpose layout models use).
    Tensor qt = q.transpose(1, 2).contiguous().transpose(1, 2),
           kt = k.transpose(1, 2).contiguous().transpose(1, 2);
    EXPECT_TRUE(close(scaled_dot_product_attention(qt, kt, v, mask, o), want, 1e-4, 1e-5))
        << "strided " << what;
    // With gradients on (the fused forward that also keeps the log-sum-exp); same values.
    Tensor qg = q.clone();
    qg.requires_grad_();
    EXPECT_TRUE(close(scaled_dot_product_attention(qg, k, v, mask, o), want, 1e-4, 1e-5))
        << "grad path " << what;
  }
  // Explicit scale, bf16, and f64.
  Tensor q = rand_t({1, 2, 9, 16}, 106), k = rand_t({1, 2, 12, 16}, 107),
         v = rand_t({1, 2, 12, 16}, 108);
  AttentionOptions o;
  o.scale = 0.3;
  EXPECT_TRUE(close(scaled_dot_product_attention(q, k, v, Tensor(), o),
                    attn_ref(q, k, v, Tensor(), false, 0, 0.3, 3), 1e-4, 1e-5));
  Tensor qh = q.to(DType::BF16), kh = k.to(DType::BF16), vh = v.to(DType::BF16);
  Tensor oh = scaled_dot_product_attention(qh, kh, vh);
  EXPECT_EQ(oh.dtype(), DType::BF16);
  EXPECT_TRUE(close(oh, attn_ref(qh, kh, vh, Tensor(), false, 0, 0.25, 3), 2e-2, 1e-2));
  Tensor qd = q.to(DType::F64), kd = k.to(DType::F64), vd = v.to(DType::F64);
  EXPECT_TRUE(close(scaled_dot_product_attention(qd, kd, vd),
                    attn_ref(qd, kd, vd, Tensor(), false, 0, 0.25, 3), 1e-11, 1e-12));
}

// With gradients the engine runs the fused forward (keeping each row's log-sum-exp) and the fused
// backward, which recomputes the probabilities block by block. Its q / k / v gradients must equal
// the composed reference's (autograd through matmul / where / softmax) on every geometry: block
// edges (64 queries, 128 keys), GQA / MQA, causal, windows, cache offsets, additive, bool and
// padding masks, strided inputs; f32 and f64, bf16 in and out; the same bits at any thread count.
TEST(Attention, FusedBackwardMatchesComposed) {
  std::vector<AttnCase> cases(std::begin(kAttnCases), std::end(kAttnCases));
  cases.push_back({1, 4, 2, 150, 150, 16, true, 0, {}, 1});   // several query and key blocks
  cases.push_back({2, 3, 1, 70, 260, 24, true, 100, {}, 1});  // window across key blocks, MQA
  auto grads = [](bool fused, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                  const AttentionOptions& o, const Tensor& w) {
    Tensor qg = q.clone(), kg = k.clone(), vg = v.clone();
    for (Tensor* t : {&qg, &kg, &vg}) t->requires_grad_();
    Tensor out = fused ? scaled_dot_product_attention(qg, kg, vg, mask, o)
                       : reference::scaled_dot_product_attention(qg, kg, vg, mask, o);
    sum(out * w.to(out.dtype())).backward();
    return std::vector<Tensor>{out.detach(), qg.grad(), kg.grad(), vg.grad()};
  };
  const char* names[] = {"out", "dq", "dk", "dv"};
  for (const auto& c : cases) {
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor q = rand_t({c.B, c.H, c.Tq, c.Dh}, 201, dt),
             k = rand_t({c.B, c.Hkv, c.Tk, c.Dh}, 202, dt),
             v = rand_t({c.B, c.Hkv, c.Tk, c.Dh}, 203, dt);
      Tensor w = rand_t({c.B, c.H, c.Tq, c.Dh}, 204, dt);
      Tensor mask = attn_mask(c, 205, dt);
      AttentionOptions o = attn_options(c);
      std::string what = std::string(dtype_name(dt)) + " " + attn_label(c);
      auto f = grads(true, q, k, v, mask, o, w), r = grads(false, q, k, v, mask, o, w);
      const double rtol = dt == DType::F64 ? 1e-10 : 2e-4, atol = dt == DType::F64 ? 1e-11 : 2e-5;
      for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(f[i].shape(), r[i].shape()) << names[i] << " " << what;
        EXPECT_TRUE(close(f[i], values(r[i]), rtol, atol)) << names[i] << " " << what;
      }
    }
  }
  // Strided q / k (the (B, T, H, Dh) -> transpose layout of the models) and bf16 in and out.
  Tensor q = rand_t({2, 4, 70, 16}, 211), k = rand_t({2, 2, 70, 16}, 212),
         v = rand_t({2, 2, 70, 16}, 213), w = rand_t({2, 4, 70, 16}, 214);
  AttentionOptions o;
  o.causal = true;
  auto r = grads(false, q, k, v, Tensor(), o, w);
  auto fs = grads(true, q.transpose(1, 2).contiguous().transpose(1, 2),
                  k.transpose(1, 2).contiguous().transpose(1, 2), v, Tensor(), o, w);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(close(fs[i], values(r[i]), 2e-4, 2e-5)) << names[i];
  auto fb = grads(true, q.to(DType::BF16), k.to(DType::BF16), v.to(DType::BF16), Tensor(), o, w);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(fb[i].dtype(), DType::BF16) << names[i];
    EXPECT_TRUE(close(fb[i], values(r[i]), 5e-2, 2e-2)) << "bf16 " << names[i];
  }
  // Thread-count independence: each head's dK / dV is summed over its group in head order.
  int threads = num_threads();
  std::vector<std::vector<Tensor>> runs;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    runs.push_back(grads(true, q, k, v, Tensor(), o, w));
  }
  set_num_threads(threads);
  for (size_t t = 1; t < runs.size(); ++t)
    for (int i = 0; i < 4; ++i)
      EXPECT_TRUE(close(runs[t][i], values(runs[0][i]), 0, 0)) << names[i] << " threads";
}

TEST(Attention, KeepMaskReference) {
  Tensor m = reference::attention_keep_mask(3, 5, true, 2, 2);  // queries at 2, 3, 4
  EXPECT_TRUE(close(m, {0, 1, 1, 0, 0, /**/ 0, 0, 1, 1, 0, /**/ 0, 0, 0, 1, 1}, 0, 0));
}

TEST(Attention, FullyMaskedRowIsNaNLikeTorch) {
  // A query that sees no key: torch's composed softmax gives NaN; the fused path must not crash
  // and must agree with the composed reference.
  Tensor q = rand_t({1, 1, 2, 4}, 1), k = rand_t({1, 1, 3, 4}, 2), v = rand_t({1, 1, 3, 4}, 3);
  Tensor mask = make({-INFINITY, -INFINITY, -INFINITY, 0, 0, 0}, {2, 3});
  Tensor f = scaled_dot_product_attention(q, k, v, mask);
  Tensor r = reference::scaled_dot_product_attention(q, k, v, mask, {});
  EXPECT_TRUE(close(f.narrow(2, 1, 1), values(r.narrow(2, 1, 1)), 1e-5, 1e-6));
  Vec fr = values(f.narrow(2, 0, 1)), rr = values(r.narrow(2, 0, 1));
  EXPECT_TRUE(close(fr, rr, 0, 0)) << "fully-masked row: fused and composed disagree";
  // Backward: that row contributes nothing (the composed graph spreads its NaN over every
  // gradient); the other row's gradients are those of the problem without it.
  for (DType dt : {DType::F32, DType::F64}) {
    auto copy = [dt](const Tensor& t) { return t.to(dt).detach().clone(); };
    Tensor qg = copy(q), kg = copy(k), vg = copy(v);
    for (Tensor* t : {&qg, &kg, &vg}) t->requires_grad_();
    sum(scaled_dot_product_attention(qg, kg, vg, mask.to(dt)).narrow(2, 1, 1)).backward();
    Tensor q1 = copy(q.narrow(2, 1, 1)), k1 = copy(k), v1 = copy(v);
    for (Tensor* t : {&q1, &k1, &v1}) t->requires_grad_();
    sum(reference::scaled_dot_product_attention(q1, k1, v1, Tensor(), {})).backward();
    EXPECT_TRUE(close(qg.grad().narrow(2, 0, 1), Vec(4, 0.0), 0, 0)) << dtype_name(dt);
    EXPECT_TRUE(close(qg.grad().narrow(2, 1, 1), values(q1.grad()), 1e-5, 1e-6)) << dtype_name(dt);
    EXPECT_TRUE(close(kg.grad(), values(k1.grad()), 1e-5, 1e-6)) << dtype_name(dt);
    EXPECT_TRUE(close(vg.grad(), values(v1.grad()), 1e-5, 1e-6)) << dtype_name(dt);
  }
}

TEST(Attention, MoreQueriesThanKeysAndMixedMaskDtypes) {
  // Tq > Tk with the default offset Tk - Tq < 0: the first queries see no key (torch: NaN rows).
  Tensor q = rand_t({1, 2, 5, 8}, 11), k = rand_t({1, 2, 3, 8}, 12), v = rand_t({1, 2, 3, 8}, 13);
  AttentionOptions o;
  o.causal = true;
  Tensor f = scaled_dot_product_attention(q, k, v, Tensor(), o);
  Tensor r = reference::scaled_dot_product_attention(q, k, v, Tensor(), o);
  EXPECT_TRUE(close(f, values(r), 1e-5, 1e-6)) << "Tq > Tk causal";
  Vec want = attn_ref(q, k, v, Tensor(), true, 0, 1 / std::sqrt(8.0), -2);
  EXPECT_TRUE(close(f, want, 1e-4, 1e-5));
  // Additive mask in another dtype than q (f64, bf16), broadcast over heads and queries.
  Tensor q2 = rand_t({2, 2, 4, 8}, 14), k2 = rand_t({2, 2, 6, 8}, 15),
         v2 = rand_t({2, 2, 6, 8}, 16);
  for (DType md : {DType::F64, DType::BF16}) {
    Tensor m = rand_t({2, 1, 1, 6}, 17, md);
    Vec w2 = attn_ref(q2, k2, v2, m, false, 0, 1 / std::sqrt(8.0), 2);
    EXPECT_TRUE(close(scaled_dot_product_attention(q2, k2, v2, m), w2, 1e-4, 1e-5))
        << dtype_name(md);
    EXPECT_TRUE(close(reference::scaled_dot_product_attention(q2, k2, v2, m, {}), w2, 1e-4, 1e-5))
        << dtype_name(md);
  }
  // Window larger than the sequence and window 1 (only the diagonal).
  for (int64_t win : {1, 100}) {
    AttentionOptions ow;
    ow.causal = true;
    ow.window = win;
    Vec w3 = attn_ref(q2, k2, v2, Tensor(), true, win, 1 / std::sqrt(8.0), 2);
    EXPECT_TRUE(close(scaled_dot_product_attention(q2, k2, v2, Tensor(), ow), w3, 1e-4, 1e-5))
        << "window " << win;
  }
}
