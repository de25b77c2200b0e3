// Initializers (see init.h).
#include "lazarus/nn/init.h"

#include <cmath>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::nn::init {

namespace {
thread_local bool skip_init = false;
}  // namespace

SkipInitGuard::SkipInitGuard() : prev_(skip_init) { skip_init = true; }
SkipInitGuard::~SkipInitGuard() { skip_init = prev_; }
bool init_skipped() { return skip_init; }

Tensor linear_default(Shape shape, int64_t fan_in, DType dtype, Generator* gen) {
  if (fan_in <= 0) throw ConfigError(fmt::format("[init] fan_in must be positive, got {}", fan_in));
  if (skip_init) return empty(std::move(shape), dtype);
  double bound = 1.0 / std::sqrt(double(fan_in));
  return rand(std::move(shape), dtype, -bound, bound, gen);
}

Tensor normal(Shape shape, double std, DType dtype, Generator* gen) {
  if (skip_init) return empty(std::move(shape), dtype);
  return randn(std::move(shape), dtype, 0.0, std, gen);
}

Tensor uniform(Shape shape, double low, double high, DType dtype, Generator* gen) {
  if (skip_init) return empty(std::move(shape), dtype);
  return rand(std::move(shape), dtype, low, high, gen);
}

Tensor xavier_uniform(int64_t fan_out, int64_t fan_in, double gain, DType dtype, Generator* gen) {
  if (fan_in + fan_out <= 0) throw ConfigError("[init] xavier_uniform needs positive fans");
  if (skip_init) return empty({fan_out, fan_in}, dtype);
  double bound = gain * std::sqrt(6.0 / double(fan_in + fan_out));
  return rand({fan_out, fan_in}, dtype, -bound, bound, gen);
}

}  // namespace lazarus::nn::init
