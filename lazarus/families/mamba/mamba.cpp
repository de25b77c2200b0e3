// Mamba family model (see mamba.h).
#include "lazarus/families/mamba/mamba.h"

#include <cmath>

#include "lazarus/blocks/mamba_block.h"
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
  for (size_t l = 0; l < backbone->layers->size(); ++l) {
    auto& mixer = *backbone->layer<blocks::MambaBlock>(l).mixer;
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

}  // namespace lazarus::families
