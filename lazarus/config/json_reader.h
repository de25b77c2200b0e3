// Strict reading of a JSON object into a config: every key read is checked for type (errors name
// the field path), and finish() reports every key nobody read.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/config/enums.h"
#include "lazarus/core/error.h"

namespace lazarus::config {

using Json = nlohmann::ordered_json;

/// Reads fields of one JSON object at `path` ("backbone.block.attention").
class JsonReader {
 public:
  JsonReader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j.is_object()) {
      throw ConfigError(fmt::format("{}: expected an object, got {}", where(), j.type_name()));
    }
  }

  /// Path of a child field.
  std::string field(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  bool has(const std::string& key) const { return j_.contains(key); }
  const Json& raw(const std::string& key) {
    seen_.insert(key);
    return j_.at(key);
  }
  /// True when `key` was read or skipped.
  bool has_read(const std::string& key) const { return seen_.count(key) != 0; }
  /// Marks a key as accepted without reading it.
  void skip(const std::string& key) { seen_.insert(key); }

  /// Reads `key` into `out` when present (out keeps its default otherwise).
  template <class T>
  void get(const std::string& key, T& out) {
    if (!j_.contains(key)) return;
    seen_.insert(key);
    out = convert<T>(j_.at(key), field(key));
  }
  /// Reads `key`, which must be present.
  template <class T>
  void require(const std::string& key, T& out) {
    if (!j_.contains(key)) throw ConfigError(fmt::format("{}: missing required field", field(key)));
    get(key, out);
  }

  /// Throws ConfigError listing every key not read.
  void finish() const {
    std::vector<std::string> unknown;
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (!seen_.count(it.key())) unknown.push_back(it.key());
    }
    if (unknown.empty()) return;
    std::string list;
    for (auto& k : unknown) list += (list.empty() ? "'" : ", '") + k + "'";
    throw ConfigError(
        fmt::format("{}: unknown key{} {}", where(), unknown.size() > 1 ? "s" : "", list));
  }

  template <class T>
  static T convert(const Json& v, const std::string& path) {
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) type_error(path, "a boolean", v);
      return v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) type_error(path, "an integer", v);
      return v.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) type_error(path, "a number", v);
      return v.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) type_error(path, "a string", v);
      return v.get<std::string>();
    } else if constexpr (std::is_enum_v<T>) {
      if (!v.is_string()) type_error(path, "a string", v);
      return enum_from_string<T>(v.get<std::string>(), path);
    } else if constexpr (is_optional<T>::value) {
      if (v.is_null()) return T{};
      return T{convert<typename T::value_type>(v, path)};
    } else if constexpr (is_vector<T>::value) {
      if (!v.is_array()) type_error(path, "an array", v);
      T out;
      for (size_t i = 0; i < v.size(); ++i) {
        out.push_back(convert<typename T::value_type>(v[i], fmt::format("{}[{}]", path, i)));
      }
      return out;
    } else {
      return T::from_json(v, path);  // nested config
    }
  }

 private:
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};
  template <class T>
  struct is_vector : std::false_type {};
  template <class T>
  struct is_vector<std::vector<T>> : std::true_type {};

  [[noreturn]] static void type_error(const std::string& path, const char* want, const Json& v) {
    throw ConfigError(
        fmt::format("{}: expected {}, got {} {}", path, want, v.type_name(), v.dump()));
  }
  std::string where() const { return path_.empty() ? "config" : path_; }

  const Json& j_;
  std::string path_;
  std::set<std::string> seen_;
};

/// Writes an optional as null when empty.
template <class T>
Json opt_json(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

}  // namespace lazarus::config
