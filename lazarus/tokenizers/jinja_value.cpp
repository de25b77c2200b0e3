// Runtime values of the chat-template interpreter: printing, JSON, truthiness, comparisons and the
// UTF-8 string helpers the filters share. Layout and escaping follow @huggingface/jinja.
#include "lazarus/tokenizers/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <utf8proc.h>

namespace lazarus::tokenizers::jinja {

namespace {
constexpr int kMaxValueDepth = 512;  // nesting bound for JSON in/out and structural equality

[[noreturn]] void too_deep(const char* what) {
  throw lazarus::LimitError(std::string("[chat_template] ") + what + " nested deeper than " +
                            std::to_string(kMaxValueDepth) + " levels");
}

// Decodes one code point at s[pos]; advances pos. Invalid bytes decode as themselves (len 1).
uint32_t decode_utf8(std::string_view s, size_t& pos) {
  utf8proc_int32_t cp = 0;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + pos),
                            static_cast<utf8proc_ssize_t>(s.size() - pos), &cp);
  if (n <= 0) {
    cp = static_cast<unsigned char>(s[pos]);
    n = 1;
  }
  pos += static_cast<size_t>(n);
  return static_cast<uint32_t>(cp);
}

void append_utf8(std::string& out, uint32_t cp) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

void append_u_escape(std::string& out, uint32_t unit) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u%04x", unit & 0xFFFFu);
  out += buf;
}
}  // namespace

const Value* Object::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}
Value* Object::find(std::string_view key) {
  for (auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}
void Object::set(const std::string& key, Value v) {
  if (Value* slot = find(key)) {
    *slot = std::move(v);
  } else {
    items.emplace_back(key, std::move(v));
  }
}

const Value* CallArgs::get(size_t i, std::string_view name) const {
  if (i < positional.size()) return &positional[i];
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

Value Value::none() {
  Value v;
  v.kind = ValueKind::None;
  return v;
}
Value Value::boolean(bool x) {
  Value v;
  v.kind = ValueKind::Bool;
  v.b = x;
  return v;
}
Value Value::integer(int64_t x) {
  Value v;
  v.kind = ValueKind::Int;
  v.i = x;
  return v;
}
Value Value::number(double x) {
  Value v;
  v.kind = ValueKind::Float;
  v.f = x;
  return v;
}
Value Value::string(std::string x) {
  Value v;
  v.kind = ValueKind::String;
  v.s = std::move(x);
  return v;
}
namespace {
// A template can nest lists in lists 400,000 deep with a loop (`{% set ns.l = [ns.l] %}`);
// destroying the outermost must not recurse once per level and overflow the stack. The first
// container to die on a thread frees, in a loop, the containers whose last reference its
// elements held; a container dying inside that loop is only queued.
struct Graveyard {
  std::vector<Array*> arrays;
  std::vector<Object*> objects;
  bool draining = false;
};
thread_local Graveyard t_graveyard;

void drain() {
  Graveyard& g = t_graveyard;
  if (g.draining) return;
  g.draining = true;
  while (!g.arrays.empty() || !g.objects.empty()) {
    if (!g.arrays.empty()) {
      Array* a = g.arrays.back();
      g.arrays.pop_back();
      delete a;  // its elements' containers are queued, not freed here
    } else {
      Object* o = g.objects.back();
      g.objects.pop_back();
      delete o;
    }
  }
  g.draining = false;
}
void bury(Array* a) {
  t_graveyard.arrays.push_back(a);
  drain();
}
void bury(Object* o) {
  t_graveyard.objects.push_back(o);
  drain();
}
}  // namespace

Value Value::array(Array x) {
  Value v;
  v.kind = ValueKind::Array;
  v.arr = std::shared_ptr<Array>(new Array(std::move(x)), [](Array* a) { bury(a); });
  return v;
}
Value Value::object(Object x) {
  Value v;
  v.kind = ValueKind::Object;
  v.obj = std::shared_ptr<Object>(new Object(std::move(x)), [](Object* o) { bury(o); });
  return v;
}
Value Value::namespace_(Object x) {
  Value v = object(std::move(x));
  v.kind = ValueKind::Namespace;
  return v;
}
Value Value::function(std::string name, std::function<Value(CallArgs&, Scope&)> call) {
  Value v;
  v.kind = ValueKind::Function;
  v.fn = std::make_shared<Function>(Function{std::move(name), std::move(call)});
  return v;
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case ValueKind::Undefined:
      return "undefined";
    case ValueKind::None:
      return "none";
    case ValueKind::Bool:
      return "boolean";
    case ValueKind::Int:
      return "integer";
    case ValueKind::Float:
      return "float";
    case ValueKind::String:
      return "string";
    case ValueKind::Array:
      return "list";
    case ValueKind::Object:
      return "dict";
    case ValueKind::Namespace:
      return "namespace";
    case ValueKind::Function:
      return "function";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case ValueKind::Undefined:
    case ValueKind::None:
      return false;
    case ValueKind::Bool:
      return v.b;
    case ValueKind::Int:
      return v.i != 0;
    case ValueKind::Float:
      return v.f != 0.0 && !std::isnan(v.f);
    case ValueKind::String:
      return !v.s.empty();
    case ValueKind::Array:
      return !v.arr->empty();
    case ValueKind::Object:
      return !v.obj->items.empty();
    case ValueKind::Namespace:
    case ValueKind::Function:
      return true;
  }
  return false;
}

std::string format_js_number(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return "0";
  // Shortest round-trip digits, then JS Number::toString's choice of fixed vs exponent form.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(d), std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  auto epos = sci.find('e');
  std::string digits;
  for (size_t k = 0; k < epos; ++k)
    if (sci[k] != '.') digits += sci[k];
  int exp10 = std::atoi(sci.c_str() + epos + 1);
  int k = static_cast<int>(digits.size());
  int n = exp10 + 1;
  std::string out = d < 0 ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return out;
}

std::string format_float(double d) {
  if (d == 0 && std::signbit(d)) return "-0.0";
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e21) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", d);
    return buf;
  }
  return format_js_number(d);
}

std::string to_output(const Value& v) {
  switch (v.kind) {
    case ValueKind::Undefined:
    case ValueKind::None:
      return "";
    case ValueKind::Bool:
      return v.b ? "true" : "false";
    case ValueKind::Int:
      return std::to_string(v.i);
    case ValueKind::Float:
      return format_float(v.f);
    case ValueKind::String:
      return v.s;
    case ValueKind::Array:
    case ValueKind::Object:
    case ValueKind::Namespace: {
      JsonOptions opt;
      opt.undefined_as_null = false;
      return to_json(v, opt);
    }
    case ValueKind::Function:
      return "<function " + v.fn->name + ">";
  }
  return "";
}

std::string to_concat_string(const Value& v) {
  switch (v.kind) {
    case ValueKind::Undefined:
      return "undefined";
    case ValueKind::None:
      return "null";
    case ValueKind::Float:
      return format_js_number(v.f);
    case ValueKind::Array: {
      std::string out;
      for (size_t k = 0; k < v.arr->size(); ++k) {
        if (k) out += ",";
        const Value& e = (*v.arr)[k];
        out += e.is_undefined() ? "undefined" : e.is_none() ? "null" : to_output(e);
      }
      return out;
    }
    case ValueKind::Object:
    case ValueKind::Namespace:
      return "[object Map]";
    default:
      return to_output(v);
  }
}

std::string json_quote(std::string_view s, bool ensure_ascii) {
  std::string out = "\"";
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    uint32_t cp = decode_utf8(s, pos);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      append_u_escape(out, cp);
    } else if (ensure_ascii && cp >= 0x7f) {
      if (cp > 0xFFFF) {  // a UTF-16 surrogate pair, each unit escaped
        uint32_t c = cp - 0x10000;
        append_u_escape(out, 0xD800 + (c >> 10));
        append_u_escape(out, 0xDC00 + (c & 0x3FF));
      } else {
        append_u_escape(out, cp);
      }
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  out += "\"";
  return out;
}

std::string to_json(const Value& v, const JsonOptions& opt, int depth) {
  if (depth > kMaxValueDepth) too_deep("tojson value");
  bool indent = opt.indent > 0;
  std::string item_sep = !opt.item_sep.empty() || !opt.key_sep.empty() ? opt.item_sep
                         : indent                                      ? ","
                                                                       : ", ";
  std::string key_sep = !opt.item_sep.empty() || !opt.key_sep.empty() ? opt.key_sep : ": ";
  switch (v.kind) {
    case ValueKind::Undefined:
      return opt.undefined_as_null ? "null" : "undefined";
    case ValueKind::None:
      return "null";
    case ValueKind::Bool:
      return v.b ? "true" : "false";
    case ValueKind::Int:
      return std::to_string(v.i);
    case ValueKind::Float:
      return std::isfinite(v.f) ? format_js_number(v.f) : "null";
    case ValueKind::String:
      return json_quote(v.s, opt.ensure_ascii);
    case ValueKind::Function:
      throw Failure{"cannot convert a function to JSON"};
    default:
      break;
  }
  std::string unit = indent ? std::string(static_cast<size_t>(opt.indent), ' ') : "";
  std::string base_pad = "\n";
  for (int d = 0; d < depth; ++d) base_pad += unit;
  std::string child_pad = base_pad + unit;
  std::string out;
  if (v.kind == ValueKind::Array) {
    const Array& a = *v.arr;
    out = "[";
    for (size_t k = 0; k < a.size(); ++k) {
      if (k) out += item_sep;
      if (indent) out += child_pad;
      out += to_json(a[k], opt, depth + 1);
    }
    if (indent && !a.empty()) out += base_pad;
    return out + "]";
  }
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& kv : v.obj->items) entries.push_back(&kv);
  if (opt.sort_keys)
    std::stable_sort(entries.begin(), entries.end(),
                     [](auto* x, auto* y) { return x->first < y->first; });
  out = "{";
  for (size_t k = 0; k < entries.size(); ++k) {
    if (k) out += item_sep;
    if (indent) out += child_pad;
    out += json_quote(entries[k]->first, opt.ensure_ascii) + key_sep +
           to_json(entries[k]->second, opt, depth + 1);
  }
  if (indent && !entries.empty()) out += base_pad;
  return out + "}";
}

namespace {
bool string_to_js_number(const std::string& s, double& out) {
  std::string t = js_trim(s, true, true);
  if (t.empty()) {
    out = 0;
    return true;
  }
  char* end = nullptr;
  out = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size();
}

bool equals_at(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) too_deep("compared value");
  auto nullish = [](const Value& v) { return v.is_undefined() || v.is_none(); };
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  auto numeric = [](const Value& v) { return v.is_number() || v.kind == ValueKind::Bool; };
  if (numeric(a) && numeric(b)) {
    if (a.is_int() && b.is_int()) return a.i == b.i;
    return a.as_double() == b.as_double();
  }
  if (a.is_string() && b.is_string()) return a.s == b.s;
  if ((a.is_string() && numeric(b)) || (numeric(a) && b.is_string())) {
    double x = 0;
    const Value& str = a.is_string() ? a : b;
    const Value& num = a.is_string() ? b : a;
    return string_to_js_number(str.s, x) && x == num.as_double();
  }
  if (a.kind != b.kind) return false;
  if (a.is_array()) {
    if (a.arr == b.arr) return true;
    if (a.arr->size() != b.arr->size()) return false;
    for (size_t k = 0; k < a.arr->size(); ++k)
      if (!equals_at((*a.arr)[k], (*b.arr)[k], depth + 1)) return false;
    return true;
  }
  if (a.is_mapping_like()) {
    if (a.obj == b.obj) return true;
    if (a.obj->items.size() != b.obj->items.size()) return false;
    for (const auto& [k, v] : a.obj->items) {
      const Value* other = b.obj->find(k);
      if (!other || !equals_at(v, *other, depth + 1)) return false;
    }
    return true;
  }
  return a.fn == b.fn;
}
}  // namespace

bool loose_equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_none() && b.is_none()) return 0;
  if (a.is_undefined() && b.is_undefined()) return 0;
  auto numeric = [](const Value& v) { return v.is_number() || v.kind == ValueKind::Bool; };
  if (numeric(a) && numeric(b)) {
    if (a.is_int() && b.is_int()) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    std::string x = case_sensitive ? a.s : utf8_lower(a.s);
    std::string y = case_sensitive ? b.s : utf8_lower(b.s);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  throw Failure{"cannot compare " + type_name(a) + " with " + type_name(b)};
}

Value from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) too_deep("JSON input");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: {
      // JSON.parse yields one number type; integral values become integers in the reference.
      double d = j.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 9.2e18)
        return Value::integer(static_cast<int64_t>(d));
      return Value::number(d);
    }
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array a;
      a.reserve(j.size());
      for (const auto& e : j) a.push_back(from_json(e, depth + 1));
      return Value::array(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (auto it = j.begin(); it != j.end(); ++it)
        o.set(it.key(), from_json(it.value(), depth + 1));
      return Value::object(std::move(o));
    }
    default:
      return Value::undefined();
  }
}

std::vector<std::string> utf8_chars(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    decode_utf8(s, pos);
    out.emplace_back(s.substr(start, pos - start));
  }
  return out;
}

int64_t utf16_length(std::string_view s) {
  int64_t n = 0;
  size_t pos = 0;
  while (pos < s.size()) n += decode_utf8(s, pos) > 0xFFFF ? 2 : 1;
  return n;
}

bool is_js_space(uint32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

namespace {
template <typename Pred>
std::string trim_if(std::string_view s, bool left, bool right, Pred strip) {
  size_t begin = 0, end = s.size();
  if (left) {
    size_t pos = 0;
    while (pos < s.size()) {
      size_t start = pos;
      if (!strip(decode_utf8(s, pos))) {
        begin = start;
        break;
      }
      begin = pos;
    }
  }
  if (right) {
    // Walk forward remembering where the last kept code point ends.
    size_t pos = begin, keep_end = begin;
    while (pos < s.size()) {
      if (!strip(decode_utf8(s, pos))) keep_end = pos;
    }
    end = keep_end;
  }
  return std::string(s.substr(begin, end - begin));
}
}  // namespace

std::string js_trim(std::string_view s, bool left, bool right) {
  return trim_if(s, left, right, is_js_space);
}

std::string strip_chars(std::string_view s, std::string_view chars, bool left, bool right) {
  std::vector<uint32_t> set;
  size_t pos = 0;
  while (pos < chars.size()) set.push_back(decode_utf8(chars, pos));
  return trim_if(s, left, right,
                 [&](uint32_t cp) { return std::find(set.begin(), set.end(), cp) != set.end(); });
}

namespace {
// Maps each code point; code points the mapping leaves alone (and invalid bytes) are copied as-is.
template <typename Map>
std::string map_case(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    uint32_t cp = decode_utf8(s, pos);
    uint32_t mapped = static_cast<uint32_t>(map(static_cast<utf8proc_int32_t>(cp)));
    if (mapped == cp) {
      out.append(s.substr(start, pos - start));
    } else {
      append_utf8(out, mapped);
    }
  }
  return out;
}
}  // namespace

std::string utf8_upper(std::string_view s) { return map_case(s, utf8proc_toupper); }
std::string utf8_lower(std::string_view s) { return map_case(s, utf8proc_tolower); }

}  // namespace lazarus::tokenizers::jinja
