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
