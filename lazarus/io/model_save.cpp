// save_pretrained: a model as a Hugging Face folder (see model_folder.h).
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "lazarus/core/atomic_file.h"
#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/tensor/autograd.h"

namespace lazarus::io {

using formats::save_safetensors;
using formats::read_safetensors_index;

namespace fs = std::filesystem;

namespace {

const char* torch_dtype_name(DType dt) {
  switch (dt) {
    case DType::F32:
      return "float32";
    case DType::BF16:
      return "bfloat16";
    case DType::F16:
      return "float16";
    case DType::F64:
      return "float64";
    default:
      return "float32";
  }
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw LoadError(fmt::format("{}: cannot open", p.string()));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Tokenizer files HF keeps beside the weights.
const char* const kTokenizerFiles[] = {
    "tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
    "chat_template.json", "tokenizer.model",       "added_tokens.json",       "vocab.json",
    "merges.txt"};

// Weight files an earlier save left in `dir` (for removal when they no longer belong).
std::set<std::string> existing_weight_files(const fs::path& dir) {
  std::set<std::string> out;
  if (fs::exists(dir / "model.safetensors")) out.insert("model.safetensors");
  if (fs::exists(dir / "model.safetensors.index.json")) {
    out.insert("model.safetensors.index.json");
    try {
      for (auto& [shard, names] : read_safetensors_index(dir.string()).shards)
        out.insert(fs::path(shard).filename().string());
    } catch (const Error&) {
      // A broken index is replaced below; its shards cannot be known.
    }
  }
  return out;
}

void save_folder(nn::Module& model, config::Json cfg, const std::string& folder,
                 const SaveOptions& opts) {
  if (opts.dtype && !is_floating(*opts.dtype))
    throw DTypeError(
        fmt::format("[save_pretrained] dtype must be floating, got {}", dtype_name(*opts.dtype)));
  NoGradGuard ng;
  nn::StateDict weights = model.state_dict();
  if (const families::FamilyInfo* f = families::family_of_module(model); f && f->to_checkpoint)
    f->to_checkpoint(weights);
  std::optional<DType> saved_dtype = opts.dtype;
  uint64_t total = 0;
  for (auto& [name, t] : weights) {
    if (opts.dtype && is_floating(t.dtype()) && t.dtype() != *opts.dtype) t = t.to(*opts.dtype);
    if (!saved_dtype && is_floating(t.dtype())) saved_dtype = t.dtype();
    total += t.nbytes();
  }
  cfg["torch_dtype"] = torch_dtype_name(saved_dtype.value_or(DType::F32));

  // Shards in name order, each up to max_shard_bytes (a larger tensor gets a shard of its own).
  std::vector<std::map<std::string, Tensor>> shards(1);
  uint64_t in_shard = 0;
  for (auto& [name, t] : weights) {
    if (in_shard > 0 && in_shard + t.nbytes() > opts.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back()[name] = t;
    in_shard += t.nbytes();
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"}};

  fs::path dir(folder);
  std::error_code ec;
  bool fresh = !fs::exists(dir, ec);
  if (!fresh && !fs::is_directory(dir, ec))
    throw LoadError(fmt::format("{}: exists and is not a folder", folder));
  // A new folder is written beside its final place and renamed, so it appears whole.
  fs::path out = dir;
  if (fresh) {
    fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
    fs::create_directories(parent, ec);  // as transformers' save_pretrained does
    if (!fs::is_directory(parent))
      throw LoadError(fmt::format("{}: cannot create the parent folder {}{}", folder,
                                  parent.string(), ec ? ": " + ec.message() : ""));
    out = parent / fmt::format(".{}.tmp.{}", dir.filename().string(), ::getpid());
    fs::remove_all(out, ec);
    fs::create_directory(out, ec);
    if (ec) throw LoadError(fmt::format("{}: cannot create: {}", out.string(), ec.message()));
  }
  std::set<std::string> stale = fresh ? std::set<std::string>{} : existing_weight_files(dir);
  try {
    std::set<std::string> written;
    if (shards.size() == 1) {
      save_safetensors((out / "model.safetensors").string(), shards[0], meta);
      written.insert("model.safetensors");
    } else {
      config::Json index = {{"metadata", {{"total_size", total}}},
                            {"weight_map", config::Json::object()}};
      for (size_t i = 0; i < shards.size(); ++i) {
        std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
        save_safetensors((out / name).string(), shards[i], meta);
        written.insert(name);
        for (auto& [t, _] : shards[i]) index["weight_map"][t] = name;
      }
      write_file_atomic(out / "model.safetensors.index.json", index.dump(2) + "\n");
      written.insert("model.safetensors.index.json");
    }
    if (opts.generation)
      write_file_atomic(out / "generation_config.json", opts.generation->to_json().dump(2) + "\n");
    if (!opts.copy_tokenizer_from.empty()) {
      fs::path src(opts.copy_tokenizer_from);
      bool same = fs::exists(dir) && fs::equivalent(src, dir, ec);
      for (const char* f : kTokenizerFiles) {
        if (!same && fs::exists(src / f)) write_file_atomic(out / f, read_file(src / f));
      }
      if (!same && !opts.generation && fs::exists(src / "generation_config.json"))
        write_file_atomic(out / "generation_config.json",
                          read_file(src / "generation_config.json"));
    }
    write_file_atomic(out / "config.json", cfg.dump(2) + "\n");  // last: marks the folder done
    for (const std::string& f : stale) {
      if (!written.count(f)) fs::remove(out / f, ec);
    }
  } catch (...) {
    if (fresh) fs::remove_all(out, ec);
    throw;
  }
  if (fresh) {
    fs::rename(out, dir, ec);
    if (ec) {
      std::error_code ec2;
      fs::remove_all(out, ec2);
      throw LoadError(
          fmt::format("{}: cannot move the written folder into place: {}", folder, ec.message()));
    }
  }
}

}  // namespace

void save_pretrained(models::CausalLM& model, const std::string& folder, const SaveOptions& opts) {
  const families::FamilyInfo* f = families::family_of(model);
  if (!f)
    throw ConfigError(
        "[save_pretrained] the model belongs to no registered family, so there is no config.json "
        "to write for it");
  save_folder(model, *f->hf_config_of(model), folder, opts);
}

namespace {
void save_classifier(nn::Module& model, const char* what, const std::string& folder,
                     const SaveOptions& opts) {
  std::optional<config::Json> cfg = families::hf_config_of(model);
  if (!cfg)
    throw ConfigError(fmt::format(
        "[save_pretrained] this {} belongs to no registered family (build a family's classifier, "
        "such as families::LlamaForSequenceClassification), so there is no config.json to "
        "write for it",
        what));
  save_folder(model, *cfg, folder, opts);
}
}  // namespace

void save_pretrained(models::SequenceClassifier& model, const std::string& folder,
                     const SaveOptions& opts) {
  save_classifier(model, "SequenceClassifier", folder, opts);
}

void save_pretrained(models::TokenClassifier& model, const std::string& folder,
                     const SaveOptions& opts) {
  save_classifier(model, "TokenClassifier", folder, opts);
}

void save_pretrained(const PretrainedModel& m, const std::string& folder, SaveOptions opts) {
  if (!m.model && !m.sequence_classifier && !m.token_classifier)
    throw ConfigError("[save_pretrained] the PretrainedModel holds no model");
  if (opts.copy_tokenizer_from.empty()) opts.copy_tokenizer_from = m.folder;
  save_folder(m.module(), m.config, folder, opts);
}

}  // namespace lazarus::io
