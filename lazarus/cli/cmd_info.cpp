// `lazarus info`: what a model config describes — layers, shapes, parameter count and memory —
// computed from the config alone, without allocating the model; and what a model folder or a
// GGUF file holds (read from its headers and metadata only).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "lazarus/cli/commands.h"
#include "lazarus/config/model_config.h"
#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/families/registry.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/generation/generation_config.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/io/model_gguf.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lazarus::cli {

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  int c = 0;
  for (size_t i = s.size(); i-- > 0;) {
    out.insert(out.begin(), s[i]);
    if (++c % 3 == 0 && i > 0 && s[i - 1] != '-') out.insert(out.begin(), ',');
  }
  return out;
}

std::string human(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  return fmt::format("{:.2f} {}", bytes, units[u]);
}

std::string describe_ssm(const config::SSMConfig& s, int64_t hidden) {
  return fmt::format("ssm {} (state {}, conv {}, intermediate {}, dt rank {}{}{}, {})",
                     config::to_string(s.type), s.state_size, s.conv_kernel,
                     s.resolved_intermediate_size(hidden), s.resolved_time_step_rank(hidden),
                     s.use_bias ? ", bias" : "", s.use_conv_bias ? ", conv bias" : "",
                     config::to_string(s.activation));
}

std::string describe_block(const config::BlockConfig& b, int64_t hidden) {
  if (b.type == config::BlockType::Mamba) {
    const auto& s = b.ssm;
    return fmt::format(
        "mamba: ssm {} (state {}, conv {}, intermediate {}, dt rank {}{}{}, {}), norm {}",
        config::to_string(s.type), s.state_size, s.conv_kernel,
        s.resolved_intermediate_size(hidden), s.resolved_time_step_rank(hidden),
        s.use_bias ? ", bias" : "", s.use_conv_bias ? ", conv bias" : "",
        config::to_string(s.activation), config::to_string(b.norm.type));
  }
  if (b.type == config::BlockType::Recurrent) {
    const auto& r = b.recurrent;
    return fmt::format("recurrent: {} (state {}{}), norm {}", config::to_string(r.type),
                       r.resolved_hidden_size(hidden), r.bias ? ", bias" : "",
                       config::to_string(b.norm.type));
  }
  const auto& a = b.attention;
  std::string attn =
      fmt::format("attention {} ({} heads, {} kv heads, head_dim {}", config::to_string(a.type),
                  a.num_attention_heads, a.num_key_value_heads, a.resolved_head_dim(hidden));
  if (a.sliding_window) attn += fmt::format(", window {}", *a.sliding_window);
  attn += fmt::format(", {}", config::to_string(a.position.type));
  if (a.position.rope.scaling != config::RoPEScalingType::None)
    attn += fmt::format(" with {} scaling", config::to_string(a.position.rope.scaling));
  attn += ")";
  std::string ffn = fmt::format("ffn {} ({}, {})", config::to_string(b.ffn.type),
                                config::to_string(b.ffn.activation), b.ffn.intermediate_size);
  if (b.ffn.is_moe()) {
    ffn = fmt::format("moe ffn: {} experts, top {}{} (each {} ({}, {})), aux loss coef {}",
                      b.ffn.num_experts, b.ffn.num_experts_per_tok,
                      b.ffn.norm_topk_prob ? " renormalised" : "", config::to_string(b.ffn.type),
                      config::to_string(b.ffn.activation), b.ffn.intermediate_size,
                      b.ffn.router_aux_loss_coef);
  }
  if (b.type == config::BlockType::Hybrid) {
    return fmt::format("hybrid: {} + {} combined by {}, {}, norm {}", attn,
                       describe_ssm(b.ssm, hidden), config::to_string(b.combine), ffn,
                       config::to_string(b.norm.type));
  }
  return fmt::format("{}: {}, {}, norm {}", config::to_string(b.type), attn, ffn,
                     config::to_string(b.norm.type));
}

void print_model(const std::string& title, const config::ModelConfig& m) {
  const auto& bb = m.backbone;
  std::printf("%s\n", title.c_str());
  std::string positions =
      bb.type == config::BackboneType::Mamba || bb.type == config::BackboneType::Recurrent
          ? std::string(" (recurrent state: no position limit)")
          : fmt::format(", max positions {}", bb.embedding.max_position_embeddings);
  std::printf("backbone   %s: %lld layers, hidden %lld, vocab %lld%s\n",
              std::string(config::to_string(bb.type)).c_str(), (long long)bb.num_layers,
              (long long)bb.hidden_size, (long long)bb.embedding.vocab_size, positions.c_str());
  if (bb.type == config::BackboneType::Hybrid && bb.layout != config::HybridLayout::None) {
    std::printf(
        "layout     %s%s\n", std::string(config::to_string(bb.layout)).c_str(),
        bb.layout == config::HybridLayout::Interleaved
            ? fmt::format(" (every {}th layer is the secondary block)", bb.layout_ratio + 1).c_str()
            : "");
  }
  // Consecutive layers with the same block print as one range. The block can only change at an
  // override or, with a two-block layout, at every layer: the scan jumps between those points
  // and stops after a bounded number of them (num_layers may be anything a file says).
  const int64_t L = bb.num_layers;
  const bool periodic = bb.secondary_block && (bb.layout == config::HybridLayout::Alternating ||
                                               bb.layout == config::HybridLayout::Interleaved);
  auto next_change = [&](int64_t l) {  // the first layer after l whose block may differ
    if (periodic || bb.block_overrides.count(l)) return l + 1;
    auto it = bb.block_overrides.upper_bound(l);
    return it == bb.block_overrides.end() ? L : it->first;
  };
  int64_t budget = 4096;
  int lines = 0;
  for (int64_t l = 0; l < L;) {
    if (lines == 64 || budget <= 0) {
      std::printf("  layers %lld-%lld  (not listed: the layout above continues)\n", (long long)l,
                  (long long)(L - 1));
      break;
    }
    int64_t e = next_change(l) - 1;
    while (e + 1 < L && --budget > 0 && bb.block_for(e + 1) == bb.block_for(l))
      e = next_change(e + 1) - 1;
    std::string range = l == e ? fmt::format("{}", l) : fmt::format("{}-{}", l, e);
    std::printf("  layers %-7s %s\n", range.c_str(),
                describe_block(bb.block_for(l), bb.hidden_size).c_str());
    ++lines;
    l = e + 1;
  }
  if (auto ip = bb.input_position(); ip != config::PositionEmbeddingType::None) {
    std::printf(
        "positions  %s, added to the token embeddings%s\n",
        std::string(config::to_string(ip)).c_str(),
        ip == config::PositionEmbeddingType::Learned
            ? fmt::format(" (table {} x {})", bb.embedding.max_position_embeddings, bb.hidden_size)
                  .c_str()
            : "");
  }
  const auto& h = m.head;
  if (h.type == config::HeadType::LM) {
    std::printf("head       lm%s\n", h.tie_word_embeddings ? " (tied to the token embedding)" : "");
  } else {
    bool cls = h.type == config::HeadType::Classifier;
    std::string what =
        cls ? fmt::format("{} labels", h.num_labels) : fmt::format("{} outputs", h.num_outputs);
    std::string pooled =
        h.pooling == config::PoolingType::None
            ? std::string("per token (TokenClassifier)")
            : fmt::format("pooling {} (SequenceClassifier)", config::to_string(h.pooling));
    std::printf("head       %s: %s, %s, score (%lld, %lld)%s%s\n",
                std::string(config::to_string(h.type)).c_str(), what.c_str(), pooled.c_str(),
                (long long)h.output_size(bb.embedding.vocab_size), (long long)bb.hidden_size,
                h.bias ? " + bias" : "",
                h.dropout > 0 ? fmt::format(", dropout {}", h.dropout).c_str() : "");
  }
  int64_t n = m.num_parameters();
  std::string scale = n >= 1'000'000'000 ? fmt::format("{:.2f} B", double(n) / 1e9)
                      : n >= 1'000'000   ? fmt::format("{:.2f} M", double(n) / 1e6)
                                         : fmt::format("{:.1f} K", double(n) / 1e3);
  std::printf("parameters %s (%s)\n", with_commas(n).c_str(), scale.c_str());
  std::printf("weights    %s in f32, %s in bf16/f16\n", human(double(n) * 4).c_str(),
              human(double(n) * 2).c_str());
}

std::string model_type_of(const config::Json& j) {
  return j.is_object() && j.contains("model_type") && j["model_type"].is_string()
             ? j["model_type"].get<std::string>()
             : std::string();
}

config::Json read_json(const std::string& path) {
  return parse_json_text<config::Json, ConfigError>(
      read_regular_file(path, "config file", 16u << 20), path, 64);
}

namespace fs = std::filesystem;

// A model folder: the config summary, then what the files hold (weights are read from the
// safetensors headers only; nothing is allocated).
void print_folder(const std::string& spec) {
  std::string folder = io::resolve_model_folder(spec);
  fs::path dir(folder);
  std::string cfg_path = (dir / "config.json").string();
  config::Json j = read_json(cfg_path);
  config::ModelConfig mc;
  std::string family;
  try {
    family = families::family_for(j).name;
    mc = families::model_config_for(j);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", cfg_path, e.what()));
  }
  std::string type = j.contains("model_type") && j["model_type"].is_string()
                         ? j["model_type"].get<std::string>()
                         : family;
  const families::ModelTask task = families::task_of(j);
  std::string title = fmt::format("model      {} ({}, family {})", folder, type, family);
  if (task != families::ModelTask::CausalLM) {
    title += fmt::format(", {}", j["architectures"][0].get<std::string>());
  }
  print_model(title, mc);
  for (auto& w : families::config_warnings(j, cfg_path)) std::printf("warning    %s\n", w.c_str());
  if (task != families::ModelTask::CausalLM) {
    auto labels = families::ClassificationLabels::from_json(j);  // checked by model_config_for
    std::string names;
    for (int64_t i = 0; i < labels.num_labels(); ++i) {
      if (i == 8 && labels.num_labels() > 10) {
        names += fmt::format(", ... ({} more)", labels.num_labels() - 8);
        break;
      }
      names += fmt::format("{}{}={}", i ? ", " : "", i, labels.id2label[size_t(i)]);
    }
    std::printf("labels     %lld: %s\n", (long long)labels.num_labels(), names.c_str());
    if (task == families::ModelTask::SequenceClassification) {
      std::string pt =
          labels.problem_type
              ? *labels.problem_type
              : (labels.num_labels() == 1 ? std::string("regression (num_labels 1)")
                                          : std::string("from the labels' dtype: integer ids -> "
                                                        "single-label, floats -> multi-label"));
      std::string pad = j.contains("pad_token_id") && j["pad_token_id"].is_number_integer()
                            ? fmt::format("the last token that is not pad_token_id {}",
                                          j["pad_token_id"].get<int64_t>())
                            : std::string("the last token (no pad_token_id: one row at a time)");
      std::printf("task       sequence classification: one prediction at %s; loss %s\n",
                  pad.c_str(), pt.c_str());
    } else {
      std::printf(
          "task       token classification: one prediction per token; loss "
          "cross-entropy over labels != -100\n");
    }
  }

  std::vector<std::string> files;
  if (fs::exists(dir / "model.safetensors.index.json")) {
    for (auto& [shard, names] : formats::read_safetensors_index(folder).shards) files.push_back(shard);
  } else if (fs::exists(dir / "model.safetensors")) {
    files.push_back((dir / "model.safetensors").string());
  }
  if (files.empty()) {
    std::printf("checkpoint none (no model.safetensors or model.safetensors.index.json)\n");
  } else {
    std::map<std::string, int64_t> by_dtype;
    uint64_t bytes = 0;
    size_t tensors = 0;
    for (auto& f : files) {
      auto st = formats::SafetensorsFile::open(f);
      for (auto& e : st->entries()) {
        int64_t n = 1;
        for (int64_t d : e.shape) n *= d;
        by_dtype[std::string(dtype_name(e.dtype))] += n;
        bytes += e.end - e.begin;
        ++tensors;
      }
    }
    std::string dts;
    for (auto& [dt, n] : by_dtype)
      dts += fmt::format("{}{} {}", dts.empty() ? "" : ", ", with_commas(n), dt);
    std::printf("checkpoint %zu file%s, %zu tensors, %s (%s)\n", files.size(),
                files.size() == 1 ? "" : "s", tensors, human(double(bytes)).c_str(), dts.c_str());
  }
  if (fs::exists(dir / "tokenizer.json")) {
    auto tok = tokenizers::Tokenizer::from_file((dir / "tokenizer.json").string());
    std::printf("tokenizer  tokenizer.json, %zu tokens\n", tok.vocab_size(true));
  } else {
    std::printf("tokenizer  none (no tokenizer.json)\n");
  }
  bool chat = false;
  if (fs::exists(dir / "tokenizer_config.json") || fs::exists(dir / "chat_template.jinja"))
    chat = tokenizers::TokenizerConfig::load(dir).has_chat_template();
  std::printf("chat       %s\n", chat ? "chat template present" : "no chat template");
  if (task != families::ModelTask::CausalLM) return;  // a classifier generates nothing
  generation::GenerationConfig g = fs::exists(dir / "generation_config.json")
                                       ? generation::GenerationConfig::from_json(
                                             read_json((dir / "generation_config.json").string()),
                                             (dir / "generation_config.json").string())
                                       : generation::GenerationConfig::from_model_config(j);
  std::string eos;
  for (int64_t id : g.eos_token_id) eos += (eos.empty() ? "" : ", ") + std::to_string(id);
  std::string how = g.do_sample ? fmt::format("sampling: temperature {}, top_k {}, top_p {}",
                                              g.temperature, g.top_k, g.top_p)
                                : std::string("greedy");
  std::printf("generation %s; eos ids [%s]\n", how.c_str(), eos.c_str());
  for (auto& w : g.not_applied) std::printf("warning    %s\n", w.c_str());
}

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
    print_model(fmt::format("model      {} (GGUF v{}, architecture {} -> family {}{})", path,
                            f->version(), arch, families::family_for(*cfg).name, name),
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
      mib(double(file_size)).c_str(), with_commas(int64_t(file_size)).c_str(), f->tensors().size(),
      with_commas(elements).c_str(), f->metadata().size());
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

}  // namespace

void register_info_command(CLI::App& app) {
  struct Opts {
    std::string preset, config, model;
    bool list = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("info",
                                     "Describe a model config: layers, shapes, parameter count and "
                                     "weight memory (nothing is allocated); or a model folder or "
                                     "GGUF file");
  auto* p = cmd->add_option("--preset", o->preset,
                            "A preset name (see --list-presets), e.g. llama3_8b or mamba_130m");
  auto* c = cmd->add_option(
      "--config", o->config,
      "A config file: a Hugging Face config.json of a registered family (lazarus list-models), a "
      "Lazarus model config ({\"backbone\": ..., \"head\": ...}), or a model folder holding "
      "config.json");
  std::string archs;
  for (const auto& a : io::gguf_architectures()) archs += (archs.empty() ? "" : ", ") + a;
  auto* m = cmd->add_option(
      "--model,-m", o->model,
      "A Hugging Face model folder: the config summary plus its checkpoint files, tokenizer,\n"
      "chat template and generation defaults (weights are not loaded); or a GGUF file: its\n"
      "architecture (" +
          archs +
          " load), hyper-parameters, parameter count,\n"
          "tensors per type, tokenizer and chat template (with --json: every metadata key and\n"
          "tensor info as well)");
  p->excludes(c);
  m->excludes(p);
  m->excludes(c);
  cmd->add_flag("--list-presets", o->list, "List the preset names");
  cmd->add_flag("--json", o->json,
                "Print the config as JSON instead of the summary (with a GGUF --model: the file's "
                "metadata, tensor infos and summary)");
  cmd->footer(
      "Examples:\n  lazarus info --preset llama3_8b\n  lazarus info --preset mamba_130m\n  "
      "lazarus info --config path/to/model/config.json\n  lazarus info --model path/to/model\n  "
      "lazarus info --model model-q4_K_M.gguf [--json]");
  cmd->callback([o] {
    if (o->list) {
      for (const auto& f : families::registered_families())
        for (const auto& p : f.presets)
          std::printf("%-16s %-8s %s\n", p.name.c_str(), f.name.c_str(), p.description.c_str());
      return;
    }
    if (!o->model.empty()) {
      if (io::is_gguf_file(o->model)) {
        print_gguf(o->model, o->json);
        return;
      }
      print_folder(o->model);
      return;
    }
    if (!o->preset.empty()) {
      const families::PresetRef ref = families::find_preset(o->preset);
      const config::Json j = ref.preset->config();
      if (o->json) {
        std::printf("%s\n", j.dump(2).c_str());
        return;
      }
      const config::ModelConfig mc = families::model_config_for(j);
      print_model(fmt::format("preset     {} ({}, family {}): {}", o->preset, model_type_of(j),
                              ref.family->name, ref.preset->description),
                  mc);
      if (int64_t pub = ref.preset->published_parameters) {
        std::printf("published  %s parameters (%s)\n", with_commas(pub).c_str(),
                    pub == mc.num_parameters() ? "equal to the count above"
                                               : "DIFFERS from the count above");
      }
      return;
    }
    if (o->config.empty())
      throw ConfigError(
          "[info] give --model FOLDER, --preset NAME or --config FILE (or --list-presets)");
    std::string path = o->config;
    if (std::filesystem::is_directory(path))
      path = (std::filesystem::path(path) / "config.json").string();
    config::Json j = read_json(path);
    // Any config the registry reads: a family's config.json or a Lazarus model config.
    const families::FamilyInfo& family = families::family_for(j);
    if (o->json) {
      std::printf("%s\n",
                  (family.full_config ? family.full_config(j, path) : j).dump(2).c_str());
      return;
    }
    config::ModelConfig mc = families::model_config_for(j, path);
    std::string what = j.contains("model_type") ? fmt::format(" ({})", model_type_of(j))
                                                : std::string();
    print_model(fmt::format("config     {}{}", path, what), mc);
    for (auto& w : families::config_warnings(j, path)) std::printf("warning    %s\n", w.c_str());
  });
}

}  // namespace lazarus::cli
