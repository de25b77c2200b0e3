// CPU LSTM / GRU over a whole sequence (ops.h recurrent_sequence), PyTorch's cell math.
// Forward, per step t: gh = h_{t-1} W_hh^T (one (B, H) x (H, G) GEMM reading h_{t-1} in place
// from y), then one elementwise pass computing the gates, the new states and the padding blend
//   h_t = m_t h' + (1 - m_t) h_{t-1}   (c_t likewise)
// and saving the gate activations (and LSTM's c_t / GRU's W_hn h_{t-1} + b_hn) for backward.
// Backward (BPTT), per step from T-1 down, with dh = dy_t + (gradient carried from t+1):
//   dh' = m dh;  the carried gradient to h_{t-1} = (1 - m) dh + (gate path) + dgh_t W_hh
//   LSTM: dc' = m dc_t + dh' o (1 - tanh²c');  do = dh' tanh c';  di = dc' g;  dg = dc' i;
//         df = dc' c_{t-1};  dc_{t-1} = dc' f + (1 - m) dc_t;  pre-activation grads through σ /
//         tanh (dgx_t = dgh_t)
//   GRU:  dn = dh' (1 - z);  dz = dh' (h_{t-1} - n);  dh_{t-1} += dh' z;  dn~ = dn (1 - n²);
//         dgx_n = dn~;  dgh_n = dn~ r;  dr = dn~ (W_hn h_{t-1} + b_hn);  r and z pre-activation
//         grads go to both dgx and dgh
// Each step costs one (B, G) x (G, H) GEMM; dW_hh = Σ_t dgh_t^T h_{t-1} is one GEMM over all
// (B T) rows at the end and db_hh their column sum. Nothing is O(T²).
#include <omp.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "lazarus/backend/cpu/cpu_backend.h"
#include "lazarus/backend/cpu/cpu_common.h"
#include "lazarus/backend/cpu/gemm.h"

namespace lazarus::cpu {

namespace {

// C (M x N, row stride ldc) [+]= A (M x K) * B (K x N), strided A / B as gemm.h.
// `serial` skips gemm_f32's thread-count sync, so a OneThread scope holds.
template <class V>
void gemm(int64_t M, int64_t N, int64_t K, const V* A, int64_t a_rs, int64_t a_cs, const V* B,
          int64_t b_rs, int64_t b_cs, V* C, int64_t ldc, bool accumulate, bool serial) {
  if constexpr (std::is_same_v<V, float>)
    gemm_f32(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, serial);
  else
    gemm_f64(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate);
}

// Runs the per-step GEMMs (a few rows each) on the calling thread: oneDNN opens a parallel region
// per call, and T of them per sequence cost more in team wake-ups and spinning than they save
// (measured: half the LSTM step time in libgomp on loaded cores).
class OneThread {
 public:
  OneThread() : prev_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(prev_); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int prev_;
};

template <class V>
inline V sigm(V x) {
  return V(1) / (V(1) + std::exp(-x));
}

template <class V>
const V* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<V>() : nullptr;
}

template <class V>
void rnn_forward(RecurrentCell cell, const Tensor& gx_t, const Tensor& w_t, const Tensor& b_t,
                 const Tensor& h0_t, const Tensor& c0_t, const Tensor& mask_t, const Tensor& y_t,
                 const Tensor& gates_t, const Tensor& aux_t) {
  const bool lstm = cell == RecurrentCell::LSTM;
  const int64_t B = gx_t.size(0), T = gx_t.size(1), G = gx_t.size(2), H = w_t.size(1);
  const V* gx = gx_t.data<V>();
  const V* w = w_t.data<V>();
  const V* bias = ptr_or_null<V>(b_t);
  const V* mask = ptr_or_null<V>(mask_t);
  V* y = y_t.data<V>();
  V* gates = gates_t.data<V>();
  V* aux = aux_t.data<V>();
  std::vector<V> zero(B * H, V(0)), gh(B * G);
  const V* h0 = h0_t.defined() ? h0_t.data<V>() : zero.data();
  const V* c0 = c0_t.defined() ? c0_t.data<V>() : zero.data();
  OneThread one_thread;
  for (int64_t t = 0; t < T; ++t) {
    // h_{t-1} and c_{t-1} of row b start at prev + b * prev_rs.
    const V* hprev = t == 0 ? h0 : y + (t - 1) * H;
    const V* cprev = t == 0 ? c0 : aux + (t - 1) * H;
    const int64_t prev_rs = t == 0 ? H : T * H;
    gemm<V>(B, G, H, hprev, prev_rs, 1, w, 1, H, gh.data(), G, false, true);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = b * T + t;
      const V m = mask ? mask[row] : V(1);
      const V* xr = gx + row * G;
      const V* hr = gh.data() + b * G;
      const V* hp = hprev + b * prev_rs;
      V* gr = gates + row * G;
      V* yr = y + row * H;
      V* ar = aux + row * H;
      if (lstm) {
        const V* cp = cprev + b * prev_rs;
        for (int64_t k = 0; k < H; ++k) {
          V pre[4];
          for (int q = 0; q < 4; ++q)
            pre[q] = xr[q * H + k] + hr[q * H + k] + (bias ? bias[q * H + k] : V(0));
          const V i = sigm(pre[0]), f = sigm(pre[1]), g = std::tanh(pre[2]), o = sigm(pre[3]);
          gr[k] = i;
          gr[H + k] = f;
          gr[2 * H + k] = g;
          gr[3 * H + k] = o;
          const V cn = f * cp[k] + i * g;
          const V hn = o * std::tanh(cn);
          ar[k] = m * cn + (V(1) - m) * cp[k];
          yr[k] = m * hn + (V(1) - m) * hp[k];
        }
      } else {
        for (int64_t k = 0; k < H; ++k) {
          const V br = bias ? bias[k] : V(0), bz = bias ? bias[H + k] : V(0);
          const V bn = bias ? bias[2 * H + k] : V(0);
          const V r = sigm(xr[k] + hr[k] + br), z = sigm(xr[H + k] + hr[H + k] + bz);
          const V hn_ = hr[2 * H + k] + bn;
          const V n = std::tanh(xr[2 * H + k] + r * hn_);
          gr[k] = r;
          gr[H + k] = z;
          gr[2 * H + k] = n;
          ar[k] = hn_;
          const V hn = (V(1) - z) * n + z * hp[k];
          yr[k] = m * hn + (V(1) - m) * hp[k];
        }
      }
    }
  }
}

template <class V>
void rnn_backward(RecurrentCell cell, const Tensor& w_t, const Tensor& h0_t, const Tensor& c0_t,
                  const Tensor& mask_t, const Tensor& y_t, const Tensor& gates_t,
                  const Tensor& aux_t, const Tensor& dy_t, const Tensor& dgx_t, const Tensor& dw_t,
                  const Tensor& db_t, const Tensor& dh0_t, const Tensor& dc0_t) {
  const bool lstm = cell == RecurrentCell::LSTM;
  const int64_t B = y_t.size(0), T = y_t.size(1), H = y_t.size(2), G = gates_t.size(2);
  const V* w = w_t.data<V>();
  const V* mask = ptr_or_null<V>(mask_t);
  const V* y = y_t.data<V>();
  const V* gates = gates_t.data<V>();
  const V* aux = aux_t.data<V>();
  const V* dy = dy_t.data<V>();
  V* dgx = dgx_t.data<V>();
  std::vector<V> zero(B * H, V(0));
  const V* h0 = h0_t.defined() ? h0_t.data<V>() : zero.data();
  const V* c0 = c0_t.defined() ? c0_t.data<V>() : zero.data();
  // dgh_t = dgx_t for LSTM; GRU's differ in the n block (dgh_n = dgx_n r).
  std::vector<V> dgh_own(lstm ? 0 : B * T * G);
  V* dgh = lstm ? dgx : dgh_own.data();
  std::vector<V> dh(B * H, V(0)), dc(lstm ? B * H : 0, V(0));  // carried from step t + 1
  {
    OneThread one_thread;
    for (int64_t t = T - 1; t >= 0; --t) {
      const V* hprev = t == 0 ? h0 : y + (t - 1) * H;
      const V* cprev = t == 0 ? c0 : aux + (t - 1) * H;
      const int64_t prev_rs = t == 0 ? H : T * H;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = b * T + t;
        const V m = mask ? mask[row] : V(1);
        const V* gr = gates + row * G;
        const V* hp = hprev + b * prev_rs;
        const V* dyr = dy + row * H;
        V* dxr = dgx + row * G;
        V* dhr = dgh + row * G;
        V* dhb = dh.data() + b * H;
        if (lstm) {
          const V* cp = cprev + b * prev_rs;
          V* dcb = dc.data() + b * H;
          for (int64_t k = 0; k < H; ++k) {
            const V d = dyr[k] + dhb[k];
            const V dn = m * d;
            const V i = gr[k], f = gr[H + k], g = gr[2 * H + k], o = gr[3 * H + k];
            const V cn = f * cp[k] + i * g;
            const V tc = std::tanh(cn);
            const V dcn = m * dcb[k] + dn * o * (V(1) - tc * tc);
            dxr[k] = dcn * g * i * (V(1) - i);
            dxr[H + k] = dcn * cp[k] * f * (V(1) - f);
            dxr[2 * H + k] = dcn * i * (V(1) - g * g);
            dxr[3 * H + k] = dn * tc * o * (V(1) - o);
            dcb[k] = dcn * f + (V(1) - m) * dcb[k];
            dhb[k] = (V(1) - m) * d;
          }
        } else {
          const V* ar = aux + row * H;
          for (int64_t k = 0; k < H; ++k) {
            const V d = dyr[k] + dhb[k];
            const V dn = m * d;
            const V r = gr[k], z = gr[H + k], n = gr[2 * H + k];
            const V dnp = dn * (V(1) - z) * (V(1) - n * n);
            const V drp = dnp * ar[k] * r * (V(1) - r);
            const V dzp = dn * (hp[k] - n) * z * (V(1) - z);
            dxr[k] = dhr[k] = drp;
            dxr[H + k] = dhr[H + k] = dzp;
            dxr[2 * H + k] = dnp;
            dhr[2 * H + k] = dnp * r;
            dhb[k] = dn * z + (V(1) - m) * d;
          }
        }
      }
      // dh_{t-1} += dgh_t W_hh: (B, G) x (G, H).
      gemm<V>(B, H, G, dgh + t * G, T * G, 1, w, H, 1, dh.data(), H, true, true);
    }
  }
  V* dh0 = dh0_t.data<V>();
  for (int64_t e = 0; e < B * H; ++e) dh0[e] = dh[e];
  if (lstm) {
    V* dc0 = dc0_t.data<V>();
    for (int64_t e = 0; e < B * H; ++e) dc0[e] = dc[e];
  }
  // dW_hh = Σ_{b,t} dgh[b, t]^T h_{t-1}[b]: (G, B T) x (B T, H) over a shifted copy of y.
  std::vector<V> hp_all(B * T * H);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const V* src = t == 0 ? h0 + b * H : y + (b * T + t - 1) * H;
      std::copy(src, src + H, hp_all.data() + (b * T + t) * H);
    }
  gemm<V>(G, H, B * T, dgh, 1, G, hp_all.data(), H, 1, dw_t.data<V>(), H, false, false);
  if (db_t.defined()) {
    V* db = db_t.data<V>();
    for (int64_t g = 0; g < G; ++g) db[g] = V(0);
    for (int64_t r = 0; r < B * T; ++r)
      for (int64_t g = 0; g < G; ++g) db[g] += dgh[r * G + g];
  }
}

}  // namespace

void CpuBackend::recurrent_sequence(RecurrentCell cell, const Tensor& gx, const Tensor& w_hh,
                                    const Tensor& b_hh, const Tensor& h0, const Tensor& c0,
                                    const Tensor& mask, const Tensor& y, const Tensor& gates,
                                    const Tensor& aux) {
  dispatch_float(gx.dtype(), "recurrent_sequence", [&](auto tag) {
    rnn_forward<decltype(tag)>(cell, gx, w_hh, b_hh, h0, c0, mask, y, gates, aux);
  });
}

void CpuBackend::recurrent_sequence_backward(RecurrentCell cell, const Tensor& w_hh,
                                             const Tensor& h0, const Tensor& c0, const Tensor& mask,
                                             const Tensor& y, const Tensor& gates,
                                             const Tensor& aux, const Tensor& dy, const Tensor& dgx,
                                             const Tensor& dw_hh, const Tensor& db_hh,
                                             const Tensor& dh0, const Tensor& dc0) {
  dispatch_float(y.dtype(), "recurrent_sequence_backward", [&](auto tag) {
    rnn_backward<decltype(tag)>(cell, w_hh, h0, c0, mask, y, gates, aux, dy, dgx, dw_hh, db_hh, dh0,
                                dc0);
  });
}

}  // namespace lazarus::cpu
