// Parameter initializers (PyTorch's defaults and the ones LLM code uses), drawing from the engine's
// seeded generator.
#pragma once

#include "lazarus/tensor/random.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::nn::init {

/// U(-bound, bound), bound = 1/sqrt(fan_in): torch.nn.Linear's default for weight and bias.
Tensor linear_default(Shape shape, int64_t fan_in, DType dtype = DType::F32,
                      Generator* gen = nullptr);
/// N(0, std^2).
Tensor normal(Shape shape, double std, DType dtype = DType::F32, Generator* gen = nullptr);
/// U(low, high).
Tensor uniform(Shape shape, double low, double high, DType dtype = DType::F32,
               Generator* gen = nullptr);
/// Xavier/Glorot uniform: bound = gain * sqrt(6 / (fan_in + fan_out)) for a (fan_out, fan_in)
/// weight.
Tensor xavier_uniform(int64_t fan_out, int64_t fan_in, double gain = 1.0, DType dtype = DType::F32,
                      Generator* gen = nullptr);

/// While one is alive on this thread, the initializers above return tensors of the right shape and
/// dtype without drawing (their contents are unspecified) and models::init_weights does nothing:
/// for a model whose every parameter is about to be replaced by loaded weights. io::load_pretrained
/// builds its model under one, then loads strictly (a parameter the checkpoint lacks is an error),
/// so no unspecified value survives. Nests; other threads are unaffected.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool prev_;
};
/// True inside a SkipInitGuard on this thread.
bool init_skipped();

}  // namespace lazarus::nn::init
