// Strict parsing of numeric CLI options. CLI11 converts with strtoull/strtoll in base 0, so
// "-1" wraps to 2^64-1 in an unsigned option, an out-of-range value saturates silently and
// "010" is octal; these validators run on the text first, accept only a plain decimal number
// in the option's range and hand CLI11 the normalised text.
#pragma once

#include <cstdint>
#include <limits>

#include <CLI/CLI.hpp>

namespace lazarus::cli {

/// A decimal integer in [lo, hi]; otherwise "--flag: must be an integer in [lo, hi], got \"v\"".
CLI::Validator integer_in(int64_t lo, int64_t hi = std::numeric_limits<int64_t>::max());
/// A decimal integer in [0, 2^64 - 1] (an unsigned 64-bit option such as --seed).
CLI::Validator unsigned_integer();
/// A finite decimal number in [lo, hi].
CLI::Validator number_in(double lo, double hi);

/// True when `opt` was registered with one of the validators above: a --train-config value for it
/// must be a JSON number, not a string.
bool is_numeric_option(const CLI::Option* opt);

}  // namespace lazarus::cli
