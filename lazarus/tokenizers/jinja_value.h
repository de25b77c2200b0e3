// Runtime values of the chat-template (Jinja subset) interpreter: the dynamic value type, its
// printing and JSON forms, truthiness and comparisons, following @huggingface/jinja's semantics.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/core/error.h"

namespace lazarus::tokenizers::jinja {

/// A runtime failure without a position yet; the interpreter rethrows it as a TemplateError
/// naming the line, column and construct of the innermost node being evaluated.
struct Failure {
  std::string message;
};

/// A template error (syntax or runtime), message carries "line L, column C".
class TemplateError : public lazarus::Error {
 public:
  using Error::Error;
};

/// A template's own `raise_exception(msg)`: the message is the template's text.
class TemplateRaise : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

enum class ValueKind {
  Undefined,
  None,
  Bool,
  Int,
  Float,
  String,
  Array,
  Object,
  Namespace,
  Function
};

struct Value;
class Scope;
using Array = std::vector<Value>;

/// Insertion-ordered string-keyed map (dicts keep insertion order in Python and in JS Maps).
struct Object {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(const std::string& key, Value v);
};

/// Positional and keyword arguments of one call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  /// The positional argument `i`, else the keyword `name`, else nullptr.
  const Value* get(size_t i, std::string_view name) const;
};

/// A callable: builtins (range, namespace, raise_exception, methods) and macros.
struct Function {
  std::string name;
  std::function<Value(CallArgs&, Scope&)> call;
};

/// One dynamically typed value. Arrays, objects and namespaces are shared by reference (as in
/// Python and JS), so `ns.x = ...` and `list.append` are seen through every alias.
struct Value {
  ValueKind kind = ValueKind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::shared_ptr<Array> arr;
  std::shared_ptr<Object> obj;  // Object and Namespace
  std::shared_ptr<Function> fn;

  static Value undefined() { return Value{}; }
  static Value none();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  static Value array(Array v = {});
  static Value object(Object v = {});
  static Value namespace_(Object v = {});
  static Value function(std::string name, std::function<Value(CallArgs&, Scope&)> call);

  bool is_undefined() const { return kind == ValueKind::Undefined; }
  bool is_none() const { return kind == ValueKind::None; }
  bool is_string() const { return kind == ValueKind::String; }
  bool is_int() const { return kind == ValueKind::Int; }
  bool is_number() const { return kind == ValueKind::Int || kind == ValueKind::Float; }
  bool is_array() const { return kind == ValueKind::Array; }
  bool is_object() const { return kind == ValueKind::Object; }
  bool is_mapping_like() const { return kind == ValueKind::Object || kind == ValueKind::Namespace; }
  double as_double() const {
    return kind == ValueKind::Int ? double(i) : kind == ValueKind::Bool ? (b ? 1.0 : 0.0) : f;
  }
};

/// Type name used in error messages ("string", "list", "dict", ...).
std::string type_name(const Value& v);
/// Python truthiness: empty string/list/dict, 0, none, undefined are false.
bool truthy(const Value& v);
/// What `{{ v }}` prints (undefined and none print nothing; lists/dicts print as JSON).
std::string to_output(const Value& v);
/// JS `String(x)`-style form used by `~` and `+` with a string (floats without ".0").
std::string to_concat_string(const Value& v);
/// JS number formatting (shortest round-trip; exponent form past 1e21 / below 1e-6).
std::string format_js_number(double d);
/// Python/JS float printing as the reference does (integral floats get ".0").
std::string format_float(double d);

struct JsonOptions {
  int indent = -1;  // < 0: single line
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_sep;  // empty: default for the mode
  std::string key_sep;
  bool undefined_as_null = true;
};
/// `tojson`: Python json.dumps layout (", " and ": " separators, indent) as the reference prints
/// it.
std::string to_json(const Value& v, const JsonOptions& opt, int depth = 0);
/// JSON string literal with JSON.stringify escaping.
std::string json_quote(std::string_view s, bool ensure_ascii);

/// `==` as the reference evaluates it (numbers by value, containers structurally).
bool loose_equals(const Value& a, const Value& b);
/// Ordering for sort/dictsort/<: numbers numerically, strings by code point; -1/0/1.
int compare_values(const Value& a, const Value& b, bool case_sensitive);

/// Converts parsed JSON (messages, tools...) into template values, keeping key order (tojson
/// prints keys in input order). Depth is bounded (LimitError).
Value from_json(const nlohmann::ordered_json& j, int depth = 0);

// ---- UTF-8 helpers (strings are UTF-8; lengths follow the reference's UTF-16 counting) ----
/// Splits into code points (each a UTF-8 substring); invalid bytes stand alone.
std::vector<std::string> utf8_chars(std::string_view s);
/// Number of UTF-16 code units (JS `.length`).
int64_t utf16_length(std::string_view s);
/// JS `trim`/`trimStart`/`trimEnd` (Unicode White_Space plus line terminators and BOM).
std::string js_trim(std::string_view s, bool left, bool right);
/// Python `strip(chars)`: removes any of the code points in `chars` from the chosen ends.
std::string strip_chars(std::string_view s, std::string_view chars, bool left, bool right);
/// Full-string upper/lower case mapping of each code point.
std::string utf8_upper(std::string_view s);
std::string utf8_lower(std::string_view s);
/// True for a code point JS `\s` matches.
bool is_js_space(uint32_t cp);

}  // namespace lazarus::tokenizers::jinja
