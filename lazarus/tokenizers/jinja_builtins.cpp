// Built-in filters, tests, methods and globals of the chat-template interpreter. Behaviour follows
// @huggingface/jinja (the reference the parity tests use) and Python Jinja2 where the reference has
// no opinion; every misuse is a Failure the interpreter turns into a positioned TemplateError.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "lazarus/tokenizers/jinja_interpreter.h"

namespace lazarus::tokenizers::jinja {

namespace {

const std::string& need_string(const Value& v, const std::string& what) {
  if (!v.is_string()) throw Failure{what + " needs a string, got " + type_name(v)};
  return v.s;
}

bool bool_arg(const CallArgs& args, size_t i, const char* name, bool fallback) {
  const Value* v = args.get(i, name);
  if (!v || v->is_undefined()) return fallback;
  if (v->kind != ValueKind::Bool) throw Failure{std::string("argument '") + name + "' must be a boolean"};
  return v->b;
}

// Python str.split / JS-reference split.
Value split_string(const std::string& s, const CallArgs& args) {
  const Value* sep = args.get(0, "sep");
  const Value* maxv = args.get(1, "maxsplit");
  int64_t maxsplit = maxv && maxv->is_int() ? maxv->i : -1;
  Array out;
  if (!sep || sep->is_none() || sep->is_undefined()) {
    std::string rest = js_trim(s, true, false);
    while (!rest.empty()) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        out.push_back(Value::string(rest));
        break;
      }
      // Split at the first whitespace code point.
      auto chars = utf8_chars(rest);
      size_t bytes = 0, k = 0;
      for (; k < chars.size(); ++k) {
        uint32_t cp = chars[k].size() == 1 ? static_cast<unsigned char>(chars[k][0]) : 0;
        if (chars[k].size() > 1) {
          // Multibyte whitespace (NBSP, ideographic space...) counts too.
          std::string lone = js_trim(chars[k], true, true);
          if (lone.empty()) break;
        } else if (is_js_space(cp)) {
          break;
        }
        bytes += chars[k].size();
      }
      out.push_back(Value::string(rest.substr(0, bytes)));
      rest = js_trim(rest.substr(bytes), true, false);
    }
    return Value::array(std::move(out));
  }
  const std::string& d = need_string(*sep, "split()");
  if (d.empty()) throw Failure{"split(): empty separator"};
  size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.push_back(Value::string(s.substr(start)));
      break;
    }
    size_t hit = s.find(d, start);
    if (hit == std::string::npos) {
      out.push_back(Value::string(s.substr(start)));
      break;
    }
    out.push_back(Value::string(s.substr(start, hit - start)));
    start = hit + d.size();
  }
  return Value::array(std::move(out));
}

std::string replace_string(Interpreter& in, const std::string& s, const CallArgs& args) {
  const Value* oldv = args.get(0, "old");
  const Value* newv = args.get(1, "new");
  if (!oldv || !newv) throw Failure{"replace() needs two arguments"};
  const std::string& from = need_string(*oldv, "replace()");
  const std::string& to = need_string(*newv, "replace()");
  const Value* countv = args.get(2, "count");
  int64_t count = countv && countv->is_int() && countv->i >= 0 ? countv->i : -1;
  std::string out;
  if (from.empty()) {  // inserts `to` around every character, as Python does
    auto chars = utf8_chars(s);
    int64_t done = 0;
    for (const auto& c : chars) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += c;
      in.check_size(out.size(), "replace() result");
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(from, start);
    if (hit == std::string::npos) break;
    out.append(s, start, hit - start);
    out += to;
    in.check_size(out.size(), "replace() result");
    start = hit + from.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

// The reference's title(): upper-cases an ASCII word character that follows a non-word one.
std::string title_case(const std::string& s) {
  std::string out = s;
  auto word = [](unsigned char c) { return std::isalnum(c) || c == '_'; };
  for (size_t k = 0; k < out.size(); ++k) {
    unsigned char c = static_cast<unsigned char>(out[k]);
    if (c < 0x80 && word(c) && (k == 0 || !word(static_cast<unsigned char>(out[k - 1])) ||
                                static_cast<unsigned char>(out[k - 1]) >= 0x80))
      out[k] = static_cast<char>(std::toupper(c));
  }
  return out;
}

std::string capitalize(const std::string& s) {
  auto chars = utf8_chars(s);
  if (chars.empty()) return s;
  return utf8_upper(chars[0]) + s.substr(chars[0].size());
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// What `join` makes of one element.
std::string join_piece(const Value& v) {
  switch (v.kind) {
    case ValueKind::Undefined:
    case ValueKind::None: return "";
    default: return to_concat_string(v);
  }
}

// "a.b.0": dict keys and list indices, as map(attribute=)/sort(attribute=) resolve them.
Value attribute_path(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.is_mapping_like()) {
      const Value* v = cur.obj->find(part);
      if (!v) return Value::undefined();
      cur = *v;
    } else if (cur.is_array() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      size_t k = std::stoul(part);
      if (k >= cur.arr->size()) return Value::undefined();
      cur = (*cur.arr)[k];
    } else {
      return Value::undefined();
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

const Array& need_array(const Value& v, const std::string& filter) {
  if (!v.is_array()) throw Failure{"needs a list, got " + type_name(v)};
  return *v.arr;
}

// Parses a leading integer/float the way JS parseInt/parseFloat do; false when none.
bool parse_number_prefix(const std::string& s, bool as_float, double& out) {
  std::string t = js_trim(s, true, false);
  const char* begin = t.c_str();
  char* end = nullptr;
  if (as_float) {
    out = std::strtod(begin, &end);
  } else {
    out = static_cast<double>(std::strtoll(begin, &end, 10));
  }
  return end != begin;
}

Value tojson_filter(const Value& operand, const CallArgs& args) {
  JsonOptions opt;
  if (const Value* ind = args.get(0, "indent"); ind && !ind->is_none() && !ind->is_undefined()) {
    if (!ind->is_int()) throw Failure{"indent must be an integer"};
    opt.indent = static_cast<int>(std::clamp<int64_t>(ind->i, -1, 64));
  }
  opt.ensure_ascii = bool_arg(args, 99, "ensure_ascii", false);
  opt.sort_keys = bool_arg(args, 99, "sort_keys", false);
  if (const Value* sep = args.get(99, "separators"); sep && !sep->is_none() && !sep->is_undefined()) {
    if (!sep->is_array() || sep->arr->size() != 2 || !(*sep->arr)[0].is_string() || !(*sep->arr)[1].is_string())
      throw Failure{"separators must be a pair of strings"};
    opt.item_sep = (*sep->arr)[0].s;
    opt.key_sep = (*sep->arr)[1].s;
    if (opt.item_sep.empty() && opt.key_sep.empty()) opt.key_sep = "";  // both empty: no separators at all
  }
  return Value::string(to_json(operand, opt));
}

}  // namespace

bool apply_test(const std::string& name, const Value& v, const CallArgs& args) {
  auto arg = [&](const char* what) -> const Value& {
    const Value* a = args.get(0, "value");
    if (!a) throw Failure{std::string("test '") + what + "' needs an argument"};
    return *a;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.kind == ValueKind::Float;
  if (name == "boolean") return v.kind == ValueKind::Bool;
  if (name == "true") return v.kind == ValueKind::Bool && v.b;
  if (name == "false") return v.kind == ValueKind::Bool && !v.b;
  if (name == "mapping") return v.is_object();
  if (name == "iterable") return v.is_array() || v.is_string() || v.is_object();
  if (name == "sequence") return v.is_array() || v.is_string() || v.is_object();
  if (name == "callable") return v.kind == ValueKind::Function;
  if (name == "lower") return v.is_string() && utf8_lower(v.s) == v.s;
  if (name == "upper") return v.is_string() && utf8_upper(v.s) == v.s;
  if (name == "odd" || name == "even") {
    if (!v.is_int()) throw Failure{"test '" + name + "' needs an integer, got " + type_name(v)};
    return (v.i % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    const Value& d = arg("divisibleby");
    if (!v.is_int() || !d.is_int()) throw Failure{"test 'divisibleby' needs integers"};
    if (d.i == 0) throw Failure{"test 'divisibleby' by zero"};
    return v.i % d.i == 0;
  }
  if (name == "equalto" || name == "eq" || name == "sameas") return loose_equals(v, arg(name.c_str()));
  if (name == "ne") return !loose_equals(v, arg("ne"));
  if (name == "lt" || name == "gt" || name == "le" || name == "ge" || name == "lessthan" || name == "greaterthan") {
    int c = compare_values(v, arg(name.c_str()), true);
    if (name == "lt" || name == "lessthan") return c < 0;
    if (name == "gt" || name == "greaterthan") return c > 0;
    return name == "le" ? c <= 0 : c >= 0;
  }
  if (name == "in") {
    const Value& seq = arg("in");
    if (seq.is_array()) {
      for (const Value& e : *seq.arr)
        if (loose_equals(e, v)) return true;
      return false;
    }
    if (seq.is_string() && v.is_string()) return seq.s.find(v.s) != std::string::npos;
    if (seq.is_mapping_like() && v.is_string()) return seq.obj->find(v.s) != nullptr;
    throw Failure{"test 'in' needs a list, string or dict"};
  }
  throw Failure{"unknown test '" + name + "'"};
}

Value apply_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& args, Scope& scope) {
  if (name == "safe") return v;
  if (name == "tojson") return tojson_filter(v, args);
  if (name == "default" || name == "d") {
    const Value* def = args.get(0, "default_value");
    bool boolean = bool_arg(args, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !truthy(v))) return def ? *def : Value::string("");
    return v;
  }
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value::integer(utf16_length(v.s));
    if (v.is_array()) return Value::integer(static_cast<int64_t>(v.arr->size()));
    if (v.is_mapping_like()) return Value::integer(static_cast<int64_t>(v.obj->items.size()));
    throw Failure{"needs a string, list or dict, got " + type_name(v)};
  }
  if (name == "upper") return Value::string(utf8_upper(need_string(v, "upper")));
  if (name == "lower") return Value::string(utf8_lower(need_string(v, "lower")));
  if (name == "title") return Value::string(title_case(need_string(v, "title")));
  if (name == "capitalize") return Value::string(capitalize(need_string(v, "capitalize")));
  if (name == "trim") {
    const Value* chars = args.get(0, "chars");
    if (chars && chars->is_string()) return Value::string(strip_chars(need_string(v, "trim"), chars->s, true, true));
    return Value::string(js_trim(need_string(v, "trim"), true, true));
  }
  if (name == "replace") return Value::string(replace_string(in, need_string(v, "replace"), args));
  if (name == "e" || name == "escape") return Value::string(html_escape(v.is_string() ? v.s : to_output(v)));
  if (name == "string") return Value::string(v.is_none() ? "None" : to_output(v));
  if (name == "join") {
    const Value* sepv = args.get(0, "d");
    std::string sep = sepv && sepv->is_string() ? sepv->s : "";
    const Value* attr = args.get(1, "attribute");
    std::string out;
    if (v.is_string()) {
      auto chars = utf8_chars(v.s);
      for (size_t k = 0; k < chars.size(); ++k) out += (k ? sep : "") + chars[k];
      return Value::string(out);
    }
    const Array& a = need_array(v, "join");
    for (size_t k = 0; k < a.size(); ++k) {
      if (k) out += sep;
      out += join_piece(attr && attr->is_string() ? attribute_path(a[k], attr->s) : a[k]);
      in.check_size(out.size(), "join() result");
    }
    return Value::string(out);
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::array();
    if (!v.is_mapping_like()) throw Failure{"needs a dict, got " + type_name(v)};
    Array out;
    for (const auto& [k, val] : v.obj->items) out.push_back(Value::array({Value::string(k), val}));
    return Value::array(std::move(out));
  }
  if (name == "dictsort") {
    if (!v.is_mapping_like()) throw Failure{"needs a dict, got " + type_name(v)};
    bool case_sensitive = bool_arg(args, 0, "case_sensitive", false);
    const Value* by = args.get(1, "by");
    bool by_value = by && by->is_string() && by->s == "value";
    bool reverse = bool_arg(args, 2, "reverse", false);
    Array out;
    for (const auto& [k, val] : v.obj->items) out.push_back(Value::array({Value::string(k), val}));
    std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
      int c = compare_values((*x.arr)[by_value], (*y.arr)[by_value], case_sensitive);
      return reverse ? c > 0 : c < 0;
    });
    return Value::array(std::move(out));
  }
  if (name == "first" || name == "last") {
    if (v.is_string()) {
      auto chars = utf8_chars(v.s);
      if (chars.empty()) return Value::undefined();
      return Value::string(name == "first" ? chars.front() : chars.back());
    }
    const Array& a = need_array(v, name);
    if (a.empty()) return Value::undefined();
    return name == "first" ? a.front() : a.back();
  }
  if (name == "list") {
    if (v.is_array()) return Value::array(*v.arr);
    Array out;
    if (v.is_string()) {
      for (auto& c : utf8_chars(v.s)) out.push_back(Value::string(std::move(c)));
    } else if (v.is_mapping_like()) {
      for (const auto& kv : v.obj->items) out.push_back(Value::string(kv.first));
    } else {
      throw Failure{"cannot make a list of " + type_name(v)};
    }
    return Value::array(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto chars = utf8_chars(v.s);
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value::string(out);
    }
    Array a = need_array(v, "reverse");
    std::reverse(a.begin(), a.end());
    return Value::array(std::move(a));
  }
  if (name == "int" || name == "float") {
    bool as_float = name == "float";
    const Value* def = args.get(0, "default");
    Value fallback = def ? *def : as_float ? Value::number(0) : Value::integer(0);
    switch (v.kind) {
      case ValueKind::Int: return as_float ? Value::number(static_cast<double>(v.i)) : v;
      case ValueKind::Float:
        if (as_float) return v;
        if (!std::isfinite(v.f) || std::fabs(v.f) > 9.2e18) throw Failure{"cannot convert " + format_float(v.f) + " to int"};
        return Value::integer(static_cast<int64_t>(std::trunc(v.f)));
      case ValueKind::Bool: return as_float ? Value::number(v.b) : Value::integer(v.b);
      case ValueKind::String: {
        double d = 0;
        if (!parse_number_prefix(v.s, as_float, d)) return fallback;
        return as_float ? Value::number(d) : Value::integer(static_cast<int64_t>(d));
      }
      default: return fallback;
    }
  }
  if (name == "bool") return Value::boolean(truthy(v));
  if (name == "abs") {
    if (v.is_int()) return v.i == INT64_MIN ? Value::number(-static_cast<double>(v.i)) : Value::integer(std::llabs(v.i));
    if (v.kind == ValueKind::Float) return Value::number(std::fabs(v.f));
    throw Failure{"needs a number, got " + type_name(v)};
  }
  if (name == "round") {
    if (!v.is_number()) throw Failure{"needs a number, got " + type_name(v)};
    const Value* p = args.get(0, "precision");
    int64_t precision = p && p->is_int() ? std::clamp<int64_t>(p->i, -20, 20) : 0;
    const Value* m = args.get(1, "method");
    std::string method = m && m->is_string() ? m->s : "common";
    double scale = std::pow(10.0, static_cast<double>(precision));
    double x = v.as_double() * scale;
    x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
    return Value::number(x / scale);
  }
  if (name == "indent") {
    const std::string& s = need_string(v, "indent");
    const Value* w = args.get(0, "width");
    std::string pad = !w || w->is_undefined() ? "    " : w->is_string() ? w->s : std::string(static_cast<size_t>(std::clamp<int64_t>(w->is_int() ? w->i : 4, 0, 1024)), ' ');
    bool first = bool_arg(args, 1, "first", false);
    bool blank = bool_arg(args, 2, "blank", false);
    std::string out;
    size_t start = 0, line = 0;
    while (true) {
      size_t nl = s.find('\n', start);
      std::string piece = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      if ((line > 0 || first) && (blank || !piece.empty())) out += pad;
      out += piece;
      in.check_size(out.size(), "indent() result");
      if (nl == std::string::npos) break;
      out += '\n';
      start = nl + 1;
      ++line;
    }
    return Value::string(out);
  }
  if (name == "map") {
    const Array& a = need_array(v, "map");
    Array out;
    if (const Value* attr = args.get(99, "attribute")) {
      if (!attr->is_string()) throw Failure{"map(attribute=) needs a string"};
      const Value* def = args.get(99, "default");
      for (const Value& item : a) {
        Value got = attribute_path(item, attr->s);
        out.push_back(got.is_undefined() && def ? *def : got);
      }
      return Value::array(std::move(out));
    }
    if (args.positional.empty() || !args.positional[0].is_string()) throw Failure{"map() needs a filter name or attribute="};
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const Value& item : a) out.push_back(apply_filter(in, args.positional[0].s, item, rest, scope));
    return Value::array(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    const Array& a = need_array(v, name);
    bool by_attr = name == "selectattr" || name == "rejectattr";
    bool keep_when = name == "select" || name == "selectattr";
    size_t first_test_arg = by_attr ? 1 : 0;
    std::string attr;
    if (by_attr) {
      if (args.positional.empty() || !args.positional[0].is_string()) throw Failure{"needs an attribute name"};
      attr = args.positional[0].s;
    }
    const Value* test = args.positional.size() > first_test_arg ? &args.positional[first_test_arg] : nullptr;
    if (test && !test->is_string()) throw Failure{"the test name must be a string"};
    CallArgs test_args;
    for (size_t k = first_test_arg + 1; k < args.positional.size(); ++k) test_args.positional.push_back(args.positional[k]);
    Array out;
    for (const Value& item : a) {
      bool pass;
      if (by_attr) {
        if (!item.is_mapping_like()) throw Failure{"needs a list of dicts, found " + type_name(item)};
        const Value* field = item.obj->find(attr);
        pass = field && (test ? apply_test(test->s, *field, test_args) : truthy(*field));
      } else {
        pass = test ? apply_test(test->s, item, test_args) : truthy(item);
      }
      if (pass == keep_when) out.push_back(item);
    }
    return Value::array(std::move(out));
  }
  if (name == "unique") {
    const Array& a = need_array(v, "unique");
    Array out;
    for (const Value& item : a) {
      bool seen = false;
      for (const Value& kept : out)
        if (!item.is_array() && !item.is_mapping_like() && loose_equals(kept, item) && kept.kind == item.kind) seen = true;
      if (!seen) out.push_back(item);
    }
    return Value::array(std::move(out));
  }
  if (name == "sort") {
    Array a = need_array(v, "sort");
    bool reverse = bool_arg(args, 0, "reverse", false);
    bool case_sensitive = bool_arg(args, 1, "case_sensitive", false);
    const Value* attr = args.get(2, "attribute");
    auto key = [&](const Value& item) {
      if (!attr || attr->is_none() || attr->is_undefined()) return item;
      return attribute_path(item, attr->is_int() ? std::to_string(attr->i) : need_string(*attr, "sort(attribute=)"));
    };
    std::stable_sort(a.begin(), a.end(), [&](const Value& x, const Value& y) {
      int c = compare_values(key(x), key(y), case_sensitive);
      return reverse ? c > 0 : c < 0;
    });
    return Value::array(std::move(a));
  }
  if (name == "sum" || name == "min" || name == "max") {
    const Array& a = need_array(v, name);
    const Value* attr = args.get(99, "attribute");
    auto key = [&](const Value& item) { return attr && attr->is_string() ? attribute_path(item, attr->s) : item; };
    if (name == "sum") {
      const Value* start = args.get(99, "start");
      bool is_float = start && start->kind == ValueKind::Float;
      double total = start ? start->as_double() : 0;
      for (const Value& item : a) {
        Value k = key(item);
        if (!k.is_number() && k.kind != ValueKind::Bool) throw Failure{"sum() needs numbers, found " + type_name(k)};
        is_float = is_float || k.kind == ValueKind::Float;
        total += k.as_double();
      }
      return is_float ? Value::number(total) : Value::integer(static_cast<int64_t>(total));
    }
    if (a.empty()) return Value::undefined();
    bool case_sensitive = bool_arg(args, 0, "case_sensitive", false);
    Value best = a[0];
    for (const Value& item : a) {
      int c = compare_values(key(item), key(best), case_sensitive);
      if (name == "min" ? c < 0 : c > 0) best = item;
    }
    return best;
  }
  throw Failure{"unknown filter '" + name + "'"};
}

Value get_attribute(Interpreter& in, const Value& obj, const std::string& name) {
  if (obj.is_mapping_like()) {
    if (const Value* v = obj.obj->find(name)) return *v;
    if (obj.kind == ValueKind::Namespace) return Value::undefined();
    auto self = obj;
    if (name == "get")
      return Value::function("get", [self](CallArgs& args, Scope&) {
        const Value* key = args.get(0, "key");
        if (!key || !key->is_string()) throw Failure{"dict.get() needs a string key"};
        if (const Value* v = self.obj->find(key->s)) return *v;
        const Value* def = args.get(1, "default");
        return def ? *def : Value::none();
      });
    if (name == "items" || name == "keys" || name == "values")
      return Value::function(name, [self, name](CallArgs&, Scope&) {
        Array out;
        for (const auto& [k, v] : self.obj->items)
          out.push_back(name == "items" ? Value::array({Value::string(k), v}) : name == "keys" ? Value::string(k) : v);
        return Value::array(std::move(out));
      });
    return Value::undefined();
  }
  if (obj.is_string()) {
    const std::string s = obj.s;
    if (name == "length") return Value::integer(utf16_length(s));
    auto method = [&](auto body) { return Value::function(name, [s, body](CallArgs& args, Scope&) { return body(s, args); }); };
    if (name == "upper") return method([](const std::string& x, CallArgs&) { return Value::string(utf8_upper(x)); });
    if (name == "lower") return method([](const std::string& x, CallArgs&) { return Value::string(utf8_lower(x)); });
    if (name == "title") return method([](const std::string& x, CallArgs&) { return Value::string(title_case(x)); });
    if (name == "capitalize") return method([](const std::string& x, CallArgs&) { return Value::string(capitalize(x)); });
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool left = name != "rstrip", right = name != "lstrip";
      return method([left, right](const std::string& x, CallArgs& args) {
        const Value* chars = args.get(0, "chars");
        if (chars && chars->is_string()) return Value::string(strip_chars(x, chars->s, left, right));
        return Value::string(js_trim(x, left, right));
      });
    }
    if (name == "startswith" || name == "endswith") {
      bool starts = name == "startswith";
      return method([starts](const std::string& x, CallArgs& args) {
        if (args.positional.empty()) throw Failure{"needs an argument"};
        auto test = [&](const Value& p) {
          const std::string& pre = need_string(p, starts ? "startswith()" : "endswith()");
          if (pre.size() > x.size()) return false;
          return starts ? x.compare(0, pre.size(), pre) == 0 : x.compare(x.size() - pre.size(), pre.size(), pre) == 0;
        };
        const Value& p = args.positional[0];
        if (p.is_array()) return Value::boolean(std::any_of(p.arr->begin(), p.arr->end(), test));
        return Value::boolean(test(p));
      });
    }
    if (name == "split") return method([](const std::string& x, CallArgs& args) { return split_string(x, args); });
    if (name == "replace")
      return Value::function(name, [s, &in](CallArgs& args, Scope&) { return Value::string(replace_string(in, s, args)); });
    if (name == "find")
      return method([](const std::string& x, CallArgs& args) {
        const Value* sub = args.get(0, "sub");
        if (!sub) throw Failure{"find() needs an argument"};
        size_t hit = x.find(need_string(*sub, "find()"));
        return Value::integer(hit == std::string::npos ? -1 : utf16_length(x.substr(0, hit)));
      });
    if (name == "join")
      return Value::function(name, [s, &in](CallArgs& args, Scope&) {
        if (args.positional.empty() || !args.positional[0].is_array()) throw Failure{"join() needs a list"};
        std::string out;
        for (size_t k = 0; k < args.positional[0].arr->size(); ++k) {
          out += (k ? s : "") + join_piece((*args.positional[0].arr)[k]);
          in.check_size(out.size(), "join() result");
        }
        return Value::string(out);
      });
    return Value::undefined();
  }
  if (obj.is_array()) {
    auto arr = obj.arr;
    if (name == "length") return Value::integer(static_cast<int64_t>(arr->size()));
    if (name == "append")
      return Value::function(name, [arr, &in](CallArgs& args, Scope&) {
        if (args.positional.size() != 1) throw Failure{"append() takes one argument"};
        in.check_size(arr->size() + 1, "a list");
        arr->push_back(args.positional[0]);
        return Value::none();
      });
    if (name == "pop")
      return Value::function(name, [arr](CallArgs& args, Scope&) {
        if (arr->empty()) throw Failure{"pop() from an empty list"};
        int64_t len = static_cast<int64_t>(arr->size());
        int64_t k = args.positional.empty() || !args.positional[0].is_int() ? len - 1 : args.positional[0].i;
        if (k < 0) k += len;
        if (k < 0 || k >= len) throw Failure{"pop() index out of range"};
        Value out = (*arr)[static_cast<size_t>(k)];
        arr->erase(arr->begin() + k);
        return out;
      });
    return Value::undefined();
  }
  return Value::undefined();
}

void install_globals(Interpreter& in, Scope& globals) {
  globals.set("range", Value::function("range", [&in](CallArgs& args, Scope&) {
    std::vector<int64_t> n;
    for (const Value& a : args.positional) {
      if (!a.is_int()) throw Failure{"range() needs integers, got " + type_name(a)};
      n.push_back(a.i);
    }
    if (n.empty() || n.size() > 3) throw Failure{"range() takes 1 to 3 integers"};
    int64_t start = n.size() == 1 ? 0 : n[0], stop = n.size() == 1 ? n[0] : n[1], step = n.size() == 3 ? n[2] : 1;
    if (step == 0) throw Failure{"range() step must not be zero"};
    long double count = std::max<long double>(0, std::ceil((static_cast<long double>(stop) - start) / step));
    if (count > static_cast<long double>(in.limits().max_steps)) in.charge_steps(in.limits().max_steps + 1);
    in.charge_steps(static_cast<int64_t>(count));
    Array out;
    for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) out.push_back(Value::integer(start + k * step));
    return Value::array(std::move(out));
  }));
  globals.set("namespace", Value::function("namespace", [](CallArgs& args, Scope&) {
    Object o;
    if (args.positional.size() > 1) throw Failure{"namespace() takes at most one positional argument"};
    if (!args.positional.empty()) {
      const Value& src = args.positional[0];
      if (src.is_mapping_like()) {
        o = *src.obj;
      } else if (src.is_array()) {
        for (const Value& pair : *src.arr) {
          if (!pair.is_array() || pair.arr->size() != 2 || !(*pair.arr)[0].is_string())
            throw Failure{"namespace() needs a dict or a list of [key, value] pairs"};
          o.set((*pair.arr)[0].s, (*pair.arr)[1]);
        }
      } else {
        throw Failure{"namespace() needs a dict or a list of pairs, got " + type_name(src)};
      }
    }
    for (auto& [k, v] : args.keyword) o.set(k, v);
    return Value::namespace_(std::move(o));
  }));
  globals.set("dict", Value::function("dict", [](CallArgs& args, Scope&) {
    Object o;
    for (auto& [k, v] : args.keyword) o.set(k, v);
    return Value::object(std::move(o));
  }));
  globals.set("raise_exception", Value::function("raise_exception", [&in](CallArgs& args, Scope&) -> Value {
    std::string msg = args.positional.empty() ? "" : to_output(args.positional[0]);
    throw TemplateRaise(in.where() + ": raise_exception: " + msg);
  }));
  globals.set("strftime_now", Value::function("strftime_now", [](CallArgs& args, Scope&) {
    if (args.positional.empty() || !args.positional[0].is_string()) throw Failure{"strftime_now() needs a format string"};
    static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                    "July",    "August",   "September", "October", "November", "December"};
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    auto pad2 = [](int x) { return (x < 10 ? "0" : "") + std::to_string(x); };
    const std::string& f = args.positional[0].s;
    std::string out;
    for (size_t k = 0; k < f.size(); ++k) {
      if (f[k] != '%' || k + 1 >= f.size()) {
        out += f[k];
        continue;
      }
      char c = f[++k];
      switch (c) {
        case 'Y': out += std::to_string(tm.tm_year + 1900); break;
        case 'm': out += pad2(tm.tm_mon + 1); break;
        case 'd': out += pad2(tm.tm_mday); break;
        case 'b': out += std::string(kMonths[tm.tm_mon]).substr(0, 3); break;
        case 'B': out += kMonths[tm.tm_mon]; break;
        case 'H': out += pad2(tm.tm_hour); break;
        case 'M': out += pad2(tm.tm_min); break;
        case '%': out += '%'; break;
        default: out += '%'; out += c;
      }
    }
    return Value::string(out);
  }));
}

}  // namespace lazarus::tokenizers::jinja
