// Fits y = 3x - 2 with autograd and plain gradient descent: the smallest end-to-end use of the
// engine. Build: part of the default build (target `example_fit_linear`).
#include <cstdio>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

int main() {
  using namespace lazarus;
  manual_seed(42);
  Tensor x = randn({256, 1});
  Tensor y = x * 3.0 - 2.0 + randn({256, 1}, DType::F32, 0.0, 0.01);
  Tensor w = zeros({1, 1}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  for (int step = 0; step < 200; ++step) {
    Tensor loss = mean(square(linear(x, w, b) - y));
    w.zero_grad();
    b.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;
      w = (w - w.grad() * 0.1).requires_grad_();
      b = (b - b.grad() * 0.1).requires_grad_();
    }
    if (step % 50 == 0) std::printf("step %3d  loss %.6f\n", step, loss.item());
  }
  std::printf("w = %.4f (want 3), b = %.4f (want -2)\n", w.item(), b.item());
  return 0;
}
