// Writes a small training run (an MLP classifier and a tiny LM-style loss) as JSON for
// tests/reference/torch_training.py to check in PyTorch: three optimizer steps with gradient
// clipping and a warm-up + cosine schedule (AdamW, and SGD with Nesterov momentum), each step's
// starting parameters, loss and gradients, and the parameters after the last; the causal-LM loss
// from logits and fused with the LM head.
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lazarus/losses/losses.h"
#include "lazarus/nn/layers.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/training/optimizer.h"

using namespace lazarus;
using json = nlohmann::json;

namespace {

json values(const Tensor& t) { return t.to_vector<double>(); }

struct MLP : nn::Module {
  MLP() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(6, 16));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(16));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(16, 5));
  }
  Tensor forward(const Tensor& x) { return fc2->forward(gelu(norm->forward(fc1->forward(x)))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::LayerNorm> norm;
};

json run(const std::string& optimizer) {
  manual_seed(11);
  MLP m;
  Tensor x = randn({8, 6});
  std::vector<int64_t> y = {0, 3, -100, 4, 1, 1, -100, 2};
  Tensor tgt = from_vector<int64_t>(y, {8}, DType::I64);
  json out;
  out["optimizer"] = optimizer;
  out["x"] = values(x);
  out["y"] = y;
  for (auto& [n, t] : m.named_parameters())
    out["init"][n] = {{"shape", t->shape()}, {"values", values(*t)}};
  std::unique_ptr<training::Optimizer> opt;
  double base_lr = 0.05;
  if (optimizer == "adamw") {
    training::AdamWOptions o;
    o.lr = base_lr;
    o.beta2 = 0.99;
    opt = std::make_unique<training::AdamW>(training::decay_groups(m.named_parameters(), 0.1), o);
  } else {
    training::SGDOptions o;
    o.lr = base_lr;
    o.momentum = 0.9;
    o.nesterov = true;
    opt = std::make_unique<training::SGD>(training::decay_groups(m.named_parameters(), 0.01), o);
  }
  std::vector<Tensor> params;
  for (Tensor* p : m.parameters()) params.push_back(*p);
  // Each step's starting parameters, gradients before and after clipping, norm, loss and lr:
  // torch_training.py checks every step from our own state.
  for (int step = 0; step < 3; ++step) {
    json s;
    for (auto& [n, t] : m.named_parameters()) s["params"][n] = values(*t);
    opt->set_lr(training::schedule_lr(training::ScheduleType::Cosine, base_lr, step + 1, 1, 4));
    Tensor loss = losses::cross_entropy(m.forward(x), tgt, -100, 0.1);
    opt->zero_grad();
    loss.backward();
    for (auto& [n, t] : m.named_parameters()) s["grad"][n] = values(t->grad());
    s["norm"] = training::clip_grad_norm(params, 0.5);
    for (auto& [n, t] : m.named_parameters()) s["clipped_grad"][n] = values(t->grad());
    opt->step();
    s["loss"] = loss.item();
    s["lr"] = opt->lr();
    out["steps"].push_back(std::move(s));
  }
  for (auto& [n, t] : m.named_parameters()) out["final"][n] = values(*t);
  // The causal-LM loss on a tiny (B, T, V) batch with ignored labels, and its gradient.
  Tensor logits = randn({2, 5, 7}).requires_grad_();
  std::vector<int64_t> labels = {1, 2, 3, -100, 4, 0, 6, 6, 5, -100};
  Tensor lab = from_vector<int64_t>(labels, {2, 5}, DType::I64);
  Tensor lm = losses::causal_lm_loss(logits, lab);
  lm.backward();
  out["lm"] = {{"logits", values(logits)},
               {"labels", labels},
               {"loss", lm.item()},
               {"grad", values(logits.grad())}};
  // The same loss with the LM head fused in (bias, label smoothing, 3-row chunks).
  Tensor hidden = randn({2, 5, 4}).requires_grad_();
  Tensor head_w = randn({7, 4}).requires_grad_(), head_b = randn({7}).requires_grad_();
  Tensor fl = losses::causal_lm_head_loss(hidden, head_w, head_b, lab, 0.1, 3);
  fl.backward();
  out["lm_head"] = {{"hidden", values(hidden)},
                    {"weight", values(head_w)},
                    {"bias", values(head_b)},
                    {"loss", fl.item()},
                    {"grad_hidden", values(hidden.grad())},
                    {"grad_weight", values(head_w.grad())},
                    {"grad_bias", values(head_b.grad())}};
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.json\n", argv[0]);
    return 2;
  }
  json all = {run("adamw"), run("sgd")};
  std::ofstream(argv[1]) << all.dump();
  return 0;
}
