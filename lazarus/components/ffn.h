// Feed-forward networks: MLP with any activation (up_proj -> act -> down_proj) and the gated form
// (SwiGLU / GeGLU / any activation: down_proj(act(gate_proj(x)) * up_proj(x))). Names are HF's.
#pragma once

#include <memory>

#include "lazarus/config/model_config.h"
#include "lazarus/nn/layers.h"

namespace lazarus::components {

/// The activation function named by `a` (GELU exact or tanh form as in PyTorch).
Tensor activation(config::ActivationType a, const Tensor& x);

class FeedForward : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field).
  FeedForward(int64_t hidden_size, const config::FFNConfig& cfg, DType dtype = DType::F32);
  /// x (B, T, D) -> (B, T, D).
  Tensor forward(const Tensor& x) const;
  const config::FFNConfig& config() const { return cfg_; }

  std::shared_ptr<nn::Linear> gate_proj;  // gated forms only
  std::shared_ptr<nn::Linear> up_proj, down_proj;

 private:
  config::FFNConfig cfg_;
};

/// RMSNorm or LayerNorm chosen by config, with its parameters directly on this module ("weight",
/// "bias") so checkpoint names stay `input_layernorm.weight`.
class Norm : public nn::Module {
 public:
  Norm(int64_t dim, const config::NormConfig& cfg, DType dtype = DType::F32);
  /// Normalises the last dim.
  Tensor forward(const Tensor& x) const;
  Tensor weight;
  Tensor bias;  // LayerNorm with bias only

 private:
  config::NormConfig cfg_;
};

}  // namespace lazarus::components
