// tokenizer.json reading helpers (see json_util.h).
#include "lazarus/tokenizers/json_util.h"

#include <limits>

#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"

namespace lazarus::tokenizers {

Json parse_json_bounded(std::string_view text, const std::string& file, int max_depth) {
  return parse_json_text<Json>(text, file, max_depth);
}

JsonPath JsonPath::operator/(std::string_view key) const {
  return {file, path.empty() ? std::string(key) : path + "." + std::string(key)};
}

JsonPath JsonPath::operator[](std::size_t index) const {
  return {file, path + "[" + std::to_string(index) + "]"};
}

void JsonPath::fail(const std::string& what) const {
  throw LoadError(*file + ": " + (path.empty() ? std::string("(root)") : path) + ": " + what);
}

std::string json_preview(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const Json& require(const Json& obj, std::string_view key, const JsonPath& at) {
  if (!obj.is_object()) at.fail("expected an object, got " + json_preview(obj));
  auto it = obj.find(std::string(key));
  if (it == obj.end()) (at / key).fail("missing");
  return *it;
}

const Json* optional_field(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string as_string(const Json& v, const JsonPath& at) {
  if (!v.is_string()) at.fail("expected a string, got " + json_preview(v));
  return v.get<std::string>();
}

std::string get_string(const Json& obj, std::string_view key, const JsonPath& at) {
  return as_string(require(obj, key, at), at / key);
}

std::optional<std::string> get_opt_string(const Json& obj, std::string_view key,
                                          const JsonPath& at) {
  if (!obj.is_object()) at.fail("expected an object, got " + json_preview(obj));
  const Json* v = optional_field(obj, key);
  if (!v) return std::nullopt;
  return as_string(*v, at / key);
}

bool get_bool(const Json& obj, std::string_view key, const JsonPath& at, bool def) {
  const Json* v = optional_field(obj, key);
  if (!v) return def;
  if (!v->is_boolean()) (at / key).fail("expected true/false, got " + json_preview(*v));
  return v->get<bool>();
}

std::int64_t get_int(const Json& obj, std::string_view key, const JsonPath& at, std::int64_t def) {
  const Json* v = optional_field(obj, key);
  if (!v) return def;
  if (!v->is_number_integer()) (at / key).fail("expected an integer, got " + json_preview(*v));
  return v->get<std::int64_t>();
}

std::uint32_t get_id(const Json& obj, std::string_view key, const JsonPath& at) {
  const Json& v = require(obj, key, at);
  if (!v.is_number_integer()) (at / key).fail("expected a token id, got " + json_preview(v));
  const auto id = v.get<std::int64_t>();
  if (id < 0 || id >= std::numeric_limits<std::int32_t>::max()) {
    (at / key).fail("token id " + std::to_string(id) + " out of range");
  }
  return static_cast<std::uint32_t>(id);
}

double get_double(const Json& obj, std::string_view key, const JsonPath& at, double def) {
  const Json* v = optional_field(obj, key);
  if (!v) return def;
  if (!v->is_number()) (at / key).fail("expected a number, got " + json_preview(*v));
  return v->get<double>();
}

const Json& require_array(const Json& obj, std::string_view key, const JsonPath& at) {
  const Json& v = require(obj, key, at);
  if (!v.is_array()) (at / key).fail("expected an array, got " + json_preview(v));
  return v;
}

}  // namespace lazarus::tokenizers
