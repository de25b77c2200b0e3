// The Mamba selective state-space mixer (Hugging Face MambaMixer semantics) with its O(1)-per-token
// decode state, and the causal depthwise convolution it uses. Parameter names are HF's: in_proj,
// conv1d, x_proj, dt_proj, out_proj, A_log, D.
#pragma once

#include <memory>

#include "lazarus/components/kv_cache.h"
#include "lazarus/config/model_config.h"
#include "lazarus/nn/layers.h"

namespace lazarus::components {

/// Causal depthwise convolution over time, as PyTorch's Conv1d(C, C, K, groups=C, padding=K-1)
/// truncated to the first T outputs: y[b, t, c] = bias[c] + sum_k weight[c, 0, k] * xp[b, t + k, c]
/// with xp = cat(prev, x) along time. x (B, T, C); weight (C, 1, K); bias (C) or undefined; prev
/// (B, K - 1, C) = the inputs before x (undefined = zeros, i.e. the sequence starts here).
/// Composed from K shifted multiply-adds over the whole sequence (differentiable; no per-token
/// loop). Throws ShapeError on mismatched shapes.
Tensor causal_depthwise_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& prev = Tensor());

/// What one Mamba layer keeps between calls: the last K - 1 mixer inputs before the convolution
/// (B, K - 1, I) and the SSM state (B, I, N). Both are fixed-size: decoding costs O(1) per token.
/// Allocated by the first call (batch from its input); any number of tokens per call.
class SSMCache : public LayerCache {
 public:
  /// Undefined before the first call (= zeros).
  const Tensor& conv_state() const { return conv_state_; }
  const Tensor& ssm_state() const { return ssm_state_; }
  /// Tokens seen.
  int64_t length() const { return length_; }
  /// Stores the states after `T` more tokens (detached from any graph).
  void update(const Tensor& conv_state, const Tensor& ssm_state, int64_t T);

 private:
  Tensor conv_state_, ssm_state_;
  int64_t length_ = 0;
};

/// Depthwise Conv1d parameters in PyTorch's layout: weight (C, 1, K), bias (C).
class DepthwiseConv1d : public nn::Module {
 public:
  DepthwiseConv1d(int64_t channels, int64_t kernel_size, bool bias, DType dtype = DType::F32);
  /// x (B, T, C), prev (B, K - 1, C) or undefined -> (B, T, C).
  Tensor forward(const Tensor& x, const Tensor& prev = Tensor()) const {
    return causal_depthwise_conv1d(x, weight, bias, prev);
  }
  int64_t kernel_size() const { return weight.size(2); }
  Tensor weight;
  Tensor bias;  // undefined without bias
};

/// The Mamba mixer (Gu & Dao 2023; HF MambaMixer.slow_forward):
///   x, z  = split(in_proj(h))                      (B, T, I) each
///   x     = act(conv1d(x))                         causal, depthwise
///   dt, B, C = split(x_proj(x), [R, N, N])
///   delta = softplus(dt_proj(dt))                  (B, T, I)
///   y     = selective_scan(x, delta, -exp(A_log), B, C) + D * x
///   out   = out_proj(y * act(z))
/// Padding positions (token_mask 0) are zeroed before and after the convolution as HF does, so a
/// left-padded row computes what it computes alone.
class MambaMixer : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field). A_log = log(1..N) per channel, D = 1,
  /// dt_proj.bias = softplus^-1 of dt in [1e-3, 0.1] log-uniform (HF's defaults; see
  /// reset_ssm_parameters), other weights PyTorch's Linear/Conv1d defaults.
  MambaMixer(int64_t hidden_size, const config::SSMConfig& cfg, DType dtype = DType::F32);

  /// x (B, T, D) -> (B, T, D). token_mask (B, T) 1 keep / 0 pad, or undefined. With `cache` the
  /// call continues from its states and leaves them after the last token.
  Tensor forward(const Tensor& x, const Tensor& token_mask = Tensor(),
                 SSMCache* cache = nullptr) const;

  /// HF MambaPreTrainedModel._init_weights for the SSM parts: A_log = log(1..N), D = 1,
  /// dt_proj.weight ~ U(-s, s) ("random") or = s ("constant") with s = rank^-0.5 * dt_scale,
  /// dt_proj.bias = softplus^-1(dt) with dt = exp(U(log dt_min, log dt_max)) clamped at dt_floor,
  /// conv1d and out_proj PyTorch's kaiming-uniform(a = sqrt 5), conv bias 0.
  void reset_ssm_parameters(double dt_min, double dt_max, double dt_floor, double dt_scale,
                            bool dt_random, Generator* gen = nullptr);

  const config::SSMConfig& config() const { return cfg_; }
  int64_t intermediate_size() const { return I_; }
  int64_t time_step_rank() const { return R_; }

  std::shared_ptr<nn::Linear> in_proj, x_proj, dt_proj, out_proj;
  std::shared_ptr<DepthwiseConv1d> conv1d;
  Tensor A_log;  // (I, N)
  Tensor D;      // (I)

 private:
  config::SSMConfig cfg_;
  int64_t I_, R_;
};

}  // namespace lazarus::components
