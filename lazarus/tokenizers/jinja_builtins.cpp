// Built-in filters and tests of the chat-template interpreter. Behaviour follows @huggingface/jinja
// (the reference the parity tests use) and Python Jinja2 where the reference has no opinion; every
// misuse is a Failure the interpreter turns into a positioned TemplateError.
#include <algorithm>
#include <cmath>

#include "lazarus/tokenizers/jinja_builtins.h"

namespace lazarus::tokenizers::jinja {

namespace {

bool bool_arg(const CallArgs& args, size_t i, const char* name, bool fallback) {
  const Value* v = args.get(i, name);
  if (!v || v->is_undefined()) return fallback;
  if (v->kind != ValueKind::Bool)
    throw Failure{std::string("argument '") + name + "' must be a boolean"};
  return v->b;
}

// "a.b.0": dict keys and list indices, as map(attribute=)/sort(attribute=) resolve them.
Value attribute_path(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.is_mapping_like()) {
      const Value* v = cur.obj->find(part);
      if (!v) return Value::undefined();
      cur = *v;
    } else if (cur.is_array() && !part.empty() &&
               std::all_of(part.begin(), part.end(), ::isdigit)) {
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
  if (const Value* sep = args.get(99, "separators");
      sep && !sep->is_none() && !sep->is_undefined()) {
    if (!sep->is_array() || sep->arr->size() != 2 || !(*sep->arr)[0].is_string() ||
        !(*sep->arr)[1].is_string())
      throw Failure{"separators must be a pair of strings"};
    opt.item_sep = (*sep->arr)[0].s;
    opt.key_sep = (*sep->arr)[1].s;
    if (opt.item_sep.empty() && opt.key_sep.empty())
      opt.key_sep = "";  // both empty: no separators at all
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
  if (name == "equalto" || name == "eq" || name == "sameas")
    return loose_equals(v, arg(name.c_str()));
  if (name == "ne") return !loose_equals(v, arg("ne"));
  if (name == "lt" || name == "gt" || name == "le" || name == "ge" || name == "lessthan" ||
      name == "greaterthan") {
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

Value apply_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& args,
                   Scope& scope) {
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
    if (chars && chars->is_string())
      return Value::string(strip_chars(need_string(v, "trim"), chars->s, true, true));
    return Value::string(js_trim(need_string(v, "trim"), true, true));
  }
  if (name == "replace") return Value::string(replace_string(in, need_string(v, "replace"), args));
  if (name == "e" || name == "escape")
    return Value::string(html_escape(v.is_string() ? v.s : to_output(v)));
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
      case ValueKind::Int:
        return as_float ? Value::number(static_cast<double>(v.i)) : v;
      case ValueKind::Float:
        if (as_float) return v;
        if (!std::isfinite(v.f) || std::fabs(v.f) > 9.2e18)
          throw Failure{"cannot convert " + format_float(v.f) + " to int"};
        return Value::integer(static_cast<int64_t>(std::trunc(v.f)));
      case ValueKind::Bool:
        return as_float ? Value::number(v.b) : Value::integer(v.b);
      case ValueKind::String: {
        double d = 0;
        if (!parse_number_prefix(v.s, as_float, d)) return fallback;
        return as_float ? Value::number(d) : Value::integer(static_cast<int64_t>(d));
      }
      default:
        return fallback;
    }
  }
  if (name == "bool") return Value::boolean(truthy(v));
  if (name == "abs") {
    if (v.is_int())
      return v.i == INT64_MIN ? Value::number(-static_cast<double>(v.i))
                              : Value::integer(std::llabs(v.i));
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
    std::string pad =
        !w || w->is_undefined() ? "    "
        : w->is_string()
            ? w->s
            : std::string(static_cast<size_t>(std::clamp<int64_t>(w->is_int() ? w->i : 4, 0, 1024)),
                          ' ');
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
    if (args.positional.empty() || !args.positional[0].is_string())
      throw Failure{"map() needs a filter name or attribute="};
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const Value& item : a)
      out.push_back(apply_filter(in, args.positional[0].s, item, rest, scope));
    return Value::array(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    const Array& a = need_array(v, name);
    bool by_attr = name == "selectattr" || name == "rejectattr";
    bool keep_when = name == "select" || name == "selectattr";
    size_t first_test_arg = by_attr ? 1 : 0;
    std::string attr;
    if (by_attr) {
      if (args.positional.empty() || !args.positional[0].is_string())
        throw Failure{"needs an attribute name"};
      attr = args.positional[0].s;
    }
    const Value* test =
        args.positional.size() > first_test_arg ? &args.positional[first_test_arg] : nullptr;
    if (test && !test->is_string()) throw Failure{"the test name must be a string"};
    CallArgs test_args;
    for (size_t k = first_test_arg + 1; k < args.positional.size(); ++k)
      test_args.positional.push_back(args.positional[k]);
    Array out;
    for (const Value& item : a) {
      bool pass;
      if (by_attr) {
        if (!item.is_mapping_like())
          throw Failure{"needs a list of dicts, found " + type_name(item)};
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
        if (!item.is_array() && !item.is_mapping_like() && loose_equals(kept, item) &&
            kept.kind == item.kind)
          seen = true;
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
      return attribute_path(
          item, attr->is_int() ? std::to_string(attr->i) : need_string(*attr, "sort(attribute=)"));
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
    auto key = [&](const Value& item) {
      return attr && attr->is_string() ? attribute_path(item, attr->s) : item;
    };
    if (name == "sum") {
      const Value* start = args.get(99, "start");
      bool is_float = start && start->kind == ValueKind::Float;
      double total = start ? start->as_double() : 0;
      for (const Value& item : a) {
        Value k = key(item);
        if (!k.is_number() && k.kind != ValueKind::Bool)
          throw Failure{"sum() needs numbers, found " + type_name(k)};
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

}  // namespace lazarus::tokenizers::jinja
