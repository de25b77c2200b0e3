// CPU selective scan (Mamba: Gu & Dao 2023, "Linear-Time Sequence Modeling with Selective State
// Spaces", Algorithm 2 with the zero-order-hold discretisation HF's MambaMixer uses):
//   h_t[d, n] = exp(delta_t[d] A[d, n]) h_{t-1}[d, n] + delta_t[d] B_t[n] u_t[d]
//   y_t[d]    = sum_n C_t[n] h_t[d, n]
// Channels (b, d) are independent, so both passes parallelise over them; each walks its T tokens
// sequentially with the N states in registers / L1. The backward recomputes the states of one
// channel (T x N, no (B, T, Din, N) tensor is ever stored) and runs the recurrence in reverse:
//   dh_t   = C_t dy_t + exp(delta_{t+1} A) dh_{t+1}
//   dC_t  += dy_t h_t                         (summed over d)
//   dA    += dh_t h_{t-1} exp(delta_t A) delta_t
//   ddelta = sum_n dh_t (h_{t-1} exp(delta_t A) A + B_t u_t)
//   dB_t  += dh_t delta_t u_t                 (summed over d)
//   du_t   = sum_n dh_t delta_t B_t
//   dh_{-1} = exp(delta_0 A) dh_0
// Sums over d are accumulated per worker and merged once under a lock.
#include <cmath>
#include <mutex>
#include <vector>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/parallel.h"

namespace lazarus::cpu {

namespace {

// Channels per forward work item: the (T, block) slices of u/delta/y stay contiguous.
constexpr int64_t kBlock = 32;

template <class V>
void scan_forward(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                  const Tensor& Cm, const Tensor& h0, const Tensor& y, const Tensor& last) {
  const int64_t Bsz = u.size(0), T = u.size(1), Din = u.size(2), N = A.size(1);
  const V* pu = u.data<V>();
  const V* pd = delta.data<V>();
  const V* pA = A.data<V>();
  const V* pB = Bm.data<V>();
  const V* pC = Cm.data<V>();
  const V* ph0 = h0.defined() ? h0.data<V>() : nullptr;
  V* py = y.data<V>();
  V* plast = last.data<V>();
  const int64_t nblk = (Din + kBlock - 1) / kBlock;
  parallel_for(Bsz * nblk, 1, [&](int64_t i0, int64_t i1) {
    std::vector<V> h(kBlock * N), dA(N);
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t b = it / nblk, d0 = (it % nblk) * kBlock, d1 = std::min(Din, d0 + kBlock);
      for (int64_t d = d0; d < d1; ++d)
        for (int64_t n = 0; n < N; ++n)
          h[(d - d0) * N + n] = ph0 ? ph0[(b * Din + d) * N + n] : V(0);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t row = (b * T + t);
        const V* Bt = pB + row * N;
        const V* Ct = pC + row * N;
        for (int64_t d = d0; d < d1; ++d) {
          const V dt = pd[row * Din + d], x = pu[row * Din + d];
          const V* Ad = pA + d * N;
          V* hd = h.data() + (d - d0) * N;
          V acc = 0;
          for (int64_t n = 0; n < N; ++n) {
            hd[n] = std::exp(dt * Ad[n]) * hd[n] + dt * Bt[n] * x;
            acc += hd[n] * Ct[n];
          }
          py[row * Din + d] = acc;
        }
      }
      for (int64_t d = d0; d < d1; ++d)
        for (int64_t n = 0; n < N; ++n) plast[(b * Din + d) * N + n] = h[(d - d0) * N + n];
    }
  });
}

template <class V>
void scan_backward(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& Bm,
                   const Tensor& Cm, const Tensor& h0, const Tensor& dy, const Tensor& du,
                   const Tensor& ddelta, const Tensor& dA, const Tensor& dB, const Tensor& dC,
                   const Tensor& dh0) {
  const int64_t Bsz = u.size(0), T = u.size(1), Din = u.size(2), N = A.size(1);
  const V* pu = u.data<V>();
  const V* pd = delta.data<V>();
  const V* pA = A.data<V>();
  const V* pB = Bm.data<V>();
  const V* pC = Cm.data<V>();
  const V* ph0 = h0.defined() ? h0.data<V>() : nullptr;
  const V* pg = dy.data<V>();
  V* pdu = du.data<V>();
  V* pdd = ddelta.data<V>();
  V* pdA = dA.data<V>();
  V* pdB = dB.data<V>();
  V* pdC = dC.data<V>();
  V* pdh0 = dh0.data<V>();
  std::mutex merge;
  // Grain: enough channels per worker that the per-worker dB/dC buffers pay for themselves.
  parallel_for(Bsz * Din, std::max<int64_t>(1, Din / 4), [&](int64_t i0, int64_t i1) {
    std::vector<V> hs((T + 1) * N), dh(N), a(N);
    std::vector<V> lA(Din * N, V(0)), lB(Bsz * T * N, V(0)), lC(Bsz * T * N, V(0));
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t b = it / Din, d = it % Din;
      const V* Ad = pA + d * N;
      // Recompute this channel's states: hs[t + 1] = h_t, hs[0] = h_{-1}.
      for (int64_t n = 0; n < N; ++n) hs[n] = ph0 ? ph0[(b * Din + d) * N + n] : V(0);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t row = b * T + t;
        const V dt = pd[row * Din + d], x = pu[row * Din + d];
        const V* Bt = pB + row * N;
        const V* hp = hs.data() + t * N;
        V* hn = hs.data() + (t + 1) * N;
        for (int64_t n = 0; n < N; ++n) hn[n] = std::exp(dt * Ad[n]) * hp[n] + dt * Bt[n] * x;
      }
      std::fill(dh.begin(), dh.end(), V(0));
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t row = b * T + t;
        const V g = pg[row * Din + d], dt = pd[row * Din + d], x = pu[row * Din + d];
        const V* Bt = pB + row * N;
        const V* Ct = pC + row * N;
        const V* ht = hs.data() + (t + 1) * N;
        const V* hp = hs.data() + t * N;
        V* lBt = lB.data() + row * N;
        V* lCt = lC.data() + row * N;
        V* lAd = lA.data() + d * N;
        V gdelta = 0, gu = 0;
        for (int64_t n = 0; n < N; ++n) {
          dh[n] += g * Ct[n];
          lCt[n] += g * ht[n];
          const V an = std::exp(dt * Ad[n]);
          const V dan = dh[n] * hp[n] * an;  // d(loss)/d(dt * A[n]) through the decay
          gdelta += dan * Ad[n] + dh[n] * Bt[n] * x;
          lAd[n] += dan * dt;
          lBt[n] += dh[n] * dt * x;
          gu += dh[n] * dt * Bt[n];
          dh[n] *= an;
        }
        pdd[row * Din + d] = gdelta;
        pdu[row * Din + d] = gu;
      }
      for (int64_t n = 0; n < N; ++n) pdh0[(b * Din + d) * N + n] = dh[n];
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t i = 0; i < Din * N; ++i) pdA[i] += lA[i];
    for (int64_t i = 0; i < Bsz * T * N; ++i) {
      pdB[i] += lB[i];
      pdC[i] += lC[i];
    }
  });
}

}  // namespace

void CpuBackend::selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                const Tensor& Bm, const Tensor& Cm, const Tensor& h0,
                                const Tensor& y, const Tensor& last_state) {
  dispatch_float(u.dtype(), "selective_scan", [&](auto tag) {
    scan_forward<decltype(tag)>(u, delta, A, Bm, Cm, h0, y, last_state);
  });
}

void CpuBackend::selective_scan_backward(const Tensor& u, const Tensor& delta, const Tensor& A,
                                         const Tensor& Bm, const Tensor& Cm, const Tensor& h0,
                                         const Tensor& dy, const Tensor& du, const Tensor& ddelta,
                                         const Tensor& dA, const Tensor& dB, const Tensor& dC,
                                         const Tensor& dh0) {
  dispatch_float(u.dtype(), "selective_scan_backward", [&](auto tag) {
    scan_backward<decltype(tag)>(u, delta, A, Bm, Cm, h0, dy, du, ddelta, dA, dB, dC, dh0);
  });
}

}  // namespace lazarus::cpu
