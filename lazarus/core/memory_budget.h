// Memory planning: the bytes a model or a training run will need are compared with what the
// machine can give before anything is allocated, so a config with 10^9 layers or a batch of 10^9
// sequences is refused with both numbers instead of ending in std::bad_alloc.
#pragma once

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus {

/// "1.50 GiB".
inline std::string format_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024 && u < 6) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.2f} {}", b, units[u]);
}

/// The memory this process may plan for, in bytes: LAZARUS_MAX_MEMORY when set (bytes, or a
/// number with a K, M, G or T suffix, powers of 1024), else MemAvailable from /proc/meminfo; 0
/// when neither is known (no check). `source` receives where the number came from. ConfigError
/// on a malformed LAZARUS_MAX_MEMORY.
inline uint64_t memory_limit_bytes(std::string* source = nullptr) {
  if (const char* env = std::getenv("LAZARUS_MAX_MEMORY"); env && *env) {
    const std::string s(env);
    const char* end = s.c_str() + s.size();
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.c_str(), end, v, 10);
    int shift = 0;
    const std::string rest(p, end);
    if (rest == "K" || rest == "k") shift = 10;
    else if (rest == "M" || rest == "m") shift = 20;
    else if (rest == "G" || rest == "g") shift = 30;
    else if (rest == "T" || rest == "t") shift = 40;
    else if (!rest.empty()) ec = std::errc::invalid_argument;
    if (ec != std::errc() || p == s.c_str() || (shift && v > (UINT64_MAX >> shift)))
      throw ConfigError(fmt::format(
          "LAZARUS_MAX_MEMORY: must be a byte count such as 8000000000 or 8G, got \"{}\"", s));
    if (source) *source = fmt::format("LAZARUS_MAX_MEMORY={}", s);
    return v << shift;
  }
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (f >> key >> kb) {
    std::getline(f, unit);
    if (key == "MemAvailable:") {
      if (source) *source = "MemAvailable in /proc/meminfo; set LAZARUS_MAX_MEMORY to override";
      return kb * 1024;
    }
  }
  return 0;
}

/// Throws LimitError "<what> needs N but only M is available (<source>)" when `need_bytes`
/// exceeds memory_limit_bytes(). `what` names the op and the fields or flags responsible.
inline void check_memory(double need_bytes, const std::string& what) {
  std::string source;
  uint64_t limit = memory_limit_bytes(&source);
  if (limit == 0 || need_bytes <= double(limit)) return;
  throw LimitError(fmt::format("{} needs {} ({:.0f} bytes) but only {} ({} bytes) is available ({})",
                               what, format_bytes(need_bytes), need_bytes,
                               format_bytes(double(limit)), limit, source));
}

}  // namespace lazarus
