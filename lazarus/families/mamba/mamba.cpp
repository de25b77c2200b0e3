// Mamba family model (see mamba.h).
#include "lazarus/families/mamba/mamba.h"

#include <cmath>

#include "lazarus/backbones/mamba_backbone.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::families {

namespace {
const MambaConfig& validated(const MambaConfig& c) {
  c.validate();
  return c;
}
}  // namespace

MambaForCausalLM::MambaForCausalLM(const MambaConfig& cfg, DType dtype, uint64_t seed)
    : models::CausalLM(validated(cfg).to_model_config(), dtype), mamba_cfg_(cfg) {
  init_weights(cfg.initializer_range, seed);
  if (nn::init::init_skipped()) return;  // every parameter is about to be loaded
  // The SSM parts have their own initialisation (HF _init_weights for MambaMixer).
  Generator gen(seed + 1);
  auto& bb = dynamic_cast<backbones::MambaBackbone&>(*backbone);
  for (auto& layer : *bb.layers) {
    auto& mixer = *layer->mixer;
    mixer.reset_ssm_parameters(cfg.time_step_min, cfg.time_step_max, cfg.time_step_floor,
                               cfg.time_step_scale, cfg.time_step_init_scheme == "random", &gen);
    if (cfg.rescale_prenorm_residual) {
      NoGradGuard ng;
      bool rg = mixer.out_proj->weight.requires_grad();
      mixer.out_proj->weight =
          (mixer.out_proj->weight / std::sqrt(double(cfg.num_hidden_layers))).detach();
      if (rg) mixer.out_proj->weight.requires_grad_(true);
    }
  }
}

Tensor MambaForCausalLM::generate_greedy(const Tensor& input_ids, int64_t max_new_tokens,
                                         const Tensor& attention_mask) {
  models::GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.eos_token_ids = mamba_cfg_.eos_token_id;
  o.pad_token_id = mamba_cfg_.pad_token_id.value_or(
      mamba_cfg_.eos_token_id.empty() ? 0 : mamba_cfg_.eos_token_id[0]);
  return generate(input_ids, o, attention_mask);
}

}  // namespace lazarus::families
