// Language-model head (see lm_head.h).
#include "lazarus/heads/lm_head.h"

#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::heads {

LMHead::LMHead(int64_t D, int64_t V, const config::HeadConfig& cfg, Tensor* tied_weight,
               DType dtype) {
  cfg.validate("head");
  if (cfg.tie_word_embeddings) {
    if (!tied_weight)
      throw ConfigError("head.tie_word_embeddings: true but no embedding weight to tie to");
    tied_ = tied_weight;
    return;
  }
  weight = nn::init::linear_default({V, D}, D, dtype);
  register_parameter("weight", &weight);
  if (cfg.bias) {
    bias = zeros({V}, dtype);
    register_parameter("bias", &bias);
  }
}

HeadOutput LMHead::forward(const Tensor& h) const {
  // h (B, T, D) -> (B, T, V)
  return {linear(h, weight_matrix(), bias)};
}

}  // namespace lazarus::heads
