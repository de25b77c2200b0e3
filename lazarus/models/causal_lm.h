// CausalLM: any backbone plus an LM head ("model.*" / "backbone.*" and "lm_head.*" as in HF
// checkpoints): forward, the shifted next-token loss and per-layer caches. Generation is
// generation::generate (lazarus/generation/generate.h), the one loop.
#pragma once

#include <memory>
#include <vector>

#include "lazarus/backbones/backbone.h"
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

class CausalLM : public nn::Module {
 public:
  /// Validates `cfg` (ConfigError naming the field) and allocates every parameter; the backbone's
  /// names are those its type implies (BackboneDescription::for_type).
  explicit CausalLM(const config::ModelConfig& cfg, DType dtype = DType::F32);
  /// The same with a family's own backbone description (checkpoint names, embedding scale,
  /// hidden-state convention).
  CausalLM(const config::ModelConfig& cfg, const backbones::BackboneDescription& description,
           DType dtype = DType::F32);

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
  /// attention, conv + SSM state for Mamba); max_length 0 = max_position_embeddings when any
  /// layer attends, else unbounded (Backbone::make_cache).
  std::shared_ptr<components::Cache> make_cache(int64_t batch, int64_t max_length = 0) const {
    return backbone->make_cache(batch, max_length);
  }

  /// The logits of each row's last position, (B, V) in the head's dtype: the backbone runs over
  /// every position (advancing `cache`), the head over the last only, so a long prompt never
  /// forms (B, T, V). What a decoding loop calls.
  Tensor last_logits(const Tensor& input_ids, const Tensor& attention_mask = Tensor(),
                     components::Cache* cache = nullptr);

  /// HF-style initialisation: every Linear and the embedding ~ N(0, std^2), biases 0, norms 1.
  void init_weights(double std, uint64_t seed = 0);

  const config::ModelConfig& config() const { return cfg_; }

  /// Registered under its description's prefix ("model", "backbone", ...), the name HF
  /// checkpoints use.
  std::shared_ptr<backbones::Backbone> backbone;
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
