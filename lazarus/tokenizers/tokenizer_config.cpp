// tokenizer_config.json reader: strict about the types of the fields it models, tolerant of the
// many fields it does not (they stay in `raw`).
#include "lazarus/tokenizers/tokenizer_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"

namespace lazarus::tokenizers {

namespace {

std::string short_dump(const nlohmann::json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

[[noreturn]] void bad_field(const std::string& origin, const std::string& field,
                            const std::string& expected, const nlohmann::json& got) {
  throw LoadError(origin + ": field '" + field + "': expected " + expected + ", got " +
                  std::string(got.type_name()) + " " + short_dump(got));
}

std::optional<std::string> read_token(const nlohmann::json& j, const char* field,
                                      const std::string& origin) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
    bad_field(origin, std::string(field) + ".content", "a string (AddedToken content)",
              content == it->end() ? nlohmann::json() : *content);
  }
  bad_field(origin, field, "a string, an AddedToken object or null", *it);
}

std::optional<bool> read_bool(const nlohmann::json& j, const char* field,
                              const std::string& origin) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) bad_field(origin, field, "true or false", *it);
  return it->get<bool>();
}

// tokenizer_config.json, chat_template.jinja / .json: text files well under this.
constexpr uint64_t kMaxConfigBytes = 64u << 20;

std::string read_file(const std::filesystem::path& p) {
  return read_regular_file(p.string(), "tokenizer config file", kMaxConfigBytes);
}

}  // namespace

TokenizerConfig TokenizerConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object())
    throw LoadError(origin + ": expected a JSON object at the top level, got " + j.type_name());
  TokenizerConfig c;
  c.raw = j;
  c.bos_token = read_token(j, "bos_token", origin);
  c.eos_token = read_token(j, "eos_token", origin);
  c.pad_token = read_token(j, "pad_token", origin);
  c.unk_token = read_token(j, "unk_token", origin);
  c.add_bos_token = read_bool(j, "add_bos_token", origin);
  c.add_eos_token = read_bool(j, "add_eos_token", origin);
  c.clean_up_tokenization_spaces = read_bool(j, "clean_up_tokenization_spaces", origin);
  if (auto it = j.find("tokenizer_class"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) bad_field(origin, "tokenizer_class", "a string", *it);
    c.tokenizer_class = it->get<std::string>();
  }
  if (auto it = j.find("model_max_length"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) bad_field(origin, "model_max_length", "a number", *it);
    double d = it->get<double>();
    if (d < 0 || std::isnan(d)) bad_field(origin, "model_max_length", "a non-negative number", *it);
    if (it->is_number_integer() && !it->is_number_unsigned()) {
      c.model_max_length = it->get<int64_t>();
    } else if (it->is_number_unsigned() &&
               it->get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
      c.model_max_length = static_cast<int64_t>(it->get<uint64_t>());
    } else {
      c.model_max_length = d >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(d);
    }
  }
  if (auto it = j.find("chat_template"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      c.chat_templates["default"] = it->get<std::string>();
    } else if (it->is_array()) {
      for (size_t k = 0; k < it->size(); ++k) {
        const auto& e = (*it)[k];
        std::string where = "chat_template[" + std::to_string(k) + "]";
        if (!e.is_object()) bad_field(origin, where, "an object {\"name\", \"template\"}", e);
        auto name = e.find("name");
        auto tmpl = e.find("template");
        if (name == e.end() || !name->is_string())
          bad_field(origin, where + ".name", "a string",
                    name == e.end() ? nlohmann::json() : *name);
        if (tmpl == e.end() || !tmpl->is_string())
          bad_field(origin, where + ".template", "a string",
                    tmpl == e.end() ? nlohmann::json() : *tmpl);
        if (c.chat_templates.count(name->get<std::string>()))
          throw LoadError(origin + ": field '" + where + ".name': duplicate template name '" +
                          name->get<std::string>() + "'");
        c.chat_templates[name->get<std::string>()] = tmpl->get<std::string>();
      }
    } else {
      bad_field(origin, "chat_template", "a string or a list of {\"name\", \"template\"}", *it);
    }
  }
  return c;
}

TokenizerConfig TokenizerConfig::load(const std::filesystem::path& file_or_dir) {
  std::error_code ec;
  bool is_dir = std::filesystem::is_directory(file_or_dir, ec);
  std::filesystem::path file = is_dir ? file_or_dir / "tokenizer_config.json" : file_or_dir;
  if (!std::filesystem::exists(file, ec))
    throw LoadError(file.string() + ": no such file" +
                    (is_dir ? " (the folder has no tokenizer_config.json)" : ""));
  nlohmann::json j = parse_json_text(read_file(file), file.string(), 64);
  TokenizerConfig c = from_json(j, file.string());
  if (is_dir) {
    auto jinja_file = file_or_dir / "chat_template.jinja";
    auto json_file = file_or_dir / "chat_template.json";
    if (std::filesystem::exists(jinja_file, ec)) {
      c.chat_templates["default"] = read_file(jinja_file);
    } else if (std::filesystem::exists(json_file, ec)) {
      nlohmann::json t = parse_json_text(read_file(json_file), json_file.string(), 64);
      if (!t.is_object() || !t.contains("chat_template") || !t["chat_template"].is_string())
        throw LoadError(json_file.string() + ": field 'chat_template': expected a string");
      c.chat_templates["default"] = t["chat_template"].get<std::string>();
    }
  }
  return c;
}

const std::string& TokenizerConfig::chat_template(const std::string& name) const {
  if (chat_templates.empty()) throw ConfigError("tokenizer config: no chat_template is defined");
  if (name.empty()) {
    if (auto it = chat_templates.find("default"); it != chat_templates.end()) return it->second;
    if (chat_templates.size() == 1) return chat_templates.begin()->second;
  } else if (auto it = chat_templates.find(name); it != chat_templates.end()) {
    return it->second;
  }
  std::string names;
  for (const auto& kv : chat_templates) names += (names.empty() ? "" : ", ") + kv.first;
  throw ConfigError("tokenizer config: no chat template named '" +
                    (name.empty() ? std::string("default") : name) + "' (available: " + names +
                    ")");
}

}  // namespace lazarus::tokenizers
