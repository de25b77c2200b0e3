// Loading Hugging Face model folders (see model_folder.h); saving is in model_save.cpp.
#include "lazarus/io/model_folder.h"
#include "lazarus/io/model_gguf.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/io/hub.h"
#include "lazarus/heads/lm_head.h"
#include "lazarus/nn/layers.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/quants.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/families/registry.h"
#include "lazarus/formats/safetensors.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/autograd.h"

namespace lazarus::io {

using formats::SafetensorsFile;
using formats::SafetensorsIndex;
using formats::read_safetensors_index;
using formats::check_shard;

namespace fs = std::filesystem;

namespace {

// config.json and generation_config.json are small; anything past this is not one.
constexpr uintmax_t kMaxConfigBytes = 16u << 20;

config::Json read_json_file(const fs::path& p) {
  std::string text = read_regular_file(p.string(), "config file", kMaxConfigBytes);
  check_json_depth(text.data(), text.size(), 32, p.string());  // a malformed file: LoadError
  return parse_json_text<config::Json, ConfigError>(text, p.string(), 32);
}

// Runs `fn(i)` for i in [0, n) on up to `threads` threads; rethrows the first error.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  size_t workers = std::min<size_t>(
      n, threads > 0 ? size_t(threads) : std::max(1u, std::thread::hardware_concurrency()));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::exception_ptr err;
  std::vector<std::thread> pool;
  for (size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < n;) {
        {
          std::lock_guard<std::mutex> lk(err_mu);
          if (err) return;
        }
        try {
          fn(i);
        } catch (...) {
          std::lock_guard<std::mutex> lk(err_mu);
          if (!err) err = std::current_exception();
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace

nn::StateDict read_checkpoint(const std::string& folder, std::optional<DType> dtype, int threads,
                              const std::function<void(const LoadProgress&)>& progress,
                              uint64_t* total_bytes) {
  fs::path dir(folder);
  // Which files, and which tensors each must hold (empty list = all of a single file).
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  std::optional<SafetensorsIndex> index;
  if (fs::exists(dir / "model.safetensors.index.json")) {
    index = read_safetensors_index(folder);
    for (auto& [shard, names] : index->shards) files.emplace_back(shard, names);
  } else if (fs::exists(dir / "model.safetensors")) {
    files.emplace_back((dir / "model.safetensors").string(), std::vector<std::string>{});
  } else {
    throw LoadError(fmt::format(
        "{}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints "
        "are supported; convert pytorch_model.bin files with transformers' save_pretrained)",
        folder));
  }

  // Open and validate every file first (in parallel), so sizes are known for the progress.
  std::vector<std::shared_ptr<SafetensorsFile>> opened(files.size());
  parallel_for(files.size(), threads,
               [&](size_t i) { opened[i] = SafetensorsFile::open(files[i].first); });
  LoadProgress total;
  for (size_t i = 0; i < files.size(); ++i) {
    if (index) check_shard(*index, *opened[i], files[i].second);
    for (auto& e : opened[i]->entries()) {
      total.bytes_total += e.end - e.begin;
      ++total.tensors_total;
    }
  }
  if (total_bytes) *total_bytes = total.bytes_total;

  // Read (and convert) the tensors of each file; one file per worker.
  std::mutex mu;
  nn::StateDict out;
  LoadProgress done = total;
  if (progress) progress(done);
  parallel_for(files.size(), threads, [&](size_t i) {
    const SafetensorsFile& f = *opened[i];
    for (auto& e : f.entries()) {
      Tensor t = f.tensor(e.name);
      if (dtype && is_floating(t.dtype()) && t.dtype() != *dtype) {
        NoGradGuard ng;
        t = t.to(*dtype).contiguous();
      }
      std::lock_guard<std::mutex> lk(mu);
      if (!out.emplace(e.name, t).second) {
        throw LoadError(
            fmt::format("{}: tensor '{}' appears in more than one shard", folder, e.name));
      }
      done.bytes_done += e.end - e.begin;
      ++done.tensors_done;
      if (progress) progress(done);
    }
  });
  return out;
}

nn::Module& PretrainedModel::module() const {
  if (model) return *model;
  if (sequence_classifier) return *sequence_classifier;
  if (token_classifier) return *token_classifier;
  throw ConfigError(fmt::format("{}: the PretrainedModel holds no model", folder));
}

const config::ModelConfig& PretrainedModel::model_config() const {
  if (model) return model->config();
  if (sequence_classifier) return sequence_classifier->config();
  if (token_classifier) return token_classifier->config();
  throw ConfigError(fmt::format("{}: the PretrainedModel holds no model", folder));
}

models::CausalLM& PretrainedModel::causal_lm() const {
  if (model) return *model;
  std::string arch = config.contains("architectures") ? config["architectures"].dump() : "?";
  throw ConfigError(fmt::format(
      "{}: holds a {} model (architectures {}); this needs a causal LM (*ForCausalLM) — "
      "classifiers are used from the library (io::load_pretrained, PretrainedModel::{})",
      folder, families::task_name(task), arch,
      task == families::ModelTask::TokenClassification ? "token_classifier"
                                                       : "sequence_classifier"));
}

void load_weights(nn::Module& module, nn::StateDict weights, const std::string& origin,
                  bool keep_dtype) {
  if (const families::FamilyInfo* f = families::family_of_module(module); f && f->from_checkpoint)
    f->from_checkpoint(weights);
  // A tied head reads the embedding: a checkpoint may still carry lm_head.weight (older
  // transformers wrote both). Drop it when it is the same matrix; a different one means the
  // config is wrong, and loading would silently change the model.
  auto* lm = dynamic_cast<models::CausalLM*>(&module);
  if (lm && lm->lm_head && lm->lm_head->tied()) {
    models::CausalLM& model = *lm;
    auto it = weights.find("lm_head.weight");
    if (it != weights.end()) {
      std::string tied_name;
      const Tensor* target = &model.lm_head->weight_matrix();
      for (auto& [name, slot] : model.named_parameters())
        if (slot == target) tied_name = name;
      auto emb = weights.find(tied_name);
      bool same = emb != weights.end() && emb->second.shape() == it->second.shape() &&
                  emb->second.dtype() == it->second.dtype();
      if (same) {
        Tensor a = emb->second.contiguous(), b = it->second.contiguous();
        same = std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
      }
      if (!same) {
        throw LoadError(fmt::format(
            "{}: config.json sets tie_word_embeddings, but the checkpoint's lm_head.weight differs "
            "from {} (set \"tie_word_embeddings\": false if the head is its own matrix)",
            origin, tied_name.empty() ? "the token embedding" : tied_name));
      }
      weights.erase(it);
    }
  }
  try {
    module.load_state_dict(weights, /*strict=*/true, /*assign=*/true, keep_dtype);
  } catch (const LoadError& e) {
    throw LoadError(fmt::format("{}: {}", origin, e.what()));
  }
}

int quantize_weights(nn::Module& model, const QuantMix& mix) {
  struct Slot {
    Tensor* w;
    MatrixRole role;
    int layer;
  };
  std::vector<Slot> slots;
  int n_layers = 0;
  bool tied = false;
  for (auto& [name, m] : model.named_modules()) {
    int layer = -1;
    MatrixRole role = matrix_role(name, layer);
    n_layers = std::max(n_layers, layer + 1);
    if (auto* l = dynamic_cast<nn::Linear*>(m)) slots.push_back({&l->weight, role, layer});
    if (auto* e = dynamic_cast<nn::Embedding*>(m)) {
      slots.push_back({&e->weight, MatrixRole::TokenEmbedding, layer});
    }
    if (auto* h = dynamic_cast<heads::LMHead*>(m)) {
      if (h->tied()) tied = true;
      else slots.push_back({&h->weight, MatrixRole::Output, layer});
    }
  }
  int n = 0;
  NoGradGuard ng;
  for (const Slot& s : slots) {
    Tensor* w = s.w;
    if (w->dim() != 2 || !is_floating(w->dtype())) continue;
    const auto t = quant_mix_type(mix, s.role, s.layer, n_layers, w->size(1), tied);
    if (!t) continue;
    *w = w->contiguous().to(*t);
    ++n;
  }
  return n;
}

PretrainedModel load_pretrained(const std::string& folder, const LoadOptions& opts) {
  if (is_gguf_file(folder)) return load_gguf(folder, opts);
  if (opts.quantize) {  // load in f32, then quantize
    if (opts.dtype != DType::F32) {
      throw DTypeError(fmt::format("[load_pretrained] quantizing to {} needs f32 compute, got {}",
                                   opts.quantize->name, dtype_name(opts.dtype)));
    }
    LoadOptions plain = opts;
    plain.quantize.reset();
    PretrainedModel m = load_pretrained(folder, plain);
    quantize_weights(m.module(), *opts.quantize);
    return m;
  }
  auto t0 = std::chrono::steady_clock::now();
  if (!is_floating(opts.dtype) || opts.dtype == DType::F64) {
    throw DTypeError(fmt::format("[load_pretrained] compute dtype must be f32, bf16 or f16, got {}",
                                 dtype_name(opts.dtype)));
  }
  fs::path dir(folder);
  if (!fs::is_directory(dir)) throw LoadError(fmt::format("{}: not a folder", folder));
  fs::path cfg_path = dir / "config.json";
  if (!fs::exists(cfg_path))
    throw LoadError(fmt::format("{}: no config.json (not a Hugging Face model folder)", folder));

  PretrainedModel m;
  m.folder = folder;
  m.config = read_json_file(cfg_path);
  try {
    m.family = families::family_for(m.config).name;
    m.task = families::task_of(m.config);
    // Every parameter is replaced by the checkpoint's (strictly: a missing one is an error), so
    // the random initialisation would only be overwritten: skip it.
    nn::init::SkipInitGuard skip_init;
    switch (m.task) {
      case families::ModelTask::CausalLM:
        m.model = families::build_causal_lm(m.config, opts.dtype);
        break;
      case families::ModelTask::SequenceClassification:
        m.sequence_classifier = families::build_sequence_classifier(m.config, opts.dtype);
        break;
      case families::ModelTask::TokenClassification:
        m.token_classifier = families::build_token_classifier(m.config, opts.dtype);
        break;
    }
    if (m.task != families::ModelTask::CausalLM)
      m.labels = families::ClassificationLabels::from_json(m.config);
    // Keys the family does not know and that are not known to change the math: said once here.
    for (auto& w : families::config_warnings(m.config, cfg_path.string()))
      std::fprintf(stderr, "warning: %s\n", w.c_str());
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    if (msg.rfind("config.json: ", 0) == 0) msg.erase(0, 13);
    throw ConfigError(fmt::format("{}: {}", cfg_path.string(), msg));
  }

  if (fs::exists(dir / "generation_config.json")) {
    m.generation = generation::GenerationConfig::from_json(
        read_json_file(dir / "generation_config.json"), (dir / "generation_config.json").string());
    // transformers fills ids the file omits from config.json.
    auto from_cfg = generation::GenerationConfig::from_model_config(m.config);
    if (m.generation.eos_token_id.empty()) m.generation.eos_token_id = from_cfg.eos_token_id;
    if (!m.generation.bos_token_id) m.generation.bos_token_id = from_cfg.bos_token_id;
    if (!m.generation.pad_token_id) m.generation.pad_token_id = from_cfg.pad_token_id;
  } else {
    m.generation = generation::GenerationConfig::from_model_config(m.config);
  }
  m.warnings = m.generation.not_applied;
  const int64_t V = m.model_config().backbone.embedding.vocab_size;
  for (int64_t id : m.generation.eos_token_id) {
    if (id < 0 || id >= V)
      throw ConfigError(
          fmt::format("{}: eos_token_id {} is outside the vocabulary of {}", folder, id, V));
  }

  if (opts.load_tokenizer && fs::exists(dir / "tokenizer.json")) {
    m.tokenizer = std::make_shared<const tokenizers::Tokenizer>(
        tokenizers::Tokenizer::from_file((dir / "tokenizer.json").string()));
    if (int64_t(m.tokenizer->vocab_size(true)) > V) {
      m.warnings.push_back(fmt::format(
          "{}: the tokenizer knows {} tokens but the model's vocabulary has {}; ids past {} "
          "cannot be embedded",
          folder, m.tokenizer->vocab_size(true), V, V - 1));
    }
  }
  if (opts.load_tokenizer &&
      (fs::exists(dir / "tokenizer_config.json") || fs::exists(dir / "chat_template.jinja")))
    m.tokenizer_config = tokenizers::TokenizerConfig::load(dir);

  nn::StateDict weights =
      read_checkpoint(folder, opts.dtype, opts.threads, opts.progress, &m.weight_bytes);
  load_weights(m.module(), std::move(weights), folder);
  m.module().eval();
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

std::future<PretrainedModel> load_pretrained_async(const std::string& folder, LoadOptions opts) {
  return std::async(std::launch::async,
                    [folder, opts = std::move(opts)] { return load_pretrained(folder, opts); });
}

std::string bundled_models_dir() {
  if (const char* env = std::getenv("LAZARUS_MODELS_DIR"); env && *env) return env;
  return LAZARUS_BUNDLED_MODELS_DIR;
}

std::string resolve_model_folder(const std::string& spec) {
  if (spec.empty()) throw LoadError("--model: empty model name");
  std::error_code ec;
  if (spec == kDefaultModelName) {
    const fs::path dir = fs::path(bundled_models_dir()) / spec;
    if (!fs::exists(dir / "config.json", ec))
      throw LoadError(fmt::format(
          "{}: the shipped model is not in {} (set LAZARUS_MODELS_DIR to the folder holding "
          "{}/, or give --model a model folder, preset or hub id)",
          spec, dir.parent_path().string(), spec));
    return dir.string();
  }
  fs::path p(spec);
  if (fs::is_directory(p, ec)) {
    if (!fs::exists(p / "config.json"))
      throw LoadError(
          fmt::format("{}: no config.json in this folder (expected a Hugging Face "
                      "model folder: config.json + model.safetensors + tokenizer.json)",
                      spec));
    return p.string();
  }
  if (fs::is_regular_file(p, ec) && is_gguf_file(spec)) return spec;
  if (fs::is_regular_file(p, ec) && p.filename() == "config.json")
    return p.parent_path().empty() ? std::string(".") : p.parent_path().string();
  return resolve_model(spec).string();  // preset, HF cache or download
}

}  // namespace lazarus::io
