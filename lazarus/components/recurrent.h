// Recurrent layers: LSTM and GRU (PyTorch nn.LSTM / nn.GRU cell math and parameter layout) and
// minGRU (Feng et al. 2024, "Were RNNs All We Needed?"), with an O(1)-per-token decode state.
//
// Padding (token_mask 0) never advances the state: at a padded step every state keeps its previous
// value (h_t = h_{t-1}, c_t = c_{t-1}) and the output is that unchanged state. So a left-padded row
// starts from the zero state at its first kept token, and a right-padded row's state (what a cache
// keeps) is the state after its last kept token: each row computes what it computes alone.
#pragma once

#include <memory>

#include "lazarus/components/kv_cache.h"
#include "lazarus/config/model_config.h"
#include "lazarus/nn/layers.h"

namespace lazarus::components {

/// h_t = a_t * h_{t-1} + b_t elementwise over t = 0 .. T-1, with h_{-1} = h0 (zeros when
/// undefined). a, b (B, T, H); h0 (B, H). Returns all h_t (B, T, H). One fused sequential kernel
/// forward and one backward (no per-token graph); differentiable in a, b and h0. Throws ShapeError
/// / DTypeError naming the operand.
Tensor linear_recurrence(const Tensor& a, const Tensor& b, const Tensor& h0 = Tensor());

/// What one recurrent layer keeps between calls: h (B, H) and, for LSTM, the cell state c (B, H).
/// Fixed size: decoding costs O(1) per token. Undefined (= zeros) before the first call.
class RecurrentCache : public LayerCache {
 public:
  const Tensor& h() const { return h_; }
  const Tensor& c() const { return c_; }
  /// Tokens seen.
  int64_t length() const { return length_; }
  /// Stores the states after `T` more tokens (detached).
  void update(const Tensor& h, const Tensor& c, int64_t T);

 private:
  Tensor h_, c_;
  int64_t length_ = 0;
};

/// One recurrent layer over inputs of width D with state width H (config.hidden_size, default D).
///   lstm:   i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)  (PyTorch gate order)
///           c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
///   gru:    r, z, n gates as torch.nn.GRU: n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
///           h' = (1 - z) n + z h
///   mingru: z = sigmoid(linear_z(x)), h~ = linear_h(x), h' = (1 - z) h + z h~
/// then out_proj (H -> D, no bias) when H != D. Training path: LSTM and GRU project every input
/// at once (one GEMM) and run the fused recurrent_sequence op (one batched (B, H) x (H, kH) GEMM
/// per step forward, BPTT in one op backward; O(T)); minGRU is a fused sequential scan
/// (linear_recurrence). Neither builds a per-step graph.
class RecurrentLayer : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field). Weights: PyTorch's RNN default
  /// U(-1/sqrt(H), 1/sqrt(H)) for lstm/gru, nn.Linear defaults for mingru.
  RecurrentLayer(int64_t hidden_size, const config::RecurrentConfig& cfg, DType dtype = DType::F32);

  /// x (B, T, D) -> (B, T, D). token_mask (B, T) 1 keep / 0 pad, or undefined. With `cache` the
  /// call starts from its state and leaves the state after the last token there.
  Tensor forward(const Tensor& x, const Tensor& token_mask = Tensor(),
                 RecurrentCache* cache = nullptr) const;

  const config::RecurrentConfig& config() const { return cfg_; }
  /// LSTM / GRU only: run the per-step composed graph (reference::recurrent_sequence, the old
  /// training path; O(T²) backward traffic) instead of the fused op. For tests and benchmarks
  /// that compare the two; never set by configs.
  bool use_composed_reference = false;
  int64_t state_size() const { return H_; }

  // lstm / gru
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
  // mingru
  std::shared_ptr<nn::Linear> linear_z, linear_h;
  // H != D only
  std::shared_ptr<nn::Linear> out_proj;

 private:
  config::RecurrentConfig cfg_;
  int64_t H_;
};

}  // namespace lazarus::components
