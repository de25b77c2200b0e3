// Attention forward without the Tq x Tk matrix: queries in blocks, keys streamed in blocks with an
// online softmax (running max m and normaliser l per query row), as in FlashAttention (Dao et al.
// 2022, Algorithm 1). Block products run on the kernel table's register-blocked tile GEMM: at
// 64 x 128 x 64 a oneDNN sgemm call costs ~17 us (~60 GFLOP/s a core), mostly fixed overhead.
#include <algorithm>
#include <cmath>
#include <vector>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/backend/cpu/parallel.h"

namespace lazarus::cpu {

namespace {

struct Geometry {
  int64_t B, H, Hkv, Tq, Tk, Dh, Dv, group;
  bool causal;
  int64_t window, qoff;
  double scale;
  const float* mask = nullptr;
  int64_t ms[4] = {0, 0, 0, 0};
  // Batch and head strides of k and v (their rows are contiguous): a KV cache's view of its
  // preallocated buffer is read in place, not copied every step.
  int64_t kbs = 0, khs = 0, vbs = 0, vhs = 0;
};

// Key range [lo, hi) a query at absolute position p may see.
inline void key_range(const Geometry& g, int64_t p, int64_t& lo, int64_t& hi) {
  lo = 0;
  hi = g.Tk;
  if (g.causal) hi = std::min<int64_t>(hi, std::max<int64_t>(p + 1, 0));
  if (g.window > 0) lo = std::max<int64_t>(lo, p - g.window + 1);
  if (hi < lo) hi = lo;
}

// One query row (decode): scores by dot products, P V by axpy; the row form of the block below.
void attend_row_f32(const Geometry& g, const float* q, const float* k, const float* v, float* o,
                    int64_t b, int64_t h, int64_t i) {
  constexpr int64_t kBk = 256;
  const KernelTable& kt = kernels();
  int64_t hk = h / g.group;
  const float* Q = q + ((b * g.H + h) * g.Tq + i) * g.Dh;
  const float* K = k + b * g.kbs + hk * g.khs;
  const float* V = v + b * g.vbs + hk * g.vhs;
  float* O = o + ((b * g.H + h) * g.Tq + i) * g.Dv;
  float S[kBk];
  float m = -INFINITY, l = 0.0f;
  for (int64_t d = 0; d < g.Dv; ++d) O[d] = 0.0f;
  int64_t lo, hi;
  key_range(g, g.qoff + i, lo, hi);
  const float* mrow = g.mask ? g.mask + b * g.ms[0] + h * g.ms[1] + i * g.ms[2] : nullptr;
  float sc = float(g.scale);
  for (int64_t j0 = lo; j0 < hi; j0 += kBk) {
    int64_t bk = std::min(kBk, hi - j0);
    float mx = -INFINITY;
    for (int64_t j = 0; j < bk; ++j) {
      float val = kt.dot_f32(Q, K + (j0 + j) * g.Dh, g.Dh) * sc;
      if (mrow) val += mrow[(j0 + j) * g.ms[3]];
      S[j] = val;
      mx = val > mx ? val : mx;
    }
    float mnew = std::max(m, mx);
    if (mnew == -INFINITY) continue;  // every key so far masked: nothing to add
    float alpha = m == -INFINITY ? 0.0f : std::exp(m - mnew);
    l = l * alpha + kt.exp_shift_sum_f32(S, bk, mnew);
    m = mnew;
    if (alpha != 1.0f) kt.scale_f32(O, alpha, g.Dv);
    for (int64_t j = 0; j < bk; ++j) {
      if (S[j] != 0.0f) kt.scale_add_f32(O, 1.0f, V + (j0 + j) * g.Dv, S[j], g.Dv);
    }
  }
  kt.scale_f32(O, 1.0f / l,
               g.Dv);  // l == 0 (every key masked) gives NaN, as the composed reference
}

// Query rows [i0, i1) of head (b, h) against their visible keys, in key blocks of kBk. The scores
// are kept transposed, S^T = K_blk (Q_blk * scale)^T (keys x queries), so the per-query running
// max, exp and sums run along contiguous vectors of queries, Q is transposed once per block
// (not K once per block pair), and O += P V reads S^T as a column-major A.
void attend_block_f32(const Geometry& g, const float* q, const float* k, const float* v, float* o,
                      int64_t b, int64_t h, int64_t i0, int64_t i1) {
  constexpr int64_t kBk = 128;
  const KernelTable& kt = kernels();
  int64_t bq = i1 - i0;
  int64_t hk = h / g.group;
  const float* Q = q + ((b * g.H + h) * g.Tq + i0) * g.Dh;
  const float* K = k + b * g.kbs + hk * g.khs;
  const float* V = v + b * g.vbs + hk * g.vhs;
  float* O = o + ((b * g.H + h) * g.Tq + i0) * g.Dv;
  // Per-thread scratch, grown once and reused by every block this thread runs.
  thread_local std::vector<float> qt, st, m, l, alpha;
  thread_local std::vector<int64_t> lo, hi;
  qt.resize(size_t(g.Dh * bq));
  st.resize(size_t(kBk * bq));
  m.assign(size_t(bq), -INFINITY);
  l.assign(size_t(bq), 0.0f);
  alpha.resize(size_t(bq));
  lo.resize(size_t(bq));
  hi.resize(size_t(bq));
  float sc = float(g.scale);
  for (int64_t r = 0; r < bq; ++r) {
    for (int64_t d = 0; d < g.Dh; ++d) qt[size_t(d * bq + r)] = Q[r * g.Dh + d] * sc;
  }
  for (int64_t r = 0; r < bq * g.Dv; ++r) O[r] = 0.0f;
  // Keys any row of this block may see.
  int64_t lo_all = g.Tk, hi_all = 0;
  for (int64_t r = 0; r < bq; ++r) {
    key_range(g, g.qoff + i0 + r, lo[size_t(r)], hi[size_t(r)]);
    if (hi[size_t(r)] > lo[size_t(r)]) {
      lo_all = std::min(lo_all, lo[size_t(r)]);
      hi_all = std::max(hi_all, hi[size_t(r)]);
    }
  }
  for (int64_t j0 = lo_all; j0 < hi_all; j0 += kBk) {
    int64_t bk = std::min(kBk, hi_all - j0);
    float* S = st.data();  // S^T: bk x bq
    kt.gemm_tile_f32(bk, bq, g.Dh, K + j0 * g.Dh, g.Dh, 1, qt.data(), bq, S, bq, false);
    if (g.mask) {
      for (int64_t r = 0; r < bq; ++r) {
        const float* mrow = g.mask + b * g.ms[0] + h * g.ms[1] + (i0 + r) * g.ms[2];
        for (int64_t j = 0; j < bk; ++j) S[j * bq + r] += mrow[(j0 + j) * g.ms[3]];
      }
    }
    for (int64_t r = 0; r < bq; ++r) {  // keys outside a row's range (causal, window)
      int64_t a = std::clamp<int64_t>(lo[size_t(r)] - j0, 0, bk);
      int64_t e = std::clamp<int64_t>(hi[size_t(r)] - j0, a, bk);
      for (int64_t j = 0; j < a; ++j) S[j * bq + r] = -INFINITY;
      for (int64_t j = e; j < bk; ++j) S[j * bq + r] = -INFINITY;
    }
    kt.online_softmax_cols_f32(S, bk, bq, m.data(), l.data(), alpha.data());
    for (int64_t r = 0; r < bq; ++r) {
      if (alpha[size_t(r)] != 1.0f) kt.scale_f32(O + r * g.Dv, alpha[size_t(r)], g.Dv);
    }
    // O += P V with P(r, j) = S^T[j][r]
    kt.gemm_tile_f32(bq, g.Dv, bk, S, 1, bq, V + j0 * g.Dv, g.Dv, O, g.Dv, true);
  }
  for (int64_t r = 0; r < bq; ++r) {
    // l == 0 (every key masked) gives NaN, as the composed reference
    kt.scale_f32(O + r * g.Dv, 1.0f / l[size_t(r)], g.Dv);
  }
}

template <class T>
void attend_rows_generic(const Geometry& g, const T* q, const T* k, const T* v, const T* mask, T* o,
                         int64_t b, int64_t h, int64_t i) {
  int64_t hk = h / g.group;
  const T* Q = q + ((b * g.H + h) * g.Tq + i) * g.Dh;
  const T* K = k + b * g.kbs + hk * g.khs;
  const T* V = v + b * g.vbs + hk * g.vhs;
  T* O = o + ((b * g.H + h) * g.Tq + i) * g.Dv;
  int64_t lo, hi;
  key_range(g, g.qoff + i, lo, hi);
  const T* mrow = mask ? mask + b * g.ms[0] + h * g.ms[1] + i * g.ms[2] : nullptr;
  T mx = -INFINITY, l = 0;
  for (int64_t d = 0; d < g.Dv; ++d) O[d] = 0;
  for (int64_t j = lo; j < hi; ++j) {
    T s = 0;
    for (int64_t d = 0; d < g.Dh; ++d) s += Q[d] * K[j * g.Dh + d];
    s = s * T(g.scale) + (mrow ? mrow[j * g.ms[3]] : T(0));
    if (s == -INFINITY) continue;
    T mnew = std::max(mx, s);
    T alpha = mx == -INFINITY ? T(0) : std::exp(mx - mnew);
    T p = std::exp(s - mnew);
    l = l * alpha + p;
    for (int64_t d = 0; d < g.Dv; ++d) O[d] = O[d] * alpha + p * V[j * g.Dv + d];
    mx = mnew;
  }
  for (int64_t d = 0; d < g.Dv; ++d) O[d] /= l;
}

}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       bool causal, int64_t window, double scale, int64_t query_offset,
                       const Tensor& out) {
  Geometry g;
  g.B = q.size(0);
  g.H = q.size(1);
  g.Tq = q.size(2);
  g.Dh = q.size(3);
  g.Hkv = k.size(1);
  g.Tk = k.size(2);
  g.Dv = v.size(3);
  g.group = g.H / g.Hkv;
  g.causal = causal;
  g.window = window;
  g.qoff = query_offset;
  g.scale = scale;
  if (mask.defined()) {
    for (int i = 0; i < 4; ++i) g.ms[i] = mask.stride(i);
  }
  g.kbs = k.stride(0);
  g.khs = k.stride(1);
  g.vbs = v.stride(0);
  g.vhs = v.stride(1);
  if (q.dtype() == DType::F32) {
    g.mask = mask.defined() ? mask.data<float>() : nullptr;
    // Block sizes measured (1 thread, T = 512/2048, Dh = 64/128): 64 x 128 beat 128 x 128,
    // 64 x 64, 128 x 64 and 64 x 256; the 64 x 128 score tile (32 KiB) stays in L1/L2.
    constexpr int64_t kBq = 64;
    int64_t qblocks = (g.Tq + kBq - 1) / kBq;
    int64_t tasks = g.B * g.H * qblocks;
    const float* qp = q.data<float>();
    const float* kp = k.data<float>();
    const float* vp = v.data<float>();
    float* op = out.data<float>();
    // Threads only when each gets enough multiply-adds to pay for waking it (decode steps of a
    // small model run a few thousand per head).
    const int64_t task_macs = std::min(g.Tq, kBq) * g.Tk * (g.Dh + g.Dv);
    const int64_t grain =
        std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(task_macs, 1));
    parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t qb = t % qblocks, bh = t / qblocks;
        int64_t i0 = qb * kBq, i1 = std::min(g.Tq, i0 + kBq);
        if (i1 - i0 == 1) {
          attend_row_f32(g, qp, kp, vp, op, bh / g.H, bh % g.H, i0);
        } else {
          attend_block_f32(g, qp, kp, vp, op, bh / g.H, bh % g.H, i0, i1);
        }
      }
    });
    return;
  }
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    const T* mp = mask.defined() ? mask.data<T>() : nullptr;
    parallel_for(g.B * g.H * g.Tq, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t i = r % g.Tq, bh = r / g.Tq;
        attend_rows_generic<T>(g, q.data<T>(), k.data<T>(), v.data<T>(), mp, out.data<T>(),
                               bh / g.H, bh % g.H, i);
      }
    });
  });
}

}  // namespace lazarus::cpu
