// Causal language model (see causal_lm.h).
#include "lazarus/models/causal_lm.h"

#include <fmt/format.h>

#include "lazarus/components/ffn.h"
#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/models/model_init.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::models {

CausalLM::CausalLM(const config::ModelConfig& cfg, DType dtype)
    : CausalLM(cfg, backbones::BackboneDescription::for_type(cfg.backbone.type), dtype) {}

CausalLM::CausalLM(const config::ModelConfig& cfg,
                   const backbones::BackboneDescription& description, DType dtype)
    : cfg_(cfg) {
  cfg.validate();
  if (cfg.head.type != config::HeadType::LM) {
    throw ConfigError(fmt::format(
        "head.type: a CausalLM needs an 'lm' head, got '{}' (build a SequenceClassifier or "
        "TokenClassifier for it)",
        config::to_string(cfg.head.type)));
  }
  backbone = register_module(description.prefix,
                             std::make_shared<backbones::Backbone>(cfg.backbone, description, dtype));
  Tensor* tie = cfg.head.tie_word_embeddings ? backbone->input_embedding_weight() : nullptr;
  lm_head =
      register_module("lm_head", std::make_shared<heads::LMHead>(cfg.backbone.hidden_size,
                                                                 cfg.backbone.embedding.vocab_size,
                                                                 cfg.head, tie, dtype));
}

Tensor CausalLM::to_head_dtype(const Tensor& h) const {
  // A residual stream kept in f32 (Mamba's residual_in_fp32) meets bf16/f16 head weights, as in
  // HF: the head reads the hidden states in its own dtype. A model whose token embeddings come
  // out in f32 (an f32 table, a block-quantized one, or a GGUF file's f16 table widened as it is
  // read: weights stored in their own types, computed in f32) keeps f32 hidden states whatever
  // the head's weight type.
  DType dt = lm_head->weight_matrix().dtype();
  const nn::Embedding& et = *backbone->embed_tokens;
  const DType emb = is_quantized(et.weight.dtype()) ? DType::F32
                                                     : et.output_dtype().value_or(et.weight.dtype());
  if (emb == DType::F32 || is_quantized(dt)) return h;
  return h.dtype() == dt ? h : h.to(dt);
}

Tensor CausalLM::aux_loss(const backbones::BackboneOutput& bo, const Tensor& attention_mask,
                          int64_t T) const {
  const config::FFNConfig* moe = cfg_.backbone.moe_ffn();
  if (!moe || bo.router_logits.empty()) return Tensor();
  // The mask over this call's tokens (a cached call may pass (B, past + T)).
  Tensor m = attention_mask;
  if (m.defined() && m.dim() == 2 && m.size(1) != T) m = m.narrow(1, m.size(1) - T, T);
  return components::load_balancing_loss(bo.router_logits, moe->num_experts,
                                         moe->num_experts_per_tok, m);
}

Tensor CausalLM::with_aux(const Tensor& loss, const Tensor& aux) const {
  const config::FFNConfig* moe = cfg_.backbone.moe_ffn();
  if (!aux.defined() || !moe || moe->router_aux_loss_coef == 0) return loss;
  return loss + aux.to(loss.dtype()) * moe->router_aux_loss_coef;
}

ModelOutput CausalLM::forward(const Tensor& input_ids, const Tensor& attention_mask,
                              const Tensor& labels, std::shared_ptr<components::Cache> cache,
                              bool output_hidden_states) {
  auto bo = backbone->forward(input_ids, attention_mask, cache.get(), output_hidden_states);
  ModelOutput out;
  out.logits = lm_head->forward(to_head_dtype(bo.last_hidden_state)).logits;  // (B, T, V)
  out.aux_loss = aux_loss(bo, attention_mask, input_ids.size(1));
  if (labels.defined())
    out.loss = with_aux(losses::causal_lm_loss(out.logits, labels), out.aux_loss);
  out.hidden_states = std::move(bo.hidden_states);
  out.cache = std::move(cache);
  return out;
}

Tensor CausalLM::loss(const Tensor& input_ids, const Tensor& labels, const Tensor& attention_mask,
                      double label_smoothing) {
  if (!labels.defined()) throw Error("[CausalLM::loss] labels are required");
  auto bo = backbone->forward(input_ids, attention_mask, nullptr, false);
  Tensor loss =
      losses::causal_lm_head_loss(to_head_dtype(bo.last_hidden_state), lm_head->weight_matrix(),
                                  lm_head->bias, labels, label_smoothing);
  return with_aux(loss, aux_loss(bo, attention_mask, input_ids.size(1)));
}

void CausalLM::init_weights(double std, uint64_t seed) { models::init_weights(*this, std, seed); }

Tensor CausalLM::last_logits(const Tensor& input_ids, const Tensor& attention_mask,
                             components::Cache* cache) {
  auto bo = backbone->forward(input_ids, attention_mask, cache);
  const int64_t B = input_ids.size(0), T = bo.last_hidden_state.size(1);
  Tensor last = bo.last_hidden_state.narrow(1, T - 1, 1);                    // (B, 1, D)
  return lm_head->forward(to_head_dtype(last)).logits.reshape({B, -1});  // (B, V)
}

}  // namespace lazarus::models
