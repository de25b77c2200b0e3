// The public tensor ops. Every op here is differentiable unless it says otherwise, validates its
// inputs (ShapeError / DTypeError / IndexError naming the op and the values) and computes bf16/f16
// in f32, rounding the result once, as PyTorch's CPU kernels do.
#pragma once

#include <optional>
#include <vector>

#include "lazarus/tensor/tensor.h"

namespace lazarus {

class Generator;

// ---- elementwise unary ----
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
/// GELU; `approximate_tanh` selects the tanh form (PyTorch approximate='tanh').
Tensor gelu(const Tensor& x, bool approximate_tanh = false);
Tensor silu(const Tensor& x);
/// log(1 + exp(x)), linear above `threshold` as PyTorch (beta = 1).
Tensor softplus(const Tensor& x);
Tensor square(const Tensor& x);

// ---- elementwise binary (broadcasting, PyTorch type promotion) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// comparisons: Bool result, no gradient
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// Scalar forms keep the tensor's dtype (a Python number does not promote a bf16 tensor).
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);

/// cond ? a : b elementwise (broadcasting); cond is Bool. Differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// x with `value` where mask is true (mask Bool, broadcast to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
/// Lower / upper triangle of the last two dims (k = diagonal offset, as torch.tril/triu).
Tensor tril(const Tensor& x, int64_t k = 0);
Tensor triu(const Tensor& x, int64_t k = 0);

// ---- reductions (dims may be negative; empty dims = all dims) ----
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
/// Index of the max along `dim` (first on ties), I64, no gradient.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
/// Variance with `correction` (1 = unbiased, as torch.var's default).
Tensor var(const Tensor& x, std::vector<int64_t> dims = {}, int64_t correction = 1,
           bool keepdim = false);
Tensor logsumexp(const Tensor& x, std::vector<int64_t> dims, bool keepdim = false);
Tensor cumsum(const Tensor& x, int64_t dim);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- linear algebra ----
/// torch.matmul semantics: 1-D and N-D operands, batch dims broadcast. Floating dtypes.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x @ weight^T + bias; weight (out, in), bias (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- indexing ----
/// weight[ids]: ids integer of any shape, weight (V, D) -> (*ids.shape, D). Backward scatter-adds.
/// `padding_idx` (in [0, V)) is torch's: that row is read as usual but gets no gradient.
Tensor embedding(const Tensor& weight, const Tensor& ids,
                 std::optional<int64_t> padding_idx = std::nullopt);
/// x.index_select(dim, index) with a 1-D integer index.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1, etc.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// Out-of-place torch.scatter_add: x with src added at index along dim.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// ---- joining and splitting ----
Tensor cat(const std::vector<Tensor>& xs, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim = 0);
/// Chunks of `split_size` along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// ---- fused neural-network ops (each keeps a composed reference in ops_reference.h) ----
/// x * rsqrt(mean(x^2, -1) + eps) * weight. weight (D) or undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);
/// (x - mean) * rsqrt(var + eps) * weight + bias over the last dim (biased variance).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);

/// Rotary position embedding on x (B, H, T, Dh) with cos/sin tables (T_max, Dh/2) (the per-pair
/// frequencies); position of token t is `position_offset + t`. `interleaved` = false rotates the
/// halves (Llama/HF rotate_half), true rotates adjacent pairs (GPT-J / original RoFormer).
Tensor rope(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t position_offset,
            bool interleaved);
/// cos/sin tables (max_positions, dim/2) for inverse frequencies theta^(-2i/dim), f32.
std::pair<Tensor, Tensor> rope_tables(int64_t dim, int64_t max_positions, double theta);

struct AttentionOptions {
  bool causal = false;
  /// Sliding window: a query at position p sees keys in (p - window, p]; 0 = unlimited.
  int64_t window = 0;
  /// Softmax scale; nullopt = 1/sqrt(Dh).
  std::optional<double> scale;
  /// Position of the first query relative to the first key (for a KV cache: Tk - Tq). nullopt =
  /// Tk - Tq, i.e. queries are the last Tq positions.
  std::optional<int64_t> query_offset;
  /// Dropout on the attention probabilities (HF modeling_llama: after the softmax, before @ v),
  /// in [0, 1]; 0 = none. Each probability is kept with probability 1 - dropout and kept ones are
  /// scaled by 1 / (1 - dropout) (torch.nn.functional.dropout). Callers set it in training only.
  /// A positive dropout takes the composed path, which forms the (B, H, Tq, Tk) probabilities.
  double dropout = 0.0;
  /// The stream the keep mask is drawn from (see attention_dropout_keep); null = the default
  /// generator. Not owned.
  Generator* generator = nullptr;
  /// A fixed keep mask, Bool (B, H, Tq, Tk), used instead of drawing one (tests, replays).
  Tensor dropout_keep;
};
/// The keep mask scaled_dot_product_attention draws for `dropout` p: Bool `shape`
/// (B, H, Tq, Tk), an element kept when u >= p for u = rand(shape, F32, 0, 1, gen) (the same
/// draw as nn::Dropout); advances gen by the element count. Counter-based, so the mask does not
/// depend on the thread count. Throws ConfigError when p is outside [0, 1].
Tensor attention_dropout_keep(const Shape& shape, double p, Generator* gen = nullptr);
/// Scaled dot-product attention. q (B, H, Tq, Dh), k/v (B, Hkv, Tk, Dh) with H % Hkv == 0
/// (grouped-query: head h reads kv head h / (H / Hkv)); mask additive, broadcastable to
/// (B, H, Tq, Tk), or undefined. It never forms the Tq x Tk matrix (online softmax over key
/// blocks); with gradients the forward also keeps each query row's log-sum-exp and the backward
/// recomputes the probabilities block by block from it (FlashAttention-2), so a training step
/// holds O(T) per head, not O(T^2). A positive opts.dropout, or a mask that itself requires grad,
/// runs the composed reference (reference::scaled_dot_product_attention) instead.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask = Tensor(),
                                    const AttentionOptions& opts = {});

/// Result of selective_scan: the outputs and the state after the last token.
struct SelectiveScanOutput {
  Tensor y;           // (B, T, Din), differentiable
  Tensor last_state;  // (B, Din, N), not differentiable (detached)
};
/// Mamba's selective scan (Gu & Dao 2023, Algorithm 2, discretised as Hugging Face's MambaMixer):
/// for every batch row b, channel d and state n, over t = 0 .. T-1,
///   h_t[d, n] = exp(delta_t[d] * A[d, n]) * h_{t-1}[d, n] + delta_t[d] * B_t[n] * u_t[d]
///   y_t[d]    = sum_n C_t[n] * h_t[d, n]
/// with h_{-1} = initial_state (zeros when undefined). u, delta (B, T, Din); A (Din, N);
/// B, C (B, T, N); initial_state (B, Din, N). One fused kernel forward and one backward (no
/// per-token graph); y is differentiable in u, delta, A, B, C and initial_state. T may be 0.
/// Throws ShapeError / DTypeError naming the operand.
SelectiveScanOutput selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C,
                                   const Tensor& initial_state = Tensor());

/// The recurrent cells recurrent_sequence runs (PyTorch nn.LSTM / nn.GRU cell math).
enum class RecurrentCell : uint8_t { LSTM, GRU };
/// Result of recurrent_sequence: every step's hidden state and the states after the last step.
struct RecurrentSequenceOutput {
  Tensor y;  // (B, T, H), differentiable
  Tensor h;  // (B, H) the last hidden state, not differentiable (detached)
  Tensor c;  // (B, H) the last LSTM cell state (undefined for GRU), not differentiable
};
/// An LSTM or GRU over a whole sequence in one fused op, given the input projections of every
/// step (gates_x = x W_ih^T + b_ih, (B, T, G) with G = 4H for LSTM, 3H for GRU, PyTorch gate
/// order i, f, g, o / r, z, n). For t = 0 .. T-1, with gh = h_{t-1} W_hh^T + b_hh:
///   LSTM: i, f, g, o = σ, σ, tanh, σ of gates_x_t + gh;  c' = f c_{t-1} + i g;  h' = o tanh(c')
///   GRU:  r, z = σ(gates_x_t[r, z] + gh[r, z]);  n = tanh(gates_x_t[n] + r gh[n]);
///         h' = (1 - z) n + z h_{t-1}
/// then h_t = m_t h' + (1 - m_t) h_{t-1} (and c_t likewise) with m = mask (B, T) (1 keep, 0 pad:
/// a padded step leaves every state unchanged; undefined = all ones). h_{-1} = h0, c_{-1} = c0
/// (zeros when undefined; c0 is LSTM only). weight_hh (G, H); bias_hh (G) or undefined.
/// Forward: one (B, H) x (H, G) GEMM and one fused elementwise pass per step, saving the gate
/// activations; backward: BPTT in one op (one GEMM per step for dh, one GEMM over all steps for
/// dW_hh), O(T) time and memory. y is differentiable in gates_x, weight_hh, bias_hh, h0 and c0
/// (the mask is not). T may be 0. Throws ShapeError / DTypeError naming the operand.
RecurrentSequenceOutput recurrent_sequence(RecurrentCell cell, const Tensor& gates_x,
                                           const Tensor& weight_hh,
                                           const Tensor& bias_hh = Tensor(),
                                           const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                                           const Tensor& mask = Tensor());

// ---- losses ----
/// Cross-entropy of each row of logits (N, C) against targets (N, integer class ids; rows equal
/// to ignore_index give 0): logsumexp(x) - (1 - s) x[t] - s mean(x), s = label_smoothing (torch's
/// F.cross_entropy(reduction='none') semantics). One fused pass per row; nothing but the logits is
/// kept for backward. bf16/f16 logits are computed in f32. Returns (N) in the compute dtype.
/// Throws IndexError for a target outside [0, C) that is not ignore_index.
Tensor cross_entropy_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100,
                          double label_smoothing = 0.0);
/// Mean cross-entropy (over targets != ignore_index) of the logits linear(x, weight, bias) — x
/// (N, D), weight (V, D), bias (V) or undefined, targets (N) — without ever holding the (N, V)
/// logits: rows go through in chunks of `chunk_rows` (0: as many as fit in 64 MB of f32 logits),
/// and the gradients for x, weight and bias (those that need one) are formed chunk by chunk in the
/// same pass, then scaled by the upstream gradient in backward. Memory beyond the inputs: one
/// chunk's logits plus gradients the size of x and weight. Computed in f32 (f64 for f64 inputs).
/// Throws Error when every target is ignore_index.
Tensor linear_cross_entropy(const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& targets, int64_t ignore_index = -100,
                            double label_smoothing = 0.0, int64_t chunk_rows = 0);

// ---- optimizer kernels ----
/// The scalars of one AdamW update.
struct AdamWStep {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double bias_correction1 = 1, bias_correction2 = 1;  // 1 - beta^t
};
/// One AdamW step in place, in one pass (no temporaries): with g = grad,
///   param *= 1 - lr * weight_decay; exp_avg = beta1 exp_avg + (1 - beta1) g;
///   exp_avg_sq = beta2 exp_avg_sq + (1 - beta2) g^2;
///   param -= lr / c1 * exp_avg / (sqrt(exp_avg_sq) / sqrt(c2) + eps)
/// with c1, c2 the step's bias corrections. All four tensors: one shape, one dtype (f32 or
/// f64), contiguous. Not recorded by autograd. Throws ShapeError / DTypeError naming the operand.
void adamw_update_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                   const Tensor& exp_avg_sq, const AdamWStep& step);
/// Sum of x^2 over every element, accumulated in f64 (any floating dtype, any layout). The same
/// value for any thread count.
double sum_squares(const Tensor& x);

// ---- misc ----
/// Sum x down to `shape` (the inverse of broadcasting); used by gradients.
Tensor sum_to_shape(const Tensor& x, const Shape& shape);
/// Broadcast result shape of two shapes; throws ShapeError naming `op`.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// True when every element of a and b are within atol + rtol * |b|.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

}  // namespace lazarus
