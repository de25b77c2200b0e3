// The Backend interface: one virtual call per primitive. The op layer (ops.cpp) validates,
// broadcasts, promotes dtypes and allocates outputs; a backend only computes. backend/cpu/
// implements it; a CUDA backend will be a sibling needing no change above this interface.
//
// Contract for every call unless it says otherwise: outputs are freshly allocated, contiguous and
// of the right shape; floating inputs arrive in their compute dtype (F32 or F64; the op layer
// converts bf16/f16); inputs may be arbitrary strided views (stride 0 for broadcast dims).
#pragma once

#include <cstdint>
#include <vector>

#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus {

enum class UnaryOp : uint8_t {
  Neg,
  Abs,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Tanh,
  Sigmoid,
  Relu,
  Gelu,
  GeluTanh,
  Silu,
  Softplus,
  Square,
  Erf,
  Sign,
  LogicalNot
};
enum class BinaryOp : uint8_t {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  LogicalAnd,
  LogicalOr
};
enum class ReduceOp : uint8_t { Sum, Max, Min, ArgMax, ArgMin };
enum class RandomKind : uint8_t { Uniform, Normal, IntUniform };

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);
inline bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  /// dst = src converted to dst's dtype; both may be strided; shapes equal. A quantized src or dst
/// (dequantize / quantize) must be contiguous.
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  virtual void fill(const Tensor& dst, double value) = 0;
  /// dst[i] = start + i * step (contiguous dst).
  virtual void arange(const Tensor& dst, double start, double step) = 0;
  /// Counter-based random fill: element i uses counter `offset + i` under `seed`. Uniform: [a, b);
  /// Normal: mean a, std b; IntUniform: int_low + [0, int_range) exactly (any int64 bounds).
  virtual void random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset, double a,
                      double b, int64_t int_low, uint64_t int_range) = 0;

  /// out = op(x); same shape; out dtype = x dtype (Bool for LogicalNot).
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out) = 0;
  /// out = op(a, b); a and b already expanded to out's shape and of one dtype; out dtype is that
  /// dtype, or Bool for comparisons and logical ops.
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  /// out = cond ? a : b; all expanded to out's shape; cond Bool.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  /// Reduces x over `dims` (sorted, unique, non-negative) into out (keepdim shape). ArgMax/ArgMin
  /// take exactly one dim and write I64.
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                      const Tensor& out) = 0;
  virtual void cumsum(const Tensor& x, int64_t dim, const Tensor& out) = 0;
  /// Softmax (or log-softmax) over the last dim of contiguous x.
  virtual void softmax(const Tensor& x, bool log, const Tensor& out) = 0;
  /// Batched matmul: a (Bt, M, K), b (Bt, K, N), strided (batch stride may be 0); out (Bt, M, N).
  /// The one exception to the compute-dtype rule: b may be BF16 / F16 (a half weight used in
  /// place) with a and out F32.
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  /// out (M, N) f32 = x (M, K) f32 times w^T, with w (N, K) block-quantized; x, w, out contiguous.
  virtual void linear_quantized(const Tensor& x, const Tensor& w, const Tensor& out) = 0;

  /// out = x.index_select(dim, index); index 1-D I64 already range-checked.
  virtual void index_select(const Tensor& x, int64_t dim, const Tensor& index,
                            const Tensor& out) = 0;
  /// In place: dst.index_add_(dim, index, src).
  virtual void index_add(const Tensor& dst, int64_t dim, const Tensor& index,
                         const Tensor& src) = 0;
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  /// In place: dst.scatter_add_(dim, index, src).
  virtual void scatter_add(const Tensor& dst, int64_t dim, const Tensor& index,
                           const Tensor& src) = 0;
  /// Keeps the lower (upper) triangle of the last two dims relative to diagonal k; zero elsewhere.
  virtual void tri(const Tensor& x, int64_t k, bool upper, const Tensor& out) = 0;

  /// Fused RMSNorm over the last dim of contiguous x; weight (D) may be undefined.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& out) = 0;
  /// Fused LayerNorm over the last dim; weight/bias may be undefined.
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                          const Tensor& out) = 0;
  /// Rotary embedding on contiguous x (B, H, T, Dh); `inverse` rotates by -angle (the backward).
  virtual void rope(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t offset,
                    bool interleaved, bool inverse, const Tensor& out) = 0;
  /// Attention forward without the Tq x Tk matrix. q (B, H, Tq, Dh), k/v (B, Hkv, Tk, Dh), mask
  /// additive expanded to (B, H, Tq, Tk) or undefined. `scale` and `query_offset` resolved.
  /// When `lse` (B, H, Tq) is defined, each query row's log-sum-exp of its scores is written there
  /// (what attention_backward needs).
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                         bool causal, int64_t window, double scale, int64_t query_offset,
                         const Tensor& out, const Tensor& lse) = 0;
  /// Attention backward without the Tq x Tk matrix: from the forward's inputs (q, k, v contiguous),
  /// its output `out` and `lse`, and the output gradient `dout` (contiguous), accumulates into
  /// zeroed contiguous dq, dk, dv (shaped as q, k, v).
  virtual void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& mask, bool causal, int64_t window, double scale,
                                  int64_t query_offset, const Tensor& out, const Tensor& lse,
                                  const Tensor& dout, const Tensor& dq, const Tensor& dk,
                                  const Tensor& dv) = 0;
  /// Selective scan forward (ops.h selective_scan). Contiguous u, delta (B, T, Din), A (Din, N),
  /// Bm, Cm (B, T, N), h0 (B, Din, N) or undefined (zeros); writes y (B, T, Din) and
  /// last_state (B, Din, N).
  virtual void selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                              const Tensor& Bm, const Tensor& Cm, const Tensor& h0, const Tensor& y,
                              const Tensor& last_state) = 0;
  /// Its backward for upstream dy (B, T, Din) (the last state gets no gradient): writes du,
  /// ddelta (B, T, Din), dA (Din, N), dB, dC (B, T, N) and dh0 (B, Din, N), all zero-initialised
  /// by the caller.
  virtual void selective_scan_backward(const Tensor& u, const Tensor& delta, const Tensor& A,
                                       const Tensor& Bm, const Tensor& Cm, const Tensor& h0,
                                       const Tensor& dy, const Tensor& du, const Tensor& ddelta,
                                       const Tensor& dA, const Tensor& dB, const Tensor& dC,
                                       const Tensor& dh0) = 0;
  /// recurrent_sequence forward (ops.h). Contiguous gx (B, T, G), w_hh (G, H), b_hh (G) or
  /// undefined, h0 / c0 (B, H) or undefined (zeros), mask (B, T) or undefined (ones), B, T, H > 0.
  /// Writes y (B, T, H) and what the backward needs: gates (B, T, G) the gate activations (LSTM
  /// σ(i), σ(f), tanh(g), σ(o); GRU σ(r), σ(z), n) and aux (B, T, H) (LSTM: the cell states c_t;
  /// GRU: h_{t-1} W_hn^T + b_hn).
  virtual void recurrent_sequence(RecurrentCell cell, const Tensor& gx, const Tensor& w_hh,
                                  const Tensor& b_hh, const Tensor& h0, const Tensor& c0,
                                  const Tensor& mask, const Tensor& y, const Tensor& gates,
                                  const Tensor& aux) = 0;
  /// Its backward (BPTT) for upstream dy (B, T, H): writes dgx (B, T, G), dw_hh (G, H), db_hh (G)
  /// (undefined when there is no bias), dh0 and dc0 (B, H; dc0 undefined for GRU).
  virtual void recurrent_sequence_backward(RecurrentCell cell, const Tensor& w_hh, const Tensor& h0,
                                           const Tensor& c0, const Tensor& mask, const Tensor& y,
                                           const Tensor& gates, const Tensor& aux, const Tensor& dy,
                                           const Tensor& dgx, const Tensor& dw_hh,
                                           const Tensor& db_hh, const Tensor& dh0,
                                           const Tensor& dc0) = 0;
  /// One AdamW update in place (ops.h adamw_update_): contiguous param, grad, exp_avg and
  /// exp_avg_sq of one shape and one dtype (f32 or f64).
  virtual void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                            const Tensor& exp_avg_sq, const AdamWStep& step) = 0;
  /// Cross-entropy of each row of contiguous logits (N, C), f32 or f64, against targets (N, i64,
  /// each in [0, C) or ignore_index): writes loss (N) = logsumexp - (1 - s) x[t] - s mean(x). With
  /// grad defined ((N, C), may be logits itself) also writes grad_scale * d loss / d logits; rows
  /// with ignored targets get loss 0 and gradient 0.
  virtual void cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                                  double label_smoothing, const Tensor& loss, const Tensor& grad,
                                  double grad_scale) = 0;
  /// Sum of squares of a contiguous floating tensor, accumulated in f64 in a fixed order (the
  /// same result for any thread count).
  virtual double sum_squares(const Tensor& x) = 0;
};

/// The backend that owns a device's memory and kernels.
Backend& backend_for(Device device);

/// Threads used by the CPU backend and the BLAS it calls (one pool: no oversubscription).
/// Defaults to LAZARUS_NUM_THREADS, else the number of cores.
int num_threads();
void set_num_threads(int n);

}  // namespace lazarus
