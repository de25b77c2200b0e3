// String, list and dict methods (`s.split()`, `d.items()`, `l.append()`), the globals (range,
// namespace, raise_exception, strftime_now) and the string helpers the filters share.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "lazarus/tokenizers/jinja_builtins.h"

namespace lazarus::tokenizers::jinja {

const std::string& need_string(const Value& v, const std::string& what) {
  if (!v.is_string()) throw Failure{what + " needs a string, got " + type_name(v)};
  return v.s;
}

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
    if (c < 0x80 && word(c) &&
        (k == 0 || !word(static_cast<unsigned char>(out[k - 1])) ||
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
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// What `join` makes of one element.
std::string join_piece(const Value& v) {
  switch (v.kind) {
    case ValueKind::Undefined:
    case ValueKind::None:
      return "";
    default:
      return to_concat_string(v);
  }
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
          out.push_back(name == "items"  ? Value::array({Value::string(k), v})
                        : name == "keys" ? Value::string(k)
                                         : v);
        return Value::array(std::move(out));
      });
    return Value::undefined();
  }
  if (obj.is_string()) {
    const std::string s = obj.s;
    if (name == "length") return Value::integer(utf16_length(s));
    auto method = [&](auto body) {
      return Value::function(name, [s, body](CallArgs& args, Scope&) { return body(s, args); });
    };
    if (name == "upper")
      return method([](const std::string& x, CallArgs&) { return Value::string(utf8_upper(x)); });
    if (name == "lower")
      return method([](const std::string& x, CallArgs&) { return Value::string(utf8_lower(x)); });
    if (name == "title")
      return method([](const std::string& x, CallArgs&) { return Value::string(title_case(x)); });
    if (name == "capitalize")
      return method([](const std::string& x, CallArgs&) { return Value::string(capitalize(x)); });
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool left = name != "rstrip", right = name != "lstrip";
      return method([left, right](const std::string& x, CallArgs& args) {
        const Value* chars = args.get(0, "chars");
        if (chars && chars->is_string())
          return Value::string(strip_chars(x, chars->s, left, right));
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
          return starts ? x.compare(0, pre.size(), pre) == 0
                        : x.compare(x.size() - pre.size(), pre.size(), pre) == 0;
        };
        const Value& p = args.positional[0];
        if (p.is_array()) return Value::boolean(std::any_of(p.arr->begin(), p.arr->end(), test));
        return Value::boolean(test(p));
      });
    }
    if (name == "split")
      return method([](const std::string& x, CallArgs& args) { return split_string(x, args); });
    if (name == "replace")
      return Value::function(name, [s, &in](CallArgs& args, Scope&) {
        return Value::string(replace_string(in, s, args));
      });
    if (name == "find")
      return method([](const std::string& x, CallArgs& args) {
        const Value* sub = args.get(0, "sub");
        if (!sub) throw Failure{"find() needs an argument"};
        size_t hit = x.find(need_string(*sub, "find()"));
        return Value::integer(hit == std::string::npos ? -1 : utf16_length(x.substr(0, hit)));
      });
    if (name == "join")
      return Value::function(name, [s, &in](CallArgs& args, Scope&) {
        if (args.positional.empty() || !args.positional[0].is_array())
          throw Failure{"join() needs a list"};
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
      return Value::function(name, [obj, arr, &in](CallArgs& args, Scope&) {
        if (args.positional.size() != 1) throw Failure{"append() takes one argument"};
        in.check_size(arr->size() + 1, "a list");
        in.note_mutation(obj);
        arr->push_back(args.positional[0]);
        return Value::none();
      });
    if (name == "pop")
      return Value::function(name, [arr](CallArgs& args, Scope&) {
        if (arr->empty()) throw Failure{"pop() from an empty list"};
        int64_t len = static_cast<int64_t>(arr->size());
        int64_t k = args.positional.empty() || !args.positional[0].is_int() ? len - 1
                                                                            : args.positional[0].i;
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
                int64_t start = n.size() == 1 ? 0 : n[0], stop = n.size() == 1 ? n[0] : n[1],
                        step = n.size() == 3 ? n[2] : 1;
                if (step == 0) throw Failure{"range() step must not be zero"};
                long double count = std::max<long double>(
                    0, std::ceil((static_cast<long double>(stop) - start) / step));
                if (count > static_cast<long double>(in.limits().max_steps))
                  in.charge_steps(in.limits().max_steps + 1);
                in.charge_steps(static_cast<int64_t>(count));
                Array out;
                for (int64_t k = 0; k < static_cast<int64_t>(count); ++k)
                  out.push_back(Value::integer(start + k * step));
                return Value::array(std::move(out));
              }));
  globals.set(
      "namespace", Value::function("namespace", [](CallArgs& args, Scope&) {
        Object o;
        if (args.positional.size() > 1)
          throw Failure{"namespace() takes at most one positional argument"};
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
  globals.set("raise_exception",
              Value::function("raise_exception", [&in](CallArgs& args, Scope&) -> Value {
                std::string msg = args.positional.empty() ? "" : to_output(args.positional[0]);
                throw TemplateRaise(in.where() + ": raise_exception: " + msg);
              }));
  globals.set("strftime_now", Value::function("strftime_now", [](CallArgs& args, Scope&) {
                if (args.positional.empty() || !args.positional[0].is_string())
                  throw Failure{"strftime_now() needs a format string"};
                static const char* kMonths[] = {"January",   "February", "March",    "April",
                                                "May",       "June",     "July",     "August",
                                                "September", "October",  "November", "December"};
                std::time_t now = std::time(nullptr);
                std::tm tm{};
                localtime_r(&now, &tm);
                auto pad2 = [](int x) {
                  char buf[16];
                  std::snprintf(buf, sizeof buf, "%02d", x);
                  return std::string(buf);
                };
                const std::string& f = args.positional[0].s;
                std::string out;
                for (size_t k = 0; k < f.size(); ++k) {
                  if (f[k] != '%' || k + 1 >= f.size()) {
                    out += f[k];
                    continue;
                  }
                  char c = f[++k];
                  switch (c) {
                    case 'Y':
                      out += std::to_string(tm.tm_year + 1900);
                      break;
                    case 'm':
                      out += pad2(tm.tm_mon + 1);
                      break;
                    case 'd':
                      out += pad2(tm.tm_mday);
                      break;
                    case 'b':
                      out += std::string(kMonths[tm.tm_mon]).substr(0, 3);
                      break;
                    case 'B':
                      out += kMonths[tm.tm_mon];
                      break;
                    case 'H':
                      out += pad2(tm.tm_hour);
                      break;
                    case 'M':
                      out += pad2(tm.tm_min);
                      break;
                    case '%':
                      out += '%';
                      break;
                    default:
                      out += '%';
                      out += c;
                  }
                }
                return Value::string(out);
              }));
}

}  // namespace lazarus::tokenizers::jinja
