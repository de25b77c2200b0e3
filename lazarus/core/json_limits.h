// Bounding JSON input before parsing: nesting depth is checked with a linear scan so a hostile
// file cannot drive a parser (or the destructor of what it built) into deep recursion.
#pragma once

#include <cstddef>
#include <string>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus {

/// Throws LoadError("<where>: JSON nested deeper than <limit> levels") when brackets outside
/// strings nest deeper than `limit`.
inline void check_json_depth(const char* p, size_t n, int limit, const std::string& where) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit)
        throw LoadError(fmt::format("{}: JSON nested deeper than {} levels", where, limit));
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

}  // namespace lazarus
