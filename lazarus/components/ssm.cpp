// The Mamba mixer and its causal depthwise convolution (see ssm.h).
#include "lazarus/components/ssm.h"

#include <cmath>

#include <fmt/format.h>

#include "lazarus/components/ffn.h"
#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

Tensor causal_depthwise_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& prev) {
  if (x.dim() != 3 || weight.dim() != 3 || weight.size(1) != 1 || weight.size(0) != x.size(2)) {
    throw ShapeError(
        fmt::format("[causal_depthwise_conv1d] x {} must be (B, T, C) and weight {} (C, 1, K)",
                    shape_str(x.shape()), shape_str(weight.shape())));
  }
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), K = weight.size(2);
  if (K < 1) throw ShapeError("[causal_depthwise_conv1d] kernel size must be >= 1");
  if (bias.defined() && bias.shape() != Shape{C}) {
    throw ShapeError(
        fmt::format("[causal_depthwise_conv1d] bias {} must be ({})", shape_str(bias.shape()), C));
  }
  if (prev.defined() && prev.shape() != Shape{B, K - 1, C}) {
    throw ShapeError(
        fmt::format("[causal_depthwise_conv1d] prev {} must be (B, K - 1, C) = ({}, "
                    "{}, {})",
                    shape_str(prev.shape()), B, K - 1, C));
  }
  Tensor left = prev.defined() ? prev.to(x.dtype()) : zeros({B, K - 1, C}, x.dtype());
  Tensor xp = K > 1 ? cat({left, x}, 1) : x;  // (B, K - 1 + T, C)
  Tensor w = weight.reshape({C, K});          // (C, K)
  Tensor y;
  for (int64_t k = 0; k < K; ++k) {
    Tensor term = xp.narrow(1, k, T) * w.select(1, k);  // (B, T, C) * (C)
    y = y.defined() ? y + term : term;
  }
  return bias.defined() ? y + bias : y;
}

void SSMCache::update(const Tensor& conv_state, const Tensor& ssm_state, int64_t T) {
  NoGradGuard ng;
  conv_state_ = conv_state.defined() ? conv_state.detach().contiguous() : Tensor();
  ssm_state_ = ssm_state.detach().contiguous();
  length_ += T;
}

DepthwiseConv1d::DepthwiseConv1d(int64_t C, int64_t K, bool with_bias, DType dtype) {
  // PyTorch Conv1d default: kaiming-uniform(a = sqrt 5) = U(+-1/sqrt(fan_in)), fan_in = 1 * K.
  weight = nn::init::linear_default({C, 1, K}, K, dtype);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = nn::init::linear_default({C}, K, dtype);
    register_parameter("bias", &bias);
  }
}

MambaMixer::MambaMixer(int64_t D_model, const config::SSMConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate(D_model, "ssm");
  I_ = cfg.resolved_intermediate_size(D_model);
  R_ = cfg.resolved_time_step_rank(D_model);
  const int64_t N = cfg.state_size, I = I_, R = R_;
  in_proj =
      register_module("in_proj", std::make_shared<nn::Linear>(D_model, 2 * I, cfg.use_bias, dtype));
  conv1d = register_module(
      "conv1d", std::make_shared<DepthwiseConv1d>(I, cfg.conv_kernel, cfg.use_conv_bias, dtype));
  x_proj = register_module("x_proj", std::make_shared<nn::Linear>(I, R + 2 * N, false, dtype));
  dt_proj = register_module("dt_proj", std::make_shared<nn::Linear>(R, I, true, dtype));
  A_log = zeros({I, N}, dtype);
  register_parameter("A_log", &A_log);
  D = ones({I}, dtype);
  register_parameter("D", &D);
  out_proj =
      register_module("out_proj", std::make_shared<nn::Linear>(I, D_model, cfg.use_bias, dtype));
  reset_ssm_parameters(1e-3, 0.1, 1e-4, 1.0, true);
}

void MambaMixer::reset_ssm_parameters(double dt_min, double dt_max, double dt_floor,
                                      double dt_scale, bool dt_random, Generator* gen) {
  NoGradGuard ng;
  const int64_t I = I_, N = cfg_.state_size, R = R_;
  auto assign = [](Tensor& slot, const Tensor& v) {
    bool rg = slot.requires_grad();
    slot = v.to(slot.dtype()).detach();
    if (rg) slot.requires_grad_(true);
  };
  // S4D-real: A[d, n] = n + 1 for every channel.
  assign(
      A_log,
      log(arange(1.0, double(N + 1), 1.0, DType::F32)).reshape({1, N}).expand({I, N}).contiguous());
  assign(D, ones({I}, DType::F32));
  double s = std::pow(double(R), -0.5) * dt_scale;
  assign(dt_proj->weight,
         dt_random ? nn::init::uniform({I, R}, -s, s, DType::F32, gen) : full({I, R}, s));
  Tensor u = rand({I}, DType::F32, 0.0, 1.0, gen);
  Tensor dt = exp(u * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min));
  dt = maximum(dt, full({}, dt_floor));
  // softplus^-1(dt) = dt + log(1 - exp(-dt)) = dt + log(-expm1(-dt)).
  assign(dt_proj->bias, dt + log(1.0 - exp(-dt)));
  const int64_t K = cfg_.conv_kernel;
  assign(conv1d->weight, nn::init::linear_default({I, 1, K}, K, DType::F32, gen));
  if (conv1d->bias.defined()) assign(conv1d->bias, zeros({I}));
  assign(out_proj->weight,
         nn::init::linear_default({out_proj->out_features(), I}, I, DType::F32, gen));
  if (in_proj->bias.defined()) assign(in_proj->bias, zeros({2 * I}));
  if (out_proj->bias.defined()) assign(out_proj->bias, zeros({out_proj->out_features()}));
}

Tensor MambaMixer::forward(const Tensor& h, const Tensor& token_mask, SSMCache* cache) const {
  if (h.dim() != 3) {
    throw ShapeError(
        fmt::format("[MambaMixer] input must be (B, T, D), got {}", shape_str(h.shape())));
  }
  const int64_t B = h.size(0), T = h.size(1), I = I_, N = cfg_.state_size, R = R_;
  const int64_t K = cfg_.conv_kernel;
  if (cache && cache->ssm_state().defined() && cache->ssm_state().size(0) != B) {
    throw ShapeError(fmt::format("[MambaMixer] cache holds batch {}, input has {}",
                                 cache->ssm_state().size(0), B));
  }
  Tensor xz = in_proj->forward(h);                          // (B, T, 2I)
  Tensor x = xz.narrow(-1, 0, I), z = xz.narrow(-1, I, I);  // (B, T, I) each
  Tensor m = token_mask.defined() ? token_mask.to(h.dtype()).reshape({B, T, 1}) : Tensor();
  if (m.defined()) x = x * m;
  Tensor prev = cache ? cache->conv_state() : Tensor();  // (B, K - 1, I) or undefined
  Tensor conv_in = x;
  Tensor xc = activation(cfg_.activation, conv1d->forward(x, prev));  // (B, T, I)
  if (m.defined()) xc = xc * m;
  Tensor p = x_proj->forward(xc);  // (B, T, R + 2N)
  Tensor dt = p.narrow(-1, 0, R), Bm = p.narrow(-1, R, N), Cm = p.narrow(-1, R + N, N);
  Tensor delta = softplus(dt_proj->forward(dt));      // (B, T, I)
  Tensor A = -exp(A_log);                             // (I, N)
  Tensor h0 = cache ? cache->ssm_state() : Tensor();  // (B, I, N) or undefined
  if (h0.defined() && h0.dtype() != xc.dtype()) h0 = h0.to(xc.dtype());
  SelectiveScanOutput scan = selective_scan(xc, delta, A.to(xc.dtype()), Bm, Cm, h0);
  if (cache) {
    Tensor conv_state;
    if (K > 1) {
      // The last K - 1 inputs of cat(prev, x): what the next call's convolution looks back on.
      Tensor left = prev.defined() ? prev : zeros({B, K - 1, I}, conv_in.dtype());
      Tensor all = cat({left, conv_in.detach()}, 1);  // (B, K - 1 + T, I)
      conv_state = all.narrow(1, T, K - 1);
    }
    cache->update(conv_state, scan.last_state, T);
  }
  Tensor y = scan.y + xc * D;              // (B, T, I)
  y = y * activation(cfg_.activation, z);  // gate
  return out_proj->forward(y);             // (B, T, D)
}

}  // namespace lazarus::components
