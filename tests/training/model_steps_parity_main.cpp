// Three training steps of a tiny Llama and a tiny Mamba — the causal-LM loss, backward, clipping
// by global norm, AdamW with decoupled decay (none on norms and biases) under a warm-up + cosine
// schedule — written as JSON for tests/reference/torch_model_steps.py, which checks each step
// from our own state with the PyTorch references (torch_llama.py / torch_mamba.py) and
// torch.optim.AdamW. Every step records the parameters it starts from, the gradients (before and
// after clipping), the norm, the loss and the learning rate; the parameters after the last step
// close the run.
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lazarus/families/llama/llama.h"
#include "lazarus/families/mamba/mamba.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "lazarus/training/optimizer.h"

using namespace lazarus;
using json = nlohmann::json;

namespace {

json values(const Tensor& t) { return t.to(DType::F64).contiguous().to_vector<double>(); }

template <class Model, class Config>
json run(const std::string& name, const Config& cfg) {
  manual_seed(7);
  Model model(cfg);
  Generator gen(99);
  const int64_t B = 2, T = 9;
  Tensor ids = randint(0, cfg.vocab_size, {B, T}, &gen);
  std::vector<int64_t> labels = ids.to_vector<int64_t>();
  labels[4] = -100;  // an ignored label
  Tensor lab = from_vector(labels, {B, T}, DType::I64);
  json out;
  out["name"] = name;
  out["config"] = cfg.to_json();
  out["ids"] = ids.to_vector<int64_t>();
  out["labels"] = labels;
  out["shape"] = {B, T};
  for (auto& [n, t] : model.named_parameters())
    out["init"][n] = {{"shape", t->shape()}, {"values", values(*t)}};

  const double base_lr = 3e-3;
  training::AdamWOptions o;
  o.lr = base_lr;
  o.beta2 = 0.95;
  training::AdamW opt(training::decay_groups(model.named_parameters(), 0.1), o);
  std::vector<Tensor> params;
  for (Tensor* p : model.parameters()) params.push_back(*p);
  for (int step = 0; step < 3; ++step) {
    json s;
    for (auto& [n, t] : model.named_parameters()) s["params"][n] = values(*t);
    opt.set_lr(training::schedule_lr(training::ScheduleType::Cosine, base_lr, step + 1, 1, 4));
    // The trainers' path: the LM head fused into the loss (no logits tensor).
    Tensor loss = model.loss(ids, lab);
    opt.zero_grad();
    loss.backward();
    for (auto& [n, t] : model.named_parameters()) s["grad"][n] = values(t->grad());
    s["norm"] = training::clip_grad_norm(params, 0.5);
    for (auto& [n, t] : model.named_parameters()) s["clipped_grad"][n] = values(t->grad());
    opt.step();
    s["loss"] = loss.item();
    s["lr"] = opt.lr();
    out["steps"].push_back(std::move(s));
  }
  for (auto& [n, t] : model.named_parameters()) out["final"][n] = values(*t);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.json\n", argv[0]);
    return 2;
  }
  families::LlamaConfig llama = config::with(families::LlamaConfig::tiny(), [](auto& c) {
    c.vocab_size = 64;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.tie_word_embeddings = false;
  });
  families::MambaConfig mamba = families::MambaConfig::tiny();
  mamba.vocab_size = 64;
  mamba.hidden_size = 32;
  mamba.state_size = 8;
  mamba.num_hidden_layers = 2;
  json all = {run<families::LlamaForCausalLM>("llama", llama),
              run<families::MambaForCausalLM>("mamba", mamba)};
  std::ofstream(argv[1]) << all.dump();
  return 0;
}
