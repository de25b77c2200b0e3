// CausalLM: any backbone plus an LM head ("model.*" / "backbone.*" and "lm_head.*" as in HF
// checkpoints), with the shifted next-token loss, per-layer caches and a basic generate (greedy or
// temperature).
#pragma once

#include <memory>
#include <vector>

#include "lazarus/backbones/backbone.h"
#include "lazarus/backbones/transformer_backbone.h"
#include "lazarus/heads/lm_head.h"

namespace lazarus::models {

struct ModelOutput {
  Tensor logits;  // (B, T, V)
  /// Mean next-token cross-entropy over labels != -100 (when labels were given), plus
  /// router_aux_loss_coef * aux_loss for mixture-of-experts models (as HF MixtralForCausalLM).
  Tensor loss;
  /// Mixture-of-experts models: the load-balancing loss over every layer's router (HF
  /// load_balancing_loss_func; padding excluded via attention_mask), a scalar. Undefined for
  /// models without experts.
  Tensor aux_loss;
  /// With output_hidden_states: L + 1 entries (see BackboneOutput).
  std::vector<Tensor> hidden_states;
  /// The cache passed in, now advanced past these tokens (null without one).
  std::shared_ptr<components::Cache> cache;
};

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  /// 0 = greedy (argmax); > 0 samples from softmax(logits / temperature).
  double temperature = 0.0;
  uint64_t seed = 0;
  /// A row stops after emitting any of these; later positions of that row get pad_token_id.
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = 0;
};

class CausalLM : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field) and allocates every parameter.
  explicit CausalLM(const config::ModelConfig& cfg, DType dtype = DType::F32);

  /// input_ids (B, T) integer; attention_mask (B, T) or (B, past + T), 1 keep / 0 pad; labels
  /// (B, T) integer with -100 = ignore (shifted inside: position t predicts labels[t + 1]).
  ModelOutput forward(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                      const Tensor& labels = Tensor(),
                      std::shared_ptr<components::Cache> cache = nullptr,
                      bool output_hidden_states = false);

  /// The training loss alone: the same value as forward(input_ids, attention_mask, labels).loss
  /// (plus the MoE auxiliary loss where there is one), with the LM head fused into the
  /// cross-entropy (losses::causal_lm_head_loss), so the (B, T, V) logits are never formed. What
  /// trainers call; use forward() when the logits themselves are wanted.
  Tensor loss(const Tensor& input_ids, const Tensor& labels,
              const Tensor& attention_mask = Tensor(), double label_smoothing = 0.0);

  /// A fresh cache for `batch` rows: one state per layer of the kind its block needs (KV for
  /// attention, conv + SSM state for Mamba); max_length 0 = max_position_embeddings.
  std::shared_ptr<components::Cache> make_cache(int64_t batch, int64_t max_length = 0) const {
    return backbone->make_cache(batch, max_length);
  }

  /// Appends up to max_new_tokens tokens to each row of input_ids (B, T) (left-pad rows of
  /// different length and pass attention_mask). Returns (B, T + n) I64. Runs without gradients.
  Tensor generate(const Tensor& input_ids, const GenerateOptions& opts = {},
                  const Tensor& attention_mask = Tensor());

  /// HF-style initialisation: every Linear and the embedding ~ N(0, std^2), biases 0, norms 1.
  void init_weights(double std, uint64_t seed = 0);

  const config::ModelConfig& config() const { return cfg_; }

  /// The backbone, whatever its type; registered as "model" (transformer) or "backbone" (mamba),
  /// the names HF checkpoints use.
  std::shared_ptr<backbones::Backbone> backbone;
  /// The same backbone when it is a TransformerBackbone (typed access to its layers), else null.
  std::shared_ptr<backbones::TransformerBackbone> model;
  std::shared_ptr<heads::LMHead> lm_head;

 private:
  Tensor to_head_dtype(const Tensor& h) const;
  /// The MoE load-balancing loss over this call's T tokens; undefined without MoE layers.
  Tensor aux_loss(const backbones::BackboneOutput& bo, const Tensor& attention_mask,
                  int64_t T) const;
  /// loss + router_aux_loss_coef * aux (loss itself without an aux loss or with coefficient 0).
  Tensor with_aux(const Tensor& loss, const Tensor& aux) const;
  config::ModelConfig cfg_;
};

}  // namespace lazarus::models
