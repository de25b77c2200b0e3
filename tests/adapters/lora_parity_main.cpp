// LoRA parity driver: tiny Llama models with LoRA adapters (random A and B, so every path
// matters), forward with labels and backward. Per case it writes config.json (HF form), the
// adapter in PEFT's format (adapter_config.json + adapter_model.safetensors, via
// save_peft_adapter) and case.safetensors (base weights, inputs, logits, loss, the gradient of
// every adapter matrix). tests/reference/torch_lora.py rebuilds the model in torch from those
// files with a LoRA written to PEFT's semantics and compares.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "lazarus/adapters/lora.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using lazarus::families::LlamaConfig;
using lazarus::families::LlamaForCausalLM;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;
  LlamaConfig cfg;
  adapters::LoraConfig lora;
  bool train_mode = true;
};

int run_case(const fs::path& root, const Case& c) {
  fs::path dir = root / c.name;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << c.cfg.to_json().dump(2);
  LlamaForCausalLM model(c.cfg);
  Generator gen(7);
  nn::StateDict sd = model.state_dict();
  for (auto& [name, t] : sd) {
    bool norm = name.find("norm") != std::string::npos;
    t = norm ? randn(t.shape(), DType::F32, 1.0, 0.2, &gen)
             : randn(t.shape(), DType::F32, 0.0, 0.15, &gen);
  }
  model.load_state_dict(sd);
  std::map<std::string, Tensor> out;
  for (auto& [name, t] : model.state_dict()) out["param." + name] = t;

  adapters::apply_lora(model, c.lora, /*seed=*/3);
  // B starts at zero (PEFT); random B makes A's gradient non-zero and the path visible.
  for (auto& [name, lin] : adapters::lora_layers(model)) {
    auto* ad = static_cast<adapters::LoraAdapter*>(lin->adapter().get());
    ad->B = randn(ad->B.shape(), DType::F32, 0.0, 0.2, &gen).requires_grad_(true);
  }
  if (!c.train_mode) model.eval();
  adapters::save_peft_adapter(model, c.lora, dir.string(), "tiny-llama");

  const int64_t B = 2, T = 10, V = c.cfg.vocab_size;
  Tensor ids = randint(0, V, {B, T}, &gen);
  auto o = model.forward(ids, Tensor(), ids);
  o.loss.backward();
  for (auto& [name, p] : model.named_parameters()) {
    bool adapter = name.find(".lora.") != std::string::npos;
    if (adapter != p->grad().defined()) {
      std::fprintf(stderr, "%s: %s has %s gradient\n", c.name.c_str(), name.c_str(),
                   adapter ? "no" : "a (frozen base!)");
      return 1;
    }
  }
  out["input_ids"] = ids;
  out["out.logits"] = o.logits;
  out["out.loss"] = o.loss.reshape({1});
  for (auto& [name, lin] : adapters::lora_layers(model)) {
    auto* ad = static_cast<adapters::LoraAdapter*>(lin->adapter().get());
    out["grad." + name + ".lora_A"] = ad->A.grad();
    out["grad." + name + ".lora_B"] = ad->B.grad();
  }
  formats::save_safetensors((dir / "case.safetensors").string(), out);
  std::printf("case %s: loss %.6f, %zu adapted layers, %lld trainable parameters\n", c.name.c_str(),
              o.loss.item(), adapters::lora_layers(model).size(),
              (long long)model.num_parameters(true));
  return 0;
}

LlamaConfig base() {
  LlamaConfig c = LlamaConfig::tiny();
  c.vocab_size = 96;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::vector<Case> cases;
  {
    adapters::LoraConfig l;  // every projection, alpha / r = 2
    l.r = 4;
    l.alpha = 8;
    cases.push_back({"all_projections", base(), l});
  }
  {
    LlamaConfig c = base();  // tied head, biases; q/v only, rsLoRA; eval mode: dropout is off
    c.tie_word_embeddings = true;
    c.attention_bias = true;
    adapters::LoraConfig l;
    l.r = 2;
    l.alpha = 5;
    l.dropout = 0.3;
    l.use_rslora = true;
    l.target_modules = {"q_proj", "v_proj"};
    cases.push_back({"qv_rslora_eval", c, l, false});
  }
  {
    adapters::LoraConfig l;  // a regex over module names (PEFT's string form): layer 1's MLP
    l.r = 3;
    l.alpha = 3;
    l.target_regex = R"(.*layers\.1\.mlp\..*_proj)";
    cases.push_back({"regex_mlp", base(), l});
  }
  for (auto& c : cases)
    if (run_case(argv[1], c) != 0) return 1;
  return 0;
}
