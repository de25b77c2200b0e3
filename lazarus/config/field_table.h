// Field tables: one declaration per config field drives reading a Hugging Face config.json,
// writing it back and validating it, so a field is written once. Header-only; a family's config
// declares its table once and its from_json / to_json / validate become one line each.
//
// Example (a family "Foo" with a config struct FooConfig):
//
//   const config::FieldTable<FooConfig>& foo_table() {
//     static const config::FieldTable<FooConfig> t = [] {
//       using C = FooConfig;
//       config::FieldTable<C> t;
//       // Messages: "model_type: 'bar' is not 'foo'", "hidden_size: 0 must be > 0".
//       t.add("model_type", &C::model_type)
//           .check([](const std::string& v) { return v == "foo"; }, "is not 'foo'");
//       t.add("hidden_size", &C::hidden_size).required().positive();
//       t.add("num_hidden_layers", &C::num_hidden_layers).alias("n_layers");  // 2 names
//       t.add("head_dim", &C::head_dim)  // std::optional: null when unset
//           .check([](int64_t v) { return v % 2 == 0; }, "must be even");
//       t.add("rms_norm_eps", &C::rms_norm_eps).in_open(0, 1);
//       t.add("eos_token_id", &C::eos_token_id)  // 2, [2, 3] or null
//           .token_ids()
//           .check_with([](const C& c, int64_t id) {
//             return id < c.vocab_size ? std::string() : "is past vocab_size";
//           });
//       t.restates("d_model", "hidden_size",  // a second copy that must agree
//                  [](const C& c) { return Json(c.hidden_size); });
//       t.ignore({"fused_add_norm"});  // known not to change the math
//       t.neutral("rms_norm", {true}, "LayerNorm Mamba");  // changes the math unless true
//       t.common(families::accept_hf_common_keys);  // keys every HF config may carry
//       return t;
//     }();
//     return t;
//   }
//   FooConfig FooConfig::from_json(const Json& j, const std::string& path) {
//     FooConfig c;
//     foo_table().read(j, c, path);
//     c.validate();
//     return c;
//   }
//   Json FooConfig::to_json() const { return foo_table().write(*this); }
//   void FooConfig::validate() const {
//     foo_table().validate(*this);
//     // then the cross-field checks (hidden_size % num_attention_heads, ...)
//   }
//
// Members of other types (a nested object such as rope_scaling) give their own read_with /
// write_with. LlamaConfig and MambaConfig (families/llama, families/mamba) are full examples.
//
// The key policy of read(), in this order:
//   1. every field: its key, or one of its aliases; a field given under two names must hold the
//      same value there (ConfigError naming both keys); a required field must be present;
//   2. restates(): a key that repeats a value of other fields (Mamba's d_model = hidden_size)
//      must agree with it (ConfigError naming both);
//   3. neutral(): a key that would change the math unless it holds a neutral value is accepted
//      only at that value (or null);
//   4. ignore(): keys known not to change the math are accepted and dropped;
//   5. common(): a hook for the keys every config of the kind may carry (HF bookkeeping,
//      quantization_config...); it sees the keys the table did not read;
//   6. any other key is a warning, "<path>: unknown key 'k' (= v) ignored ...", recorded in the
//      innermost ConfigWarnings collector of this thread (dropped when none is active).
// Errors are ConfigError with messages that name the key (under `path`) and the value.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "lazarus/config/json_reader.h"

namespace lazarus::config {

/// Collects the warnings of config readers on this thread while it is alive (RAII; nests: the
/// innermost collector gets them). With no collector active, warnings are dropped.
class ConfigWarnings {
 public:
  ConfigWarnings() : prev_(top()) { top() = this; }
  ~ConfigWarnings() { top() = prev_; }
  ConfigWarnings(const ConfigWarnings&) = delete;
  ConfigWarnings& operator=(const ConfigWarnings&) = delete;

  const std::vector<std::string>& list() const { return list_; }
  /// Records `w` in the innermost active collector (no-op when none is active).
  static void add(std::string w) {
    if (ConfigWarnings* c = top()) c->list_.push_back(std::move(w));
  }

 private:
  static ConfigWarnings*& top() {
    thread_local ConfigWarnings* t = nullptr;
    return t;
  }
  std::vector<std::string> list_;
  ConfigWarnings* prev_;
};

namespace field_detail {
template <class T>
struct Elem {
  using type = T;
};
template <class T>
struct Elem<std::optional<T>> {
  using type = T;
};
template <class T>
struct Elem<std::vector<T>> {
  using type = T;
};
template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_vector_v = false;
template <class T>
inline constexpr bool is_vector_v<std::vector<T>> = true;

/// Types JsonReader::convert and to_json() handle without help (others need read_with /
/// write_with).
template <class T>
constexpr bool simple() {
  if constexpr (is_optional_v<T> || is_vector_v<T>)
    return simple<typename T::value_type>();
  else
    return std::is_arithmetic_v<T> || std::is_enum_v<T> || std::is_same_v<T, std::string>;
}

template <class T>
Json to_json(const T& v) {
  if constexpr (is_optional_v<T>) {
    return v ? to_json(*v) : Json(nullptr);
  } else if constexpr (is_vector_v<T>) {
    Json a = Json::array();
    for (auto& x : v) a.push_back(to_json(x));
    return a;
  } else if constexpr (std::is_enum_v<T>) {
    return Json(std::string(to_string(v)));
  } else {
    return Json(v);
  }
}

/// A value as messages show it: strings and enums quoted ('silu'), numbers as fmt prints them.
template <class V>
std::string show(const V& v) {
  if constexpr (std::is_same_v<V, std::string>)
    return "'" + v + "'";
  else if constexpr (std::is_enum_v<V>)
    return fmt::format("'{}'", to_string(v));
  else
    return fmt::format("{}", v);
}

/// Runs `f` on the value(s) of a member: the value, an optional's value when set, a vector's
/// elements.
template <class T, class F>
void each(const T& v, F&& f) {
  if constexpr (is_optional_v<T>) {
    if (v) f(*v);
  } else if constexpr (is_vector_v<T>) {
    for (auto& x : v) f(x);
  } else {
    f(v);
  }
}

inline std::string joined(const std::vector<std::string>& keys) {
  std::string s;
  for (auto& k : keys) s += (s.empty() ? "'" : ", '") + k + "'";
  return s;
}
}  // namespace field_detail

template <class C>
class FieldTable {
 public:
  using ReadFn = std::function<void(const Json& v, C& c, const std::string& field)>;
  using WriteFn = std::function<Json(const C& c)>;
  /// Throws ConfigError when the field's value in `c` is bad; `key` is its HF key.
  using CheckFn = std::function<void(const C& c, const std::string& key)>;

  struct Field {
    std::string key;
    std::vector<std::string> aliases;
    bool required = false;
    ReadFn read;
    WriteFn write;  // empty: not written
    std::vector<CheckFn> checks;
  };

  /// Builder of the field just added (chained calls; `V` is the value type checks see: the
  /// member's type with std::optional / std::vector unwrapped).
  template <class T>
  class FieldRef {
   public:
    using V = typename field_detail::Elem<T>::type;
    FieldRef(FieldTable& t, size_t i, T C::*m) : t_(t), i_(i), m_(m) {}

    /// The key must be present (ConfigError "<key>: missing required field").
    FieldRef& required() {
      f().required = true;
      return *this;
    }
    /// Another name of the same field, read when the key is absent; when both are given they
    /// must hold the same value.
    FieldRef& alias(std::string key) {
      f().aliases.push_back(std::move(key));
      return *this;
    }
    /// Check on the value (each element of a vector; an optional only when set): `ok(v)` false
    /// gives ConfigError "<key>: <v> <what>", e.g. "hidden_size: 0 must be > 0".
    template <class P>
    FieldRef& check(P ok, std::string what) {
      T C::*m = m_;
      f().checks.push_back([m, ok, what](const C& c, const std::string& key) {
        field_detail::each(c.*m, [&](const V& v) {
          if (!ok(v)) throw ConfigError(fmt::format("{}: {} {}", key, field_detail::show(v), what));
        });
      });
      return *this;
    }
    /// Check that needs other fields: `fn(c, v)` returns "" when v is fine, else the rest of the
    /// message after "<key>: <v> ".
    template <class F>
    FieldRef& check_with(F fn) {
      T C::*m = m_;
      f().checks.push_back([m, fn](const C& c, const std::string& key) {
        field_detail::each(c.*m, [&](const V& v) {
          std::string tail = fn(c, v);
          if (!tail.empty())
            throw ConfigError(fmt::format("{}: {} {}", key, field_detail::show(v), tail));
        });
      });
      return *this;
    }
    FieldRef& positive() {
      return check([](const V& v) { return v > V(0); }, "must be > 0");
    }
    FieldRef& non_negative() {
      return check([](const V& v) { return v >= V(0); }, "must be >= 0");
    }
    /// lo < v < hi.
    FieldRef& in_open(double lo, double hi) {
      return check([lo, hi](const V& v) { return v > lo && v < hi; },
                   fmt::format("must be in ({}, {})", lo, hi));
    }
    /// lo <= v <= hi.
    FieldRef& in_closed(double lo, double hi) {
      return check([lo, hi](const V& v) { return v >= lo && v <= hi; },
                   fmt::format("must be in [{}, {}]", lo, hi));
    }
    /// A list of token ids as HF writes them: one id (2), a list ([2, 3]) or null (none);
    /// written back as one id when there is one. For std::vector<int64_t> members.
    FieldRef& token_ids() {
      static_assert(std::is_same_v<T, std::vector<int64_t>>, "token_ids() needs vector<int64_t>");
      T C::*m = m_;
      f().read = [m](const Json& v, C& c, const std::string& field) {
        if (v.is_null())
          (c.*m).clear();
        else if (v.is_array())
          c.*m = JsonReader::convert<T>(v, field);
        else
          c.*m = {JsonReader::convert<int64_t>(v, field)};
      };
      f().write = [m](const C& c) {
        return (c.*m).size() == 1 ? Json((c.*m)[0]) : field_detail::to_json(c.*m);
      };
      return *this;
    }
    /// Replaces the reader (the value at the key, the config, the key's path for messages).
    FieldRef& read_with(ReadFn fn) {
      f().read = std::move(fn);
      return *this;
    }
    /// Replaces the writer.
    FieldRef& write_with(WriteFn fn) {
      f().write = std::move(fn);
      return *this;
    }

   private:
    Field& f() { return t_.fields_[i_]; }
    FieldTable& t_;
    size_t i_;
    T C::*m_;
  };

  /// A field stored in `member`, written and read under `key` (table order is the order of the
  /// JSON written and of the checks).
  template <class T>
  FieldRef<T> add(std::string key, T C::*member) {
    Field f;
    f.key = std::move(key);
    if constexpr (field_detail::simple<T>()) {
      f.read = [member](const Json& v, C& c, const std::string& field) {
        c.*member = JsonReader::convert<T>(v, field);
      };
      f.write = [member](const C& c) { return field_detail::to_json(c.*member); };
    }
    fields_.push_back(std::move(f));
    return FieldRef<T>(*this, fields_.size() - 1, member);
  }

  /// A key whose value repeats what other fields give (`what` names them, `value(c)` computes
  /// it): on reading it must agree, else ConfigError "<key>: <v> does not match <what> <value>".
  /// Written at this place in the table when `write` is true.
  void restates(std::string key, std::string what, std::function<Json(const C&)> value,
                bool write = false) {
    restates_.push_back({key, std::move(what), value});
    if (write) {
      Field f;
      f.key = std::move(key);
      f.write = std::move(value);
      written_only_.push_back(f.key);
      fields_.push_back(std::move(f));
    }
  }
  /// Keys known not to change the math: accepted and dropped.
  void ignore(std::initializer_list<const char*> keys) {
    for (const char* k : keys) ignored_.emplace_back(k);
  }
  /// A key that changes the math unless it holds one of `ok` (null is always accepted): other
  /// values are a ConfigError "<key>: <v> is not supported (<why>; only <ok> is)".
  void neutral(std::string key, std::vector<Json> ok, std::string why) {
    neutral_.push_back({std::move(key), std::move(ok), std::move(why)});
  }
  /// Hook run after the table's own keys, for the keys every config of the kind may carry
  /// (e.g. families::accept_hf_common_keys): it should skip() or read what it accepts.
  void common(std::function<void(JsonReader&)> fn) { common_ = std::move(fn); }

  /// Reads `j` into `c` (fields absent from `j` keep c's values: the defaults), by the policy at
  /// the top of this file. Does not validate.
  void read(const Json& j, C& c, const std::string& path = "") const {
    JsonReader r(j, path);
    for (const Field& f : fields_) {
      if (!f.read) {
        // Written-only keys (restates with write) are checked below; anything else is a bug.
        if (!is_written_only(f.key))
          throw std::logic_error("FieldTable: field '" + f.key + "' has no reader");
        continue;
      }
      std::vector<std::string> given;
      if (r.has(f.key)) given.push_back(f.key);
      for (auto& a : f.aliases)
        if (r.has(a)) given.push_back(a);
      if (given.empty()) {
        if (f.required)
          throw ConfigError(fmt::format("{}: missing required field", r.field(f.key)));
        continue;
      }
      const Json& v = r.raw(given[0]);
      for (size_t i = 1; i < given.size(); ++i) {
        const Json& w = r.raw(given[i]);
        if (w != v)
          throw ConfigError(fmt::format(
              "{}: {} disagrees with {}: {} (two names of one setting; they must be equal)",
              r.field(given[i]), w.dump(), r.field(given[0]), v.dump()));
      }
      f.read(v, c, r.field(given[0]));
    }
    for (const Restated& s : restates_) {
      if (!r.has(s.key)) continue;
      const Json& v = r.raw(s.key);
      const Json want = s.value(c);
      if (v != want)
        throw ConfigError(fmt::format("{}: {} does not match {} {}", r.field(s.key), v.dump(),
                                      s.what, want.dump()));
    }
    for (const Neutral& n : neutral_) {
      if (!r.has(n.key)) continue;
      const Json& v = r.raw(n.key);
      bool fine = v.is_null();
      for (auto& ok : n.ok) fine = fine || v == ok;
      if (!fine) {
        std::string oks;
        for (auto& ok : n.ok) oks += (oks.empty() ? "" : " or ") + ok.dump();
        throw ConfigError(fmt::format("{}: {} is not supported ({}; only {} is)", r.field(n.key),
                                      v.dump(), n.why, oks));
      }
    }
    for (auto& k : ignored_) r.skip(k);
    if (common_) common_(r);
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (r.has_read(it.key())) continue;
      std::string v = it.value().dump();
      if (v.size() > 60) v = v.substr(0, 57) + "...";
      ConfigWarnings::add(fmt::format(
          "{}: unknown key '{}' (= {}) ignored; Lazarus does not know it, check that it does not "
          "change the model",
          path.empty() ? "config.json" : path, it.key(), v));
    }
  }

  /// The JSON of `c`: every written field in table order. A writer that returns
  /// `omit()` leaves its key out (a key the file only carries in some cases).
  Json write(const C& c) const {
    Json j = Json::object();
    for (const Field& f : fields_) {
      if (!f.write) continue;
      Json v = f.write(c);
      if (!v.is_discarded()) j[f.key] = std::move(v);
    }
    return j;
  }
  /// What a writer returns to leave its key out of the JSON.
  static Json omit() { return Json(Json::value_t::discarded); }

  /// Runs every field's checks in table order (ConfigError naming the key and the value).
  void validate(const C& c) const {
    for (const Field& f : fields_)
      for (const CheckFn& chk : f.checks) chk(c, f.key);
  }

  /// Every key the table knows (fields, aliases, restated, neutral, ignored).
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (auto& f : fields_) {
      k.push_back(f.key);
      k.insert(k.end(), f.aliases.begin(), f.aliases.end());
    }
    for (auto& s : restates_) k.push_back(s.key);
    for (auto& n : neutral_) k.push_back(n.key);
    k.insert(k.end(), ignored_.begin(), ignored_.end());
    return k;
  }

 private:
  struct Restated {
    std::string key, what;
    std::function<Json(const C&)> value;
  };
  struct Neutral {
    std::string key;
    std::vector<Json> ok;
    std::string why;
  };
  bool is_written_only(const std::string& k) const {
    for (auto& w : written_only_)
      if (w == k) return true;
    return false;
  }

  std::vector<Field> fields_;
  std::vector<Restated> restates_;
  std::vector<Neutral> neutral_;
  std::vector<std::string> ignored_;
  std::vector<std::string> written_only_;
  std::function<void(JsonReader&)> common_;
};

}  // namespace lazarus::config
