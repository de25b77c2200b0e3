// `lazarus info --model FILE.gguf` (see cmd_info.h): a GGUF file described from its headers and
// metadata; nothing is loaded.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "lazarus/cli/cmd_info.h"
#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/io/model_gguf.h"

namespace lazarus::cli {

namespace {

std::string mib(double bytes) {
  return bytes >= 1024.0 * 1024 * 1024 ? fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024))
         : bytes >= 1024.0 * 1024      ? fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024))
         : bytes >= 1024.0             ? fmt::format("{:.1f} KiB", bytes / 1024.0)
                                       : fmt::format("{} B", int64_t(bytes));
}

// A metadata value as JSON: {"type": "u32", "value": 7}; arrays {"type": "array",
// "element_type": "f32", "value": [...]}, nested arrays as {"type", "element_type", "value"}
// items. 64-bit integers stay exact (JSON numbers); strings are the file's bytes.
config::Json gguf_value_json(const formats::GgufValue& v) {
  using formats::GgufValueType;
  config::Json j;
  j["type"] = formats::gguf_value_type_name(v.type());
  switch (v.type()) {
    case GgufValueType::U8:
    case GgufValueType::U16:
    case GgufValueType::U32:
    case GgufValueType::U64:
      j["value"] = v.as_u64();
      break;
    case GgufValueType::I8:
    case GgufValueType::I16:
    case GgufValueType::I32:
    case GgufValueType::I64:
      j["value"] = v.as_i64();
      break;
    case GgufValueType::F32:
      j["value"] = double(v.as_f32());
      break;
    case GgufValueType::F64:
      j["value"] = v.as_f64();
      break;
    case GgufValueType::Bool:
      j["value"] = v.as_bool();
      break;
    case GgufValueType::String:
      j["value"] = v.as_string();
      break;
    case GgufValueType::Array: {
      j["element_type"] = formats::gguf_value_type_name(v.array_type());
      config::Json items = config::Json::array();
      if (v.array_type() == GgufValueType::String) {
        for (const auto& s : v.as_string_array()) items.push_back(s);
      } else {
        for (uint64_t i = 0; i < v.array_size(); ++i) {
          config::Json e = gguf_value_json(v.element(i));
          items.push_back(v.array_type() == GgufValueType::Array ? e : e["value"]);
        }
      }
      j["value"] = std::move(items);
      break;
    }
  }
  return j;
}

}  // namespace

// `lazarus info --model FILE.gguf`: the architecture and the config it maps to, the tensors by
// type, the tokenizer and chat template from the metadata (nothing is loaded but the headers).
// --json: the same, plus every metadata key (type and value) and every tensor info.
void print_gguf(const std::string& path, bool as_json) {
  const auto f = formats::GgufFile::open(path);
  const uint64_t file_size = std::filesystem::file_size(path);
  const std::string arch =
      f->has("general.architecture") &&
              f->get("general.architecture").type() == formats::GgufValueType::String
          ? f->get("general.architecture").as_string()
          : std::string("(none)");
  // Per type, in first-seen order: tensors, elements, bytes.
  struct Count {
    std::string type;
    int64_t tensors = 0, elements = 0;
    uint64_t bytes = 0;
  };
  std::vector<Count> by_type;
  int64_t elements = 0;
  for (const auto& t : f->tensors()) {
    const std::string name = formats::ggml_type_traits(t.type).name;
    auto it = std::find_if(by_type.begin(), by_type.end(), [&](auto& c) { return c.type == name; });
    if (it == by_type.end()) it = by_type.insert(by_type.end(), Count{name});
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    ++it->tensors;
    it->elements += n;
    it->bytes += t.nbytes;
    elements += n;
  }
  // The config it loads as, or why it does not.
  std::optional<config::Json> cfg;
  std::string cfg_error;
  try {
    cfg = io::gguf_model_config(*f);
    families::model_config_for(*cfg);  // validates
  } catch (const Error& e) {
    cfg.reset();
    cfg_error = e.what();
  }
  const auto* tok_model = f->find("tokenizer.ggml.model");
  const auto* tokens = f->find("tokenizer.ggml.tokens");
  const uint64_t n_tokens =
      tokens && tokens->type() == formats::GgufValueType::Array ? tokens->array_size() : 0;
  auto token_id = [&](const char* key) -> std::optional<int64_t> {
    const auto* v = f->find(key);
    if (!v) return std::nullopt;
    return v->as_i64();
  };
  const auto bos = token_id("tokenizer.ggml.bos_token_id"),
             eos = token_id("tokenizer.ggml.eos_token_id");
  const bool chat = f->has("tokenizer.chat_template");

  if (as_json) {
    config::Json j;
    j["file"] = path;
    j["file_size"] = file_size;
    j["version"] = f->version();
    j["alignment"] = f->alignment();
    j["data_offset"] = f->data_offset();
    j["architecture"] = arch;
    if (cfg) {
      j["config"] = *cfg;
      j["family"] = families::family_for(*cfg).name;
    } else {
      j["config"] = nullptr;
      j["config_error"] = cfg_error;
    }
    j["parameters"] = elements;
    config::Json types = config::Json::object();
    for (const auto& c : by_type)
      types[c.type] = {{"tensors", c.tensors}, {"elements", c.elements}, {"bytes", c.bytes}};
    j["tensor_types"] = std::move(types);
    config::Json tj;
    tj["model"] = tok_model ? config::Json(tok_model->as_string()) : config::Json(nullptr);
    tj["tokens"] = n_tokens;
    tj["bos_token_id"] = bos ? config::Json(*bos) : config::Json(nullptr);
    tj["eos_token_id"] = eos ? config::Json(*eos) : config::Json(nullptr);
    j["tokenizer"] = std::move(tj);
    j["chat_template"] = chat;
    config::Json md = config::Json::array();
    for (const auto& [k, v] : f->metadata()) {
      config::Json e = {{"key", k}};
      e.update(gguf_value_json(v));
      md.push_back(std::move(e));
    }
    j["metadata"] = std::move(md);
    config::Json ts = config::Json::array();
    for (const auto& t : f->tensors()) {
      ts.push_back({{"name", t.name},
                    {"type", formats::ggml_type_traits(t.type).name},
                    {"type_id", uint32_t(t.type)},
                    {"ne", t.ne},
                    {"offset", t.offset},
                    {"nbytes", t.nbytes}});
    }
    j["tensors"] = std::move(ts);
    // Strings are the file's bytes: invalid UTF-8 prints as U+FFFD rather than failing.
    std::printf("%s\n", j.dump(1, ' ', false, config::Json::error_handler_t::replace).c_str());
    return;
  }

  std::string name;
  if (const auto* n = f->find("general.name"); n && n->type() == formats::GgufValueType::String)
    name = fmt::format(", name '{}'", n->as_string());
  if (cfg) {
    print_model_summary(
        fmt::format("model      {} (GGUF v{}, architecture {} -> family {}{})", path, f->version(),
                    arch, families::family_for(*cfg).name, name),
        families::model_config_for(*cfg));
  } else {
    std::printf("model      %s (GGUF v%u, architecture %s%s)\n", path.c_str(), f->version(),
                arch.c_str(), name.c_str());
    std::printf("config     not loadable by Lazarus: %s\n", cfg_error.c_str());
    // The architecture's own hyper-parameters, as the file states them.
    for (const auto& [k, v] : f->metadata()) {
      if (!k.starts_with(arch + ".") || v.type() == formats::GgufValueType::Array) continue;
      std::string val =
          gguf_value_json(v)["value"].dump(-1, ' ', false, config::Json::error_handler_t::replace);
      std::printf("  %-40s %s\n", k.c_str(), val.c_str());
    }
  }
  std::printf(
      "file       %s (%s bytes), %zu tensors, %s parameters in the file, %zu metadata keys\n",
      mib(double(file_size)).c_str(), thousands(int64_t(file_size)).c_str(), f->tensors().size(),
      thousands(elements).c_str(), f->metadata().size());
  for (const auto& c : by_type)
    std::printf("  %s: %lld tensor%s, %s\n", c.type.c_str(), (long long)c.tensors,
                c.tensors == 1 ? "" : "s", mib(double(c.bytes)).c_str());
  if (tok_model) {
    std::string ids;
    auto text = [&](int64_t id) {
      if (!tokens || tokens->array_type() != formats::GgufValueType::String || id < 0 ||
          uint64_t(id) >= n_tokens)
        return std::string();
      return fmt::format(" '{}'", tokens->as_string_array()[size_t(id)]);
    };
    if (bos) ids += fmt::format(", bos {}{}", *bos, text(*bos));
    if (eos) ids += fmt::format(", eos {}{}", *eos, text(*eos));
    std::printf("tokenizer  gguf %s, %llu tokens%s\n", tok_model->as_string().c_str(),
                (unsigned long long)n_tokens, ids.c_str());
  } else {
    std::printf("tokenizer  none (no tokenizer.ggml.model)\n");
  }
  std::printf("chat       %s\n",
              chat ? "chat template present (tokenizer.chat_template)" : "no chat template");
}

}  // namespace lazarus::cli
