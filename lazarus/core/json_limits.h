// Bounding JSON input before parsing: nesting depth is checked with a linear scan so a hostile
// file cannot drive a parser (or the destructor of what it built) into deep recursion; a NUL byte
// (which nlohmann's parser takes as the end of input, accepting whatever came before it) and a key
// given twice in one object (nlohmann keeps the last silently) are errors.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/core/error.h"

namespace lazarus {

/// Throws E("<where>: JSON nested deeper than <limit> levels") when brackets outside strings nest
/// deeper than `limit`, and E("<where>: NUL byte at offset N ...") for any NUL byte (JSON text has
/// none: not between tokens, and not raw inside a string).
template <class E = LoadError>
void check_json_depth(const char* p, size_t n, int limit, const std::string& where) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c == '\0') {
      throw E(fmt::format("{}: NUL byte at offset {} (JSON text cannot hold one: a truncated or "
                          "padded file?)",
                          where, i));
    }
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
        throw E(fmt::format("{}: JSON nested deeper than {} levels", where, limit));
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

/// Parses JSON text read from `where` (a file name, or "file: line N"): checks depth and NUL bytes
/// as check_json_depth does, and refuses a key that appears twice in one object (which of the two
/// a reader takes differs between libraries). Throws E naming `where`.
template <class Json = nlohmann::json, class E = LoadError>
Json parse_json_text(std::string_view text, const std::string& where, int max_depth) {
  check_json_depth<E>(text.data(), text.size(), max_depth, where);
  std::vector<std::unordered_set<std::string>> keys;
  std::string duplicate;
  auto callback = [&](int, nlohmann::detail::parse_event_t event, Json& parsed) {
    using Event = nlohmann::detail::parse_event_t;
    if (event == Event::object_start) {
      keys.emplace_back();
    } else if (event == Event::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == Event::key && !keys.empty() && duplicate.empty()) {
      const std::string& k = parsed.template get_ref<const std::string&>();
      if (!keys.back().insert(k).second) duplicate = k;
    }
    return true;
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's text starts "[json.exception.parse_error.101] parse error at line 1, column 5:
    // ...": keep what it says, not its tag.
    std::string_view msg = e.what();
    if (!msg.empty() && msg.front() == '[') {
      size_t close = msg.find("] ");
      if (close != std::string_view::npos) msg.remove_prefix(close + 2);
    }
    throw E(fmt::format("{}: invalid JSON: {}", where, msg));
  }
  if (!duplicate.empty())
    throw E(fmt::format("{}: key '{}' appears twice in one object", where, duplicate));
  return j;
}

}  // namespace lazarus
