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
                    float* lse, int64_t b, int64_t h, int64_t i) {
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
  if (lse) lse[(b * g.H + h) * g.Tq + i] = m + std::log(l);
}

// Query rows [i0, i1) of head (b, h) against their visible keys, in key blocks of kBk. The scores
// are kept transposed, S^T = K_blk (Q_blk * scale)^T (keys x queries), so the per-query running
// max, exp and sums run along contiguous vectors of queries, Q is transposed once per block
// (not K once per block pair), and O += P V reads S^T as a column-major A.
void attend_block_f32(const Geometry& g, const float* q, const float* k, const float* v, float* o,
                      float* lse, int64_t b, int64_t h, int64_t i0, int64_t i1) {
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
  if (lse) {
    float* L = lse + (b * g.H + h) * g.Tq + i0;
    for (int64_t r = 0; r < bq; ++r) L[r] = m[size_t(r)] + std::log(l[size_t(r)]);
  }
}

template <class T>
void attend_rows_generic(const Geometry& g, const T* q, const T* k, const T* v, const T* mask, T* o,
                         T* lse, int64_t b, int64_t h, int64_t i) {
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
  if (lse) lse[(b * g.H + h) * g.Tq + i] = mx + std::log(l);
}

// ---- backward ----
// FlashAttention-2's backward (Dao 2023, Algorithm 2) on this file's tiles: per head and query
// block the scores are recomputed key block by key block and turned into probabilities with the
// forward's saved log-sum-exp, so nothing of size Tq x Tk is stored. With dO the output
// gradient, delta_r = dO_r . O_r, P = exp(S - lse), dS = P * (dO V^T - delta) * scale:
// dV += P^T dO, dQ += dS K, dK += dS^T Q.

struct Grads {
  const float* o;
  const float* lse;
  const float* dout;
  float* dq;
  float* dk;  // per query head (b * dkbs + h * dkhs): summed over a kv group afterwards
  float* dv;
  int64_t dkbs, dkhs, dvbs, dvhs;
};

void attend_head_backward_f32(const Geometry& g, const float* q, const float* k, const float* v,
                              const Grads& a, int64_t b, int64_t h) {
  constexpr int64_t kBq = 64, kBk = 128;
  const KernelTable& kt = kernels();
  const int64_t hk = h / g.group, Tk = g.Tk, Dh = g.Dh, Dv = g.Dv;
  const float* K = k + b * g.kbs + hk * g.khs;
  const float* V = v + b * g.vbs + hk * g.vhs;
  float* dK = a.dk + b * a.dkbs + h * a.dkhs;
  float* dV = a.dv + b * a.dvbs + h * a.dvhs;
  thread_local std::vector<float> kT, vT, qs, s, dp, delta;
  thread_local std::vector<int64_t> lo, hi;
  // K^T and V^T once per head: the tile GEMM takes its B operand row-major.
  kT.resize(size_t(Dh * Tk));
  vT.resize(size_t(Dv * Tk));
  for (int64_t j = 0; j < Tk; ++j) {
    for (int64_t d = 0; d < Dh; ++d) kT[size_t(d * Tk + j)] = K[j * Dh + d];
    for (int64_t d = 0; d < Dv; ++d) vT[size_t(d * Tk + j)] = V[j * Dv + d];
  }
  const float sc = float(g.scale);
  for (int64_t i0 = 0; i0 < g.Tq; i0 += kBq) {
    const int64_t i1 = std::min(g.Tq, i0 + kBq), bq = i1 - i0;
    const int64_t row0 = (b * g.H + h) * g.Tq + i0;
    const float* Q = q + row0 * Dh;
    const float* O = a.o + row0 * Dv;
    const float* dO = a.dout + row0 * Dv;
    const float* L = a.lse + row0;
    float* dQ = a.dq + row0 * Dh;
    qs.resize(size_t(bq * Dh));
    delta.resize(size_t(bq));
    lo.resize(size_t(bq));
    hi.resize(size_t(bq));
    for (int64_t r = 0; r < bq * Dh; ++r) qs[size_t(r)] = Q[r] * sc;
    int64_t lo_all = Tk, hi_all = 0;
    for (int64_t r = 0; r < bq; ++r) {
      // A row that sees no key has a NaN output; its P is zeroed below and its delta too.
      delta[size_t(r)] = L[r] == -INFINITY ? 0.0f : kt.dot_f32(dO + r * Dv, O + r * Dv, Dv);
      key_range(g, g.qoff + i0 + r, lo[size_t(r)], hi[size_t(r)]);
      if (hi[size_t(r)] > lo[size_t(r)]) {
        lo_all = std::min(lo_all, lo[size_t(r)]);
        hi_all = std::max(hi_all, hi[size_t(r)]);
      }
    }
    s.resize(size_t(bq * kBk));
    dp.resize(size_t(bq * kBk));
    for (int64_t j0 = lo_all; j0 < hi_all; j0 += kBk) {
      const int64_t bk = std::min(kBk, hi_all - j0);
      float* S = s.data();  // bq x bk, row stride bk
      float* dS = dp.data();
      kt.gemm_tile_f32(bq, bk, Dh, qs.data(), Dh, 1, kT.data() + j0, Tk, S, bk, false);
      for (int64_t r = 0; r < bq; ++r) {
        float* Sr = S + r * bk;
        if (g.mask) {
          const float* mrow = g.mask + b * g.ms[0] + h * g.ms[1] + (i0 + r) * g.ms[2];
          for (int64_t j = 0; j < bk; ++j) Sr[j] += mrow[(j0 + j) * g.ms[3]];
        }
        const int64_t e0 = std::clamp<int64_t>(lo[size_t(r)] - j0, 0, bk);
        const int64_t e1 = std::clamp<int64_t>(hi[size_t(r)] - j0, e0, bk);
        for (int64_t j = 0; j < e0; ++j) Sr[j] = -INFINITY;
        for (int64_t j = e1; j < bk; ++j) Sr[j] = -INFINITY;
        if (L[r] == -INFINITY) {  // a row that sees no key (NaN output): contributes nothing
          for (int64_t j = 0; j < bk; ++j) Sr[j] = 0.0f;
        } else {
          kt.exp_shift_sum_f32(Sr, bk, L[r]);  // P = exp(S - lse)
        }
      }
      kt.gemm_tile_f32(bk, Dv, bq, S, 1, bk, dO, Dv, dV + j0 * Dv, Dv, true);      // dV += P^T dO
      kt.gemm_tile_f32(bq, bk, Dv, dO, Dv, 1, vT.data() + j0, Tk, dS, bk, false);  // dO V^T
      for (int64_t r = 0; r < bq; ++r) {
        const float* Pr = S + r * bk;
        float* d = dS + r * bk;
        const float dr = delta[size_t(r)];
        for (int64_t j = 0; j < bk; ++j) d[j] = Pr[j] * (d[j] - dr) * sc;
      }
      kt.gemm_tile_f32(bq, Dh, bk, dS, bk, 1, K + j0 * Dh, Dh, dQ, Dh, true);  // dQ += dS K
      kt.gemm_tile_f32(bk, Dh, bq, dS, 1, bk, Q, Dh, dK + j0 * Dh, Dh, true);  // dK += dS^T Q
    }
  }
}

template <class T>
void attend_head_backward_generic(const Geometry& g, const T* q, const T* k, const T* v,
                                  const T* mask, const T* o, const T* lse, const T* dout, T* dq,
                                  T* dk, T* dv, const int64_t (&ds)[4], int64_t b, int64_t h) {
  const int64_t hk = h / g.group, Dh = g.Dh, Dv = g.Dv;
  const T* K = k + b * g.kbs + hk * g.khs;
  const T* V = v + b * g.vbs + hk * g.vhs;
  T* dK = dk + b * ds[0] + h * ds[1];
  T* dV = dv + b * ds[2] + h * ds[3];
  for (int64_t i = 0; i < g.Tq; ++i) {
    const int64_t row = (b * g.H + h) * g.Tq + i;
    const T* Q = q + row * Dh;
    const T* O = o + row * Dv;
    const T* dO = dout + row * Dv;
    T* dQ = dq + row * Dh;
    const T* mrow = mask ? mask + b * g.ms[0] + h * g.ms[1] + i * g.ms[2] : nullptr;
    T delta = 0;
    for (int64_t d = 0; d < Dv; ++d) delta += dO[d] * O[d];
    int64_t lo, hi;
    key_range(g, g.qoff + i, lo, hi);
    if (lse[row] == -T(INFINITY)) continue;  // sees no key (NaN output): contributes nothing
    for (int64_t j = lo; j < hi; ++j) {
      T s = 0;
      for (int64_t d = 0; d < Dh; ++d) s += Q[d] * K[j * Dh + d];
      s = s * T(g.scale) + (mrow ? mrow[j * g.ms[3]] : T(0));
      const T p = std::exp(s - lse[row]);
      T dpj = 0;
      for (int64_t d = 0; d < Dv; ++d) {
        dV[j * Dv + d] += p * dO[d];
        dpj += dO[d] * V[j * Dv + d];
      }
      const T dsj = p * (dpj - delta) * T(g.scale);
      for (int64_t d = 0; d < Dh; ++d) {
        dQ[d] += dsj * K[j * Dh + d];
        dK[j * Dh + d] += dsj * Q[d];
      }
    }
  }
}

Geometry make_geometry(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       bool causal, int64_t window, double scale, int64_t query_offset) {
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
  return g;
}

}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       bool causal, int64_t window, double scale, int64_t query_offset,
                       const Tensor& out, const Tensor& lse) {
  Geometry g = make_geometry(q, k, v, mask, causal, window, scale, query_offset);
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
    float* lp = lse.defined() ? lse.data<float>() : nullptr;
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
          attend_row_f32(g, qp, kp, vp, op, lp, bh / g.H, bh % g.H, i0);
        } else {
          attend_block_f32(g, qp, kp, vp, op, lp, bh / g.H, bh % g.H, i0, i1);
        }
      }
    });
    return;
  }
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    const T* mp = mask.defined() ? mask.data<T>() : nullptr;
    T* lp = lse.defined() ? lse.data<T>() : nullptr;
    parallel_for(g.B * g.H * g.Tq, 4, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t i = r % g.Tq, bh = r / g.Tq;
        attend_rows_generic<T>(g, q.data<T>(), k.data<T>(), v.data<T>(), mp, out.data<T>(), lp,
                               bh / g.H, bh % g.H, i);
      }
    });
  });
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                        bool causal, int64_t window, double scale, int64_t query_offset,
                        const Tensor& out, const Tensor& lse, const Tensor& dout, const Tensor& dq,
                        const Tensor& dk, const Tensor& dv) {
  Geometry g = make_geometry(q, k, v, mask, causal, window, scale, query_offset);
  // Each task owns one query head's dK / dV. With kv groups > 1 those go to per-head scratch,
  // summed afterwards in head order, so the result does not depend on the thread count.
  Tensor dkh = dk, dvh = dv;
  if (g.group > 1) {
    dkh = zeros({g.B, g.H, g.Tk, g.Dh}, dk.dtype());
    dvh = zeros({g.B, g.H, g.Tk, g.Dv}, dv.dtype());
  }
  const int64_t ds[4] = {dkh.stride(0), dkh.stride(1), dvh.stride(0), dvh.stride(1)};
  const int64_t tasks = g.B * g.H;
  if (q.dtype() == DType::F32) {
    g.mask = mask.defined() ? mask.data<float>() : nullptr;
    Grads a{out.data<float>(),
            lse.data<float>(),
            dout.data<float>(),
            dq.data<float>(),
            dkh.data<float>(),
            dvh.data<float>(),
            ds[0],
            ds[1],
            ds[2],
            ds[3]};
    parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        attend_head_backward_f32(g, q.data<float>(), k.data<float>(), v.data<float>(), a, t / g.H,
                                 t % g.H);
      }
    });
  } else {
    dispatch_float(q.dtype(), "attention", [&](auto tag) {
      using T = decltype(tag);
      const T* mp = mask.defined() ? mask.data<T>() : nullptr;
      parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          attend_head_backward_generic<T>(
              g, q.data<T>(), k.data<T>(), v.data<T>(), mp, out.data<T>(), lse.data<T>(),
              dout.data<T>(), dq.data<T>(), dkh.data<T>(), dvh.data<T>(), ds, t / g.H, t % g.H);
        }
      });
    });
  }
  if (g.group == 1) return;
  dispatch_float(dk.dtype(), "attention", [&](auto tag) {
    using T = decltype(tag);
    parallel_for(g.B * g.Hkv, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / g.Hkv, hk = t % g.Hkv;
        T* dK = dk.data<T>() + b * dk.stride(0) + hk * dk.stride(1);
        T* dV = dv.data<T>() + b * dv.stride(0) + hk * dv.stride(1);
        for (int64_t gi = 0; gi < g.group; ++gi) {
          const int64_t h = hk * g.group + gi;
          const T* sk = dkh.data<T>() + b * ds[0] + h * ds[1];
          const T* sv = dvh.data<T>() + b * ds[2] + h * ds[3];
          for (int64_t n = 0; n < g.Tk * g.Dh; ++n) dK[n] += sk[n];
          for (int64_t n = 0; n < g.Tk * g.Dv; ++n) dV[n] += sv[n];
        }
      }
    });
  });
}

}  // namespace lazarus::cpu
