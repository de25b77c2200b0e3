// Llama family model (see llama.h).
#include "lazarus/families/llama/llama.h"

namespace lazarus::families {

namespace {
const LlamaConfig& validated(const LlamaConfig& c) {
  c.validate();
  return c;
}
}  // namespace

LlamaForCausalLM::LlamaForCausalLM(const LlamaConfig& cfg, DType dtype, uint64_t seed)
    : models::CausalLM(validated(cfg).to_model_config(), dtype), llama_cfg_(cfg) {
  init_weights(cfg.initializer_range, seed);
}

Tensor LlamaForCausalLM::generate_greedy(const Tensor& input_ids, int64_t max_new_tokens,
                                         const Tensor& attention_mask) {
  models::GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.eos_token_ids = llama_cfg_.eos_token_id;
  o.pad_token_id = llama_cfg_.pad_token_id.value_or(
      llama_cfg_.eos_token_id.empty() ? 0 : llama_cfg_.eos_token_id[0]);
  return generate(input_ids, o, attention_mask);
}

void llama_from_checkpoint(nn::StateDict& weights) {
  const std::string kInvFreq = ".rotary_emb.inv_freq";
  for (auto it = weights.begin(); it != weights.end();) {
    const std::string& n = it->first;
    bool inv_freq = n.size() > kInvFreq.size() &&
                    n.compare(n.size() - kInvFreq.size(), kInvFreq.size(), kInvFreq) == 0;
    it = inv_freq ? weights.erase(it) : std::next(it);
  }
}

}  // namespace lazarus::families
