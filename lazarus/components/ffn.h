// Feed-forward networks: MLP with any activation (up_proj -> act -> down_proj), the gated form
// (SwiGLU / GeGLU / any activation: down_proj(act(gate_proj(x)) * up_proj(x))), and a sparse
// mixture of such experts (Mixtral's top-k routing, the Switch/Mixtral load-balancing loss).
// Names are HF's (mixture: mlp.gate, mlp.experts.N.{gate,up,down}_proj, as Qwen-MoE / OLMoE).
#pragma once

#include <memory>
#include <vector>

#include "lazarus/config/model_config.h"
#include "lazarus/nn/layers.h"
#include "lazarus/nn/module_list.h"

namespace lazarus::components {

/// The activation function named by `a` (GELU exact or tanh form as in PyTorch).
Tensor activation(config::ActivationType a, const Tensor& x);

/// A dense FFN, or with cfg.num_experts > 0 a sparse mixture of experts (HF
/// MixtralSparseMoeBlock semantics): router logits = gate(x) (Linear D -> E, no bias); p =
/// softmax over all E experts (f32); the num_experts_per_tok largest p kept (ties: lower index)
/// and, with norm_topk_prob, divided by their sum; out = sum over the kept experts of
/// p_e * expert_e(x). Each expert runs once on the tokens routed to it.
class FeedForward : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field).
  FeedForward(int64_t hidden_size, const config::FFNConfig& cfg, DType dtype = DType::F32);
  /// x (..., D) -> (..., D). A mixture of experts stores its router logits (N, E), N = the
  /// number of tokens, in *router_logits when given.
  Tensor forward(const Tensor& x, Tensor* router_logits = nullptr) const;
  const config::FFNConfig& config() const { return cfg_; }

  std::shared_ptr<nn::Linear> gate_proj;                 // dense gated forms only
  std::shared_ptr<nn::Linear> up_proj, down_proj;        // dense only
  std::shared_ptr<nn::Linear> gate;                      // mixture only: the router (E, D)
  std::shared_ptr<nn::ModuleList<FeedForward>> experts;  // mixture only

 private:
  config::FFNConfig cfg_;
};

/// Indices of the k largest entries of every row of x (N, E) (host-side; ties: lower index
/// first), (N, k) I64, largest first. Not differentiable (a routing decision).
Tensor top_k_indices(const Tensor& x, int64_t k);

/// The Switch / Mixtral load-balancing loss over the router logits of every mixture layer of one
/// forward (HF load_balancing_loss_func): with p = softmax(cat(router_logits)) and the top-k
/// choices per token, E * sum_{j, e} f_{j,e} * P_e, where f_{j,e} is the fraction of tokens whose
/// j-th choice is e and P_e the mean router probability of e. attention_mask (B, T) (1 keep / 0
/// pad; every layer's logits are (B * T, E)) restricts both means to kept tokens; undefined =
/// all tokens. Differentiable in the router logits (through P). Throws ShapeError on mismatched
/// shapes.
Tensor load_balancing_loss(const std::vector<Tensor>& router_logits, int64_t num_experts,
                           int64_t top_k, const Tensor& attention_mask = Tensor());

/// RMSNorm, LayerNorm or Gemma's RMSNorm (x / rms(x) * (1 + w) in f32; weight initialised to 0)
/// chosen by config, with its parameters directly on this module ("weight", "bias") so checkpoint
/// names stay `input_layernorm.weight`.
class Norm : public nn::Module {
 public:
  Norm(int64_t dim, const config::NormConfig& cfg, DType dtype = DType::F32);
  /// Normalises the last dim.
  Tensor forward(const Tensor& x) const;
  const config::NormConfig& config() const { return cfg_; }
  Tensor weight;
  Tensor bias;  // LayerNorm with bias only

 private:
  config::NormConfig cfg_;
};

}  // namespace lazarus::components
