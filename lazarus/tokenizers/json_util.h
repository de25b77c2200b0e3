// Helpers for reading tokenizer.json with errors that name the file, the field path and the value:
// `tokenizer.json: model.merges[12]: token 'xy' not in vocab`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lazarus::tokenizers {

using Json = nlohmann::json;

/// Deepest nesting of arrays/objects accepted in a tokenizer.json.
inline constexpr int kMaxJsonDepth = 64;

/// Parses `text` as JSON after checking its nesting depth, NUL bytes and keys given twice in one
/// object (lazarus::parse_json_text); throws LoadError naming `file`.
Json parse_json_bounded(std::string_view text, const std::string& file,
                        int max_depth = kMaxJsonDepth);

/// Where a JSON value sits, for error messages: the file and the dotted field path.
struct JsonPath {
  const std::string* file;
  std::string path;

  JsonPath operator/(std::string_view key) const;
  JsonPath operator[](std::size_t index) const;
  /// Throws LoadError "<file>: <path>: <what>".
  [[noreturn]] void fail(const std::string& what) const;
};

/// Short printable form of a JSON value for messages (truncated).
std::string json_preview(const Json& j);

const Json& require(const Json& obj, std::string_view key, const JsonPath& at);
const Json* optional_field(const Json& obj, std::string_view key);  // null when absent or null
std::string get_string(const Json& obj, std::string_view key, const JsonPath& at);
std::optional<std::string> get_opt_string(const Json& obj, std::string_view key,
                                          const JsonPath& at);
bool get_bool(const Json& obj, std::string_view key, const JsonPath& at, bool def);
std::int64_t get_int(const Json& obj, std::string_view key, const JsonPath& at, std::int64_t def);
std::uint32_t get_id(const Json& obj, std::string_view key, const JsonPath& at);
double get_double(const Json& obj, std::string_view key, const JsonPath& at, double def);
const Json& require_array(const Json& obj, std::string_view key, const JsonPath& at);
/// The value's string, or a LoadError when it is not one.
std::string as_string(const Json& v, const JsonPath& at);

}  // namespace lazarus::tokenizers
