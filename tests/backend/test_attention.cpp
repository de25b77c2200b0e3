// The CPU backend's blocked attention forward (query blocks, key blocks, online softmax, tile
// GEMMs) against a double-precision softmax(Q K^T * scale + mask) V, at sizes that cut blocks and
// vector tiles unevenly; causal, sliding window, additive mask with -inf, grouped KV heads, Tq < Tk
// (KV cache) and single-query decode. CTest runs it once per LAZARUS_ISA so every kernel table is
// used.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace {

using namespace lazarus;  // NOLINT

struct Case {
  int64_t B, H, Hkv, Tq, Tk, Dh;
  bool causal;
  int64_t window;
  bool mask;
  // > 0: K and V are views of the first Tk rows of (B, Hkv, Tk + spare, Dh) buffers whose other
  // rows are NaN, as a KV cache hands them over (read in place, not copied).
  int64_t spare = 0;
};

std::vector<float> data(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void run(const Case& c) {
  std::string what = "B=" + std::to_string(c.B) + " H=" + std::to_string(c.H) +
                     " Hkv=" + std::to_string(c.Hkv) + " Tq=" + std::to_string(c.Tq) +
                     " Tk=" + std::to_string(c.Tk) + " Dh=" + std::to_string(c.Dh) +
                     (c.causal ? " causal" : "") + " window=" + std::to_string(c.window) +
                     (c.mask ? " mask" : "") + " isa=" + cpu::kernels().isa;
  auto q = data(size_t(c.B * c.H * c.Tq * c.Dh), 1), k = data(size_t(c.B * c.Hkv * c.Tk * c.Dh), 2),
       v = data(size_t(c.B * c.Hkv * c.Tk * c.Dh), 3);
  // Additive mask (B, 1, Tq, Tk): small values plus some -inf (never a whole row).
  std::vector<float> mk = data(size_t(c.B * c.Tq * c.Tk), 4);
  for (size_t i = 0; i < mk.size(); ++i)
    mk[i] = (i % 7 == 3 && i % size_t(c.Tk) != 0) ? -INFINITY : 0.5f * mk[i];
  NoGradGuard ng;
  Tensor Q = from_vector(q, {c.B, c.H, c.Tq, c.Dh}), K = from_vector(k, {c.B, c.Hkv, c.Tk, c.Dh}),
         V = from_vector(v, {c.B, c.Hkv, c.Tk, c.Dh});
  if (c.spare > 0) {
    Tensor nan = full({c.B, c.Hkv, c.spare, c.Dh}, NAN);
    K = cat({K, nan}, 2).narrow(2, 0, c.Tk);
    V = cat({V, nan}, 2).narrow(2, 0, c.Tk);
    ASSERT_FALSE(K.is_contiguous()) << what;
  }
  Tensor M = c.mask ? from_vector(mk, {c.B, 1, c.Tq, c.Tk}) : Tensor();
  AttentionOptions o;
  o.causal = c.causal;
  o.window = c.window;
  std::vector<float> got = scaled_dot_product_attention(Q, K, V, M, o).to_vector<float>();
  ASSERT_EQ(got.size(), q.size()) << what;

  const double scale = 1.0 / std::sqrt(double(c.Dh));
  const int64_t off = c.Tk - c.Tq, group = c.H / c.Hkv;
  for (int64_t b = 0; b < c.B; ++b) {
    for (int64_t h = 0; h < c.H; ++h) {
      const float* Kh = k.data() + (b * c.Hkv + h / group) * c.Tk * c.Dh;
      const float* Vh = v.data() + (b * c.Hkv + h / group) * c.Tk * c.Dh;
      for (int64_t i = 0; i < c.Tq; ++i) {
        const float* qi = q.data() + ((b * c.H + h) * c.Tq + i) * c.Dh;
        std::vector<double> s(size_t(c.Tk), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < c.Tk; ++j) {
          int64_t p = off + i;
          if (c.causal && j > p) continue;
          if (c.window > 0 && j <= p - c.window) continue;
          double d = 0;
          for (int64_t e = 0; e < c.Dh; ++e) d += double(qi[e]) * Kh[j * c.Dh + e];
          d = d * scale + (c.mask ? double(mk[size_t((b * c.Tq + i) * c.Tk + j)]) : 0.0);
          s[size_t(j)] = d;
          mx = std::max(mx, d);
        }
        double l = 0;
        for (auto& x : s) l += (x = std::isinf(x) ? 0.0 : std::exp(x - mx));
        for (int64_t e = 0; e < c.Dh; ++e) {
          double o_ref = 0;
          for (int64_t j = 0; j < c.Tk; ++j) o_ref += s[size_t(j)] * Vh[j * c.Dh + e];
          o_ref /= l;
          double g = got[size_t(((b * c.H + h) * c.Tq + i) * c.Dh + e)];
          ASSERT_NEAR(g, o_ref, 2e-5 * (1 + std::fabs(o_ref)))
              << what << " at h=" << h << " i=" << i << " e=" << e;
        }
      }
    }
  }
}

TEST(BlockedAttention, MatchesDoubleReference) {
  for (int64_t T : {1, 17, 64, 65, 130, 257}) {
    for (int64_t Dh : {8, 64, 80}) {
      run({1, 2, 2, T, T, Dh, true, 0, false});
      run({1, 2, 2, T, T, Dh, false, 0, false});
    }
  }
  run({2, 4, 2, 200, 200, 64, true, 0, true});    // GQA + mask + causal
  run({1, 4, 1, 150, 150, 32, true, 40, false});  // MQA + sliding window
  run({1, 2, 2, 130, 130, 64, false, 0, true});   // mask only
  run({1, 2, 2, 70, 300, 64, true, 0, false});    // KV cache: queries are the last 70 positions
  run({1, 8, 2, 1, 300, 128, true, 0, false});    // decode: one query
  run({1, 2, 2, 1, 300, 64, false, 0, true});     // decode with a mask
  // K and V as a KV cache's views of its buffer: decode and a chunk of queries, batch 2.
  run({2, 8, 4, 1, 37, 32, true, 0, false, 219});
  run({2, 4, 2, 70, 150, 64, true, 0, true, 106});
}

}  // namespace
