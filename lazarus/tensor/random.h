// Seeded random tensors. Values come from a counter-based generator (Philox-style keyed hash of
// the element index), so the stream does not depend on the thread count or on chunking.
#pragma once

#include <cstdint>

#include "lazarus/tensor/tensor.h"

namespace lazarus {

/// A seeded stream. Each call advances the counter by the number of values drawn.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  /// Reserves n counters, returns the first.
  uint64_t advance(uint64_t n) {
    uint64_t o = offset_;
    offset_ += n;
    return o;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

/// The process-wide default generator (seed 0 until manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

/// Uniform in [low, high).
Tensor rand(Shape shape, DType dtype = DType::F32, double low = 0.0, double high = 1.0,
            Generator* gen = nullptr);
/// Normal(mean, std) (Box-Muller on pairs of counters).
Tensor randn(Shape shape, DType dtype = DType::F32, double mean = 0.0, double std = 1.0,
             Generator* gen = nullptr);
/// Uniform integers in [low, high), I64.
Tensor randint(int64_t low, int64_t high, Shape shape, Generator* gen = nullptr);

}  // namespace lazarus
