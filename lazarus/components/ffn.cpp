// Feed-forward networks and the config-chosen norm (see ffn.h).
#include "lazarus/components/ffn.h"

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

using config::ActivationType;

Tensor activation(ActivationType a, const Tensor& x) {
  switch (a) {
    case ActivationType::ReLU:
      return relu(x);
    case ActivationType::GELU:
      return gelu(x, false);
    case ActivationType::GELUTanh:
      return gelu(x, true);
    case ActivationType::SiLU:
      return silu(x);
    case ActivationType::Tanh:
      return tanh(x);
    case ActivationType::Sigmoid:
      return sigmoid(x);
    case ActivationType::Identity:
      return x;
  }
  throw Error("[activation] unknown activation");
}

FeedForward::FeedForward(int64_t D, const config::FFNConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate("ffn");
  if (cfg.is_moe())
    throw ConfigError("ffn.num_experts: mixture-of-experts FFNs are not built yet (use 0)");
  const int64_t I = cfg.intermediate_size;
  if (cfg.gated())
    gate_proj = register_module("gate_proj", std::make_shared<nn::Linear>(D, I, cfg.bias, dtype));
  up_proj = register_module("up_proj", std::make_shared<nn::Linear>(D, I, cfg.bias, dtype));
  down_proj = register_module("down_proj", std::make_shared<nn::Linear>(I, D, cfg.bias, dtype));
}

Tensor FeedForward::forward(const Tensor& x) const {
  // x (B, T, D) -> hidden (B, T, I) -> (B, T, D)
  Tensor h = gate_proj ? activation(cfg_.activation, gate_proj->forward(x)) * up_proj->forward(x)
                       : activation(cfg_.activation, up_proj->forward(x));
  return down_proj->forward(h);
}

Norm::Norm(int64_t dim, const config::NormConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate("norm");
  weight = ones({dim}, dtype);
  register_parameter("weight", &weight);
  if (cfg.type == config::NormType::LayerNorm && cfg.bias) {
    bias = zeros({dim}, dtype);
    register_parameter("bias", &bias);
  }
}

Tensor Norm::forward(const Tensor& x) const {
  if (cfg_.type == config::NormType::RMSNorm) return rms_norm(x, weight, cfg_.eps);
  return layer_norm(x, weight, bias, cfg_.eps);
}

}  // namespace lazarus::components
