// LMHead: hidden states -> vocabulary logits, with its own weight ("lm_head.weight") or tied to the
// token embedding (then it owns no parameter and reads the embedding's weight).
#pragma once

#include "lazarus/config/model_config.h"
#include "lazarus/nn/module.h"

namespace lazarus::heads {

struct HeadOutput {
  Tensor logits;  // (B, T, V)
};

class LMHead : public nn::Module {
 public:
  /// Untied: allocates weight (V, D) (+ bias (V)). Tied: `tied_weight` must point at the
  /// embedding's weight slot (read at each forward, so loading new weights keeps the tie).
  LMHead(int64_t hidden_size, int64_t vocab_size, const config::HeadConfig& cfg,
         Tensor* tied_weight, DType dtype = DType::F32);
  /// h (B, T, D) -> HeadOutput{logits (B, T, V)}.
  HeadOutput forward(const Tensor& h) const;
  bool tied() const { return tied_ != nullptr; }
  /// The matrix in use (the embedding's when tied).
  const Tensor& weight_matrix() const { return tied_ ? *tied_ : weight; }

  Tensor weight;  // untied only
  Tensor bias;

 private:
  Tensor* tied_ = nullptr;
};

}  // namespace lazarus::heads
