// Quick start for the model hierarchy (docs/models.md): presets and parameter counts without
// allocating, a modified config, forward with loss and backward, KV-cached decoding, generate,
// and a config read from JSON.
#include <cstdio>
#include <vector>

#include "lazarus/families/llama/llama.h"
#include "lazarus/generation/generate.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

using namespace lazarus;
using families::LlamaConfig;
using families::LlamaForCausalLM;

int main() {
  // 1. Presets carry the published numbers; counting needs no allocation.
  std::printf("Llama-2-7B: %lld parameters\n",
              static_cast<long long>(LlamaConfig::llama2_7b().num_parameters()));

  // 2. Configs are values: derive a validated modified copy.
  LlamaConfig cfg =
      config::with(LlamaConfig::tiny(), [](LlamaConfig& c) { c.num_hidden_layers = 3; });
  LlamaForCausalLM model(cfg);  // HF names: model.layers.0.self_attn.q_proj.weight, ...
  std::printf("tiny model: %lld parameters, %zu tensors\n",
              static_cast<long long>(model.num_parameters()), model.state_dict().size());

  // 3. Forward with labels (shifted inside; -100 = ignore), then backward.
  Tensor ids = from_vector(std::vector<int64_t>{1, 17, 42, 99, 7, 3}, {1, 6}, DType::I64);
  models::ModelOutput out = model.forward(ids, /*attention_mask=*/Tensor(), /*labels=*/ids);
  out.loss.backward();
  std::printf("loss %.4f, logits %s\n", out.loss.item(), shape_str(out.logits.shape()).c_str());

  // 4. Inference with a cache: prefill the prompt, then one token at a time.
  {
    NoGradGuard no_grad;
    auto cache = model.make_cache(/*batch=*/1);
    auto step = model.forward(ids, Tensor(), Tensor(), cache);
    for (int i = 0; i < 3; ++i) {
      Tensor last = step.logits.narrow(1, step.logits.size(1) - 1, 1).reshape({-1});
      Tensor next = argmax(last, 0).reshape({1, 1});
      step = model.forward(next, Tensor(), Tensor(), cache);
    }
    std::printf("cached tokens: %lld\n", static_cast<long long>(cache->length()));
  }

  // 5. Or let generation::generate, the one generation loop, drive it (greedy by default; stops
  //    at the config's eos ids; sampling, stop strings and streaming are GenerationParams too).
  generation::GenerationParams p;
  p.max_new_tokens = 5;
  p.eos_token_ids = cfg.eos_token_id;
  auto generated = generation::generate(model, {{1, 17, 42, 99, 7, 3}}, p);
  std::printf("generated %zu tokens\n", generated.tokens[0].size());

  // 6. Any HF-style config.json works the same way (keys that change the math and cannot be
  //    honoured are errors, unknown keys warnings).
  LlamaConfig from_json = LlamaConfig::from_json_string(cfg.to_json().dump());
  std::printf("JSON round-trip equal: %s\n", from_json == cfg ? "yes" : "no");
  return from_json == cfg ? 0 : 1;
}
