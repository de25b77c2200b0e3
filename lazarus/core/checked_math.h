// Overflow-checked size arithmetic: a product or sum of sizes from a file or a flag that does not
// fit in int64 is an error naming what was being computed, never a wrapped value.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus {

/// a * b; ConfigError "<what>: a x b overflows 64-bit integers" when it does not fit.
inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw ConfigError(fmt::format("{}: {} x {} overflows 64-bit integers", what, a, b));
  return r;
}

/// a + b; ConfigError "<what>: a + b overflows 64-bit integers" when it does not fit.
inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    throw ConfigError(fmt::format("{}: {} + {} overflows 64-bit integers", what, a, b));
  return r;
}

/// The product of every factor, checked.
inline int64_t checked_product(std::initializer_list<int64_t> fs, std::string_view what) {
  int64_t r = 1;
  for (int64_t f : fs) r = checked_mul(r, f, what);
  return r;
}

/// The sum of every term, checked.
inline int64_t checked_sum(std::initializer_list<int64_t> ts, std::string_view what) {
  int64_t r = 0;
  for (int64_t t : ts) r = checked_add(r, t, what);
  return r;
}

}  // namespace lazarus
