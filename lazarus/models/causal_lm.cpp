// Causal language model (see causal_lm.h).
#include "lazarus/models/causal_lm.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "lazarus/components/ffn.h"
#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/models/model_init.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::models {

CausalLM::CausalLM(const config::ModelConfig& cfg, DType dtype) : cfg_(cfg) {
  cfg.validate();
  if (cfg.head.type != config::HeadType::LM) {
    throw ConfigError(fmt::format(
        "head.type: a CausalLM needs an 'lm' head, got '{}' (build a SequenceClassifier or "
        "TokenClassifier for it)",
        config::to_string(cfg.head.type)));
  }
  backbone = register_module(backbones::checkpoint_prefix(cfg.backbone.type),
                             backbones::make_backbone(cfg.backbone, dtype));
  model = std::dynamic_pointer_cast<backbones::TransformerBackbone>(backbone);
  Tensor* tie = cfg.head.tie_word_embeddings ? backbone->input_embedding_weight() : nullptr;
  lm_head =
      register_module("lm_head", std::make_shared<heads::LMHead>(cfg.backbone.hidden_size,
                                                                 cfg.backbone.embedding.vocab_size,
                                                                 cfg.head, tie, dtype));
}

Tensor CausalLM::to_head_dtype(const Tensor& h) const {
  // A residual stream kept in f32 (Mamba's residual_in_fp32) meets bf16/f16 head weights, as in
  // HF: the head reads the hidden states in its own dtype.
  DType dt = lm_head->weight_matrix().dtype();
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

Tensor CausalLM::generate(const Tensor& input_ids, const GenerateOptions& opts,
                          const Tensor& attention_mask) {
  // input_ids (B, T)
  NoGradGuard ng;
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  if (opts.max_new_tokens < 0)
    throw ConfigError(fmt::format("generate.max_new_tokens: {} must be >= 0", opts.max_new_tokens));
  if (opts.temperature < 0)
    throw ConfigError(fmt::format("generate.temperature: {} must be >= 0", opts.temperature));
  auto cache = make_cache(B, T + opts.max_new_tokens);
  std::vector<int64_t> seq = input_ids.to(DType::I64).contiguous().to_vector<int64_t>();
  std::vector<std::vector<int64_t>> rows(B);
  for (int64_t b = 0; b < B; ++b) rows[b].assign(seq.begin() + b * T, seq.begin() + (b + 1) * T);
  std::vector<bool> done(B, false);
  Generator gen(opts.seed);
  Tensor step_ids = input_ids, step_mask = attention_mask;
  for (int64_t n = 0; n < opts.max_new_tokens; ++n) {
    auto bo = backbone->forward(step_ids, step_mask, cache.get());
    Tensor last = bo.last_hidden_state.narrow(1, bo.last_hidden_state.size(1) - 1, 1);  // (B, 1, D)
    Tensor logits =
        lm_head->forward(to_head_dtype(last)).logits.reshape({B, -1}).to(DType::F32);  // (B, V)
    std::vector<int64_t> next(B);
    if (opts.temperature == 0) {
      next = argmax(logits, -1).to_vector<int64_t>();
    } else {
      const int64_t V = logits.size(1);
      std::vector<float> p = softmax(logits / opts.temperature, -1).to_vector<float>();
      std::vector<float> u = rand({B}, DType::F32, 0.0, 1.0, &gen).to_vector<float>();
      for (int64_t b = 0; b < B; ++b) {
        double acc = 0;
        next[b] = V - 1;
        for (int64_t v = 0; v < V; ++v) {
          acc += p[b * V + v];
          if (u[b] < acc) {
            next[b] = v;
            break;
          }
        }
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) next[b] = opts.pad_token_id;
      rows[b].push_back(next[b]);
      if (std::find(opts.eos_token_ids.begin(), opts.eos_token_ids.end(), next[b]) !=
          opts.eos_token_ids.end())
        done[b] = true;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    step_ids = from_vector(next, {B, 1}, DType::I64);
    step_mask = Tensor();  // the cache remembers the prompt's padding
  }
  const int64_t L = static_cast<int64_t>(rows[0].size());
  std::vector<int64_t> flat;
  for (auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return from_vector(flat, {B, L}, DType::I64);
}

}  // namespace lazarus::models
