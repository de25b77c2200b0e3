// Strict numeric option validators (see number_flags.h).
#include "lazarus/cli/number_flags.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace lazarus::cli {

namespace {

constexpr const char* kIntegerName = "INTEGER";
constexpr const char* kNumberName = "NUMBER";

template <typename T>
bool parse_decimal(const std::string& s, T& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto [p, ec] = std::from_chars(b, e, out, 10);
  return ec == std::errc() && p == e;
}

}  // namespace

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  CLI::Validator v(
      [lo, hi](std::string& s) -> std::string {
        int64_t x = 0;
        if (!parse_decimal(s, x) || x < lo || x > hi)
          return fmt::format("must be an integer in [{}, {}], got \"{}\"", lo, hi, s);
        s = std::to_string(x);
        return "";
      },
      fmt::format("INT in [{}, {}]", lo, hi), kIntegerName);
  return v;
}

CLI::Validator unsigned_integer() {
  CLI::Validator v(
      [](std::string& s) -> std::string {
        uint64_t x = 0;
        if (!parse_decimal(s, x))
          return fmt::format("must be an integer in [0, {}], got \"{}\"",
                             std::numeric_limits<uint64_t>::max(), s);
        s = std::to_string(x);
        return "";
      },
      "UINT in [0, 2^64-1]", kIntegerName);
  return v;
}

CLI::Validator number_in(double lo, double hi) {
  CLI::Validator v(
      [lo, hi](std::string& s) -> std::string {
        char* end = nullptr;
        double x = s.empty() || std::isspace((unsigned char)s[0]) ? NAN : std::strtod(s.c_str(), &end);
        bool ok = end && *end == '\0' && std::isfinite(x) && x >= lo && x <= hi;
        // strtod also reads hex floats, "inf" and "nan": only a plain decimal is accepted.
        for (char c : s)
          if (!(std::isdigit((unsigned char)c) || c == '.' || c == '-' || c == '+' || c == 'e' ||
                c == 'E'))
            ok = false;
        if (!ok) return fmt::format("must be a number in [{}, {}], got \"{}\"", lo, hi, s);
        return "";
      },
      fmt::format("FLOAT in [{}, {}]", lo, hi), kNumberName);
  return v;
}

bool is_numeric_option(const CLI::Option* opt) {
  // CLI11 has no public list of an option's validators; get_validator throws when absent.
  for (const char* name : {kIntegerName, kNumberName}) {
    try {
      if (const_cast<CLI::Option*>(opt)->get_validator(name)) return true;
    } catch (const CLI::Error&) {
    }
  }
  return false;
}

}  // namespace lazarus::cli
