// LlamaForCausalLM: the Llama family (Llama 2/3/3.x, Mistral, CodeLlama, TinyLlama, SmolLM2) as a
// CausalLM built from a LlamaConfig. Parameter names are exactly HF's:
// model.embed_tokens.weight, model.layers.N.self_attn.{q,k,v,o}_proj.weight,
// model.layers.N.mlp.{gate,up,down}_proj.weight,
// model.layers.N.{input,post_attention}_layernorm.weight, model.norm.weight, lm_head.weight (absent
// when tie_word_embeddings).
#pragma once

#include "lazarus/families/llama/llama_config.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/nn/module.h"

namespace lazarus::families {

class LlamaForCausalLM : public models::CausalLM {
 public:
  /// Validates `cfg`; weights are initialised as HF does (N(0, initializer_range^2), norms 1).
  explicit LlamaForCausalLM(const LlamaConfig& cfg, DType dtype = DType::F32, uint64_t seed = 0);
  const LlamaConfig& llama_config() const { return llama_cfg_; }

 private:
  LlamaConfig llama_cfg_;
};

/// Checkpoint names -> module names for Llama-family checkpoints (the family's only exception to
/// "module names are checkpoint names"): drops the `self_attn.rotary_emb.inv_freq` buffers older
/// transformers versions saved, which are recomputed from the config.
void llama_from_checkpoint(nn::StateDict& weights);

}  // namespace lazarus::families
