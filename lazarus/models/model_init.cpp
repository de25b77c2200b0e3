// Model initialisation (see model_init.h).
#include "lazarus/models/model_init.h"

#include <set>
#include <string>

#include "lazarus/components/ffn.h"
#include "lazarus/nn/init.h"
#include "lazarus/nn/layers.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::models {

void init_weights(nn::Module& model, double std, uint64_t seed) {
  if (nn::init::init_skipped()) return;  // every parameter is about to be loaded
  // Gemma norms store (scale - 1): their identity is 0.
  std::set<const Tensor*> offset_norms;
  for (auto& [name, m] : model.named_modules()) {
    auto* n = dynamic_cast<components::Norm*>(m);
    if (n && n->config().type == config::NormType::GemmaRMSNorm) offset_norms.insert(&n->weight);
  }
  Generator gen(seed);
  NoGradGuard ng;
  for (auto& [name, p] : model.named_parameters()) {
    bool rg = p->requires_grad();
    bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    bool is_norm = name.find("norm") != std::string::npos;
    Tensor v;
    if (is_bias || offset_norms.count(p))
      v = zeros(p->shape(), p->dtype());
    else if (is_norm)
      v = ones(p->shape(), p->dtype());
    else
      v = nn::init::normal(p->shape(), std, p->dtype(), &gen);
    *p = v.detach();
    if (rg) p->requires_grad_(true);
  }
  // A padding row starts at zero (torch's nn.Embedding, HF's _init_weights).
  for (auto& [name, m] : model.named_modules())
    if (auto* e = dynamic_cast<nn::Embedding*>(m)) e->zero_padding_row();
}

}  // namespace lazarus::models
