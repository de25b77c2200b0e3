// `lazarus info`: what a model config describes — layers, shapes, parameter count and memory —
// computed from the config alone, without allocating the model; and what a model folder or a
// GGUF file holds (read from its headers and metadata only).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "lazarus/cli/cmd_info.h"
#include "lazarus/cli/commands.h"
#include "lazarus/config/model_config.h"
#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/families/registry.h"
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

}  // namespace

void print_model_summary(const std::string& title, const config::ModelConfig& m) {
  print_model(title, m);
}

std::string thousands(int64_t n) { return with_commas(n); }

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
