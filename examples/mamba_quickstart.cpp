// Quick start for the Mamba family (docs/models.md): a preset's parameter count without
// allocating, the tiny model's forward with loss and backward, O(1)-per-token cached decoding,
// generate, and a model built from a Hugging Face config.json through the registry.
#include <cstdio>
#include <vector>

#include "lazarus/families/mamba/mamba.h"
#include "lazarus/families/registry.h"
#include "lazarus/generation/generate.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
using families::MambaConfig;
using families::MambaForCausalLM;

int main() {
  // 1. Presets carry the published numbers; counting needs no allocation.
  std::printf("mamba-130m: %lld parameters\n",
              static_cast<long long>(MambaConfig::mamba_130m().num_parameters()));

  // 2. The tiny model (HF names: backbone.layers.N.mixer.*), forward with labels, backward.
  MambaForCausalLM model(MambaConfig::tiny());
  Tensor ids = from_vector(std::vector<int64_t>{1, 17, 42, 99, 7}, {1, 5}, DType::I64);
  models::ModelOutput out = model.forward(ids, Tensor(), ids);
  out.loss.backward();
  std::printf("loss %.4f\n", out.loss.item());

  // 3. Cached decoding: each layer keeps a conv state and an SSM state of fixed size.
  NoGradGuard no_grad;
  auto cache = model.make_cache(1);
  auto step = model.forward(ids, Tensor(), Tensor(), cache);  // prefill (any length)
  Tensor next = argmax(step.logits.narrow(1, 4, 1).reshape({-1}), 0).reshape({1, 1});
  step = model.forward(next, Tensor(), Tensor(), cache);  // one more token, O(1) work per layer
  // generation::generate is the one generation loop (greedy here; stops at the config's eos).
  generation::GenerationParams p;
  p.max_new_tokens = 8;
  p.eos_token_ids = model.mamba_config().eos_token_id;
  auto generated = generation::generate(model, {{1, 17, 42, 99, 7}}, p);
  std::printf("generated %zu tokens\n", generated.tokens[0].size());

  // 4. From an HF config.json (keys that change the math and cannot be honoured are errors,
  //    unknown keys warnings), via the family registry.
  auto hf = config::Json::parse(R"({"model_type": "mamba", "hidden_size": 32,
      "num_hidden_layers": 2, "vocab_size": 64, "state_size": 8, "time_step_rank": "auto",
      "use_bias": false})");
  std::unique_ptr<models::CausalLM> built = families::build_causal_lm(hf);
  std::printf("built from config.json: %lld parameters\n",
              static_cast<long long>(built->num_parameters()));
  return 0;
}
