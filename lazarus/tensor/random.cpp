// Seeded random tensors on top of the backend's counter-based fill.
#include "lazarus/tensor/random.h"

#include <mutex>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/backend.h"

namespace lazarus {

namespace {
std::mutex g_gen_mutex;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) {
  std::lock_guard lock(g_gen_mutex);
  default_generator().set_state(seed, 0);
}

namespace {
Tensor fill_random(Shape shape, DType dtype, RandomKind kind, double a, double b, Generator* gen,
                   int64_t int_low = 0, uint64_t int_range = 0) {
  Tensor out =
      empty(std::move(shape), kind == RandomKind::IntUniform ? DType::I64 : compute_dtype(dtype));
  uint64_t n = uint64_t(out.numel());
  uint64_t off;
  uint64_t seed;
  {
    std::lock_guard lock(g_gen_mutex);
    Generator& g = gen ? *gen : default_generator();
    // Normal draws use two counters per element (Box-Muller).
    off = g.advance(kind == RandomKind::Normal ? 2 * n : n);
    seed = g.seed();
  }
  if (n > 0) backend_for(Device::CPU).random(out, kind, seed, off, a, b, int_low, int_range);
  return out.dtype() == dtype || kind == RandomKind::IntUniform ? out : out.to(dtype);
}
}  // namespace

Tensor rand(Shape shape, DType dtype, double low, double high, Generator* gen) {
  if (!is_floating(dtype)) {
    throw DTypeError(fmt::format("[rand] dtype must be floating, got {}", dtype_name(dtype)));
  }
  if (!(low <= high)) throw IndexError(fmt::format("[rand] low {} > high {}", low, high));
  return fill_random(std::move(shape), dtype, RandomKind::Uniform, low, high, gen);
}

Tensor randn(Shape shape, DType dtype, double mean, double std, Generator* gen) {
  if (!is_floating(dtype)) {
    throw DTypeError(fmt::format("[randn] dtype must be floating, got {}", dtype_name(dtype)));
  }
  if (!(std >= 0)) throw IndexError(fmt::format("[randn] std must be >= 0, got {}", std));
  return fill_random(std::move(shape), dtype, RandomKind::Normal, mean, std, gen);
}

Tensor randint(int64_t low, int64_t high, Shape shape, Generator* gen) {
  if (low >= high) throw IndexError(fmt::format("[randint] low {} must be < high {}", low, high));
  uint64_t range = uint64_t(high) - uint64_t(low);  // exact even when high - low overflows int64
  return fill_random(std::move(shape), DType::I64, RandomKind::IntUniform, 0.0, 0.0, gen, low,
                     range);
}

}  // namespace lazarus
