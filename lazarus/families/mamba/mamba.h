// MambaForCausalLM: the Mamba family (state-spaces/mamba-*-hf) as a CausalLM built from a
// MambaConfig. Parameter names are exactly HF's: backbone.embeddings.weight,
// backbone.layers.N.norm.weight, backbone.layers.N.mixer.{in_proj,x_proj,dt_proj,out_proj}.weight
// (+ dt_proj.bias; in/out_proj.bias with use_bias), backbone.layers.N.mixer.conv1d.{weight,bias},
// backbone.layers.N.mixer.{A_log,D}, backbone.norm_f.weight, lm_head.weight (absent when tied, the
// default).
#pragma once

#include "lazarus/families/mamba/mamba_config.h"
#include "lazarus/models/causal_lm.h"

namespace lazarus::families {

class MambaForCausalLM : public models::CausalLM {
 public:
  /// Validates `cfg`; weights are initialised as HF's MambaPreTrainedModel does (Linear and
  /// embedding N(0, initializer_range^2), norms 1, A_log = log(1..N), D = 1, dt_proj from the
  /// time_step_* fields).
  explicit MambaForCausalLM(const MambaConfig& cfg, DType dtype = DType::F32, uint64_t seed = 0);
  const MambaConfig& mamba_config() const { return mamba_cfg_; }

 private:
  MambaConfig mamba_cfg_;
};

}  // namespace lazarus::families
