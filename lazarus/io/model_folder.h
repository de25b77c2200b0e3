// Hugging Face model folders: config.json -> family (registry) -> model, weights from
// model.safetensors or the shards of model.safetensors.index.json (loaded in parallel, strictly
// checked against the model), generation_config.json defaults and the tokenizer files; and
// save_pretrained, which writes a folder that loads back bit-identically.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/json_reader.h"
#include "lazarus/families/hf_config.h"
#include "lazarus/generation/generation_config.h"
#include "lazarus/io/quant_mix.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/models/classifiers.h"
#include "lazarus/nn/module.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lazarus::io {

/// How far a load has got (bytes of tensor data read or converted so far, of the total).
struct LoadProgress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  size_t tensors_done = 0;
  size_t tensors_total = 0;
};

struct LoadOptions {
  /// Compute dtype of the model's floating parameters: F32 (default) or BF16 (F16 also works).
  /// Checkpoint tensors of another dtype are converted; matching ones are used in place from the
  /// memory-mapped file (zero-copy).
  DType dtype = DType::F32;
  /// Block-quantize the matrices after loading with llama.cpp's reference quantizers: one type
  /// for all (q8_0, q4_0, q4_1, q4_K, q5_K, q6_K) or a llama-quantize mix (q4_K_M, ...; see
  /// quant_mix.h): every Linear weight, the token embedding and an untied LM head (see
  /// quantize_weights); norms and the rest stay in `dtype`, which must then be F32.
  std::optional<QuantMix> quantize;
  /// Shards read in parallel: 0 = min(number of shards, hardware threads).
  int threads = 0;
  /// Load tokenizer.json / tokenizer_config.json when the folder has them.
  bool load_tokenizer = true;
  /// Called (from loading threads, one call at a time) as tensors are read.
  std::function<void(const LoadProgress&)> progress;
};

/// A loaded model folder: a causal LM, or a classifier (config.json's "architectures" says which:
/// *ForCausalLM, *ForSequenceClassification, *ForTokenClassification).
struct PretrainedModel {
  std::string folder;
  std::string family;   // registry name ("llama")
  config::Json config;  // config.json as read
  families::ModelTask task = families::ModelTask::CausalLM;
  /// Exactly one of these is set, by task.
  std::shared_ptr<models::CausalLM> model;
  std::shared_ptr<models::SequenceClassifier> sequence_classifier;
  std::shared_ptr<models::TokenClassifier> token_classifier;
  /// Classifiers: the classes (id2label) and problem_type of config.json.
  std::optional<families::ClassificationLabels> labels;
  /// generation_config.json, or the ids of config.json when the folder has none.
  generation::GenerationConfig generation;
  /// Null when the folder has no tokenizer.json (or load_tokenizer is off).
  std::shared_ptr<const tokenizers::Tokenizer> tokenizer;
  std::optional<tokenizers::TokenizerConfig> tokenizer_config;
  /// Things the caller may want to show (generation settings not applied, ...).
  std::vector<std::string> warnings;
  uint64_t weight_bytes = 0;  // tensor bytes in the checkpoint files
  double load_seconds = 0;

  /// The loaded model, whatever its task.
  nn::Module& module() const;
  /// Its generic config (backbone + head).
  const config::ModelConfig& model_config() const;
  /// The causal LM; ConfigError naming the folder and its architecture when the folder holds a
  /// classifier (text generation and fine-tuning need a *ForCausalLM model).
  models::CausalLM& causal_lm() const;
};

/// Loads a model folder (causal LM or classifier, by config.json's architectures). Throws
/// ConfigError for a bad or unsupported config.json /
/// generation_config.json (naming the file, key and value) and LoadError for missing or malformed
/// weight files and for weights that do not fit the model (every missing, unexpected and
/// mis-shaped name listed). config.json keys the family does not know (and that are not known
/// to change the math) are printed once to stderr as warnings (families::config_warnings gives
/// them).
PretrainedModel load_pretrained(const std::string& folder, const LoadOptions& opts = {});
/// The same on a background thread; the future rethrows the load's error.
std::future<PretrainedModel> load_pretrained_async(const std::string& folder,
                                                   LoadOptions opts = {});

/// The tensors of a folder's checkpoint by checkpoint name: model.safetensors, or every shard of
/// model.safetensors.index.json (read in parallel; index entries must stay inside the folder,
/// every listed tensor must be in its shard, no shard may hold unlisted or duplicate tensors).
/// Floating tensors are converted to `dtype` when given.
nn::StateDict read_checkpoint(const std::string& folder, std::optional<DType> dtype = std::nullopt,
                              int threads = 0,
                              const std::function<void(const LoadProgress&)>& progress = {},
                              uint64_t* total_bytes = nullptr);

/// Puts checkpoint tensors into `model` strictly: the family's name map, a tied head's
/// `lm_head.weight` dropped when equal to the embedding (an error when it differs), then every
/// parameter must be present with its shape and nothing may be left over (LoadError listing the
/// names, prefixed by `origin`). Tensors are used in place (zero-copy) when dtypes match, or
/// whatever their dtype with `keep_dtype` (see nn::Module::load_state_dict).
void load_weights(nn::Module& model, nn::StateDict weights,
                  const std::string& origin = "checkpoint", bool keep_dtype = false);

/// Quantizes, in place, every nn::Linear weight, every nn::Embedding weight and an untied LM
/// head's matrix, each to the type `mix` gives it (quant_mix_type: by its module name's role and
/// layer, the layer count being the highest "layers.N." index + 1; a tied head's embedding counts
/// as the output matrix, and the head follows it). Matrices whose rows are not a multiple of 32
/// stay as they are. Returns how many tensors were quantized. A DType converts to its pure mix.
int quantize_weights(nn::Module& model, const QuantMix& mix);

struct SaveOptions {
  /// Weights larger than this are split into model-0000i-of-0000n.safetensors shards with a
  /// model.safetensors.index.json (HF's layout); one model.safetensors otherwise.
  uint64_t max_shard_bytes = 5'000'000'000ull;
  /// Dtype written for floating tensors (default: the model's own, so the round trip is exact).
  std::optional<DType> dtype;
  /// generation_config.json to write (none when unset).
  std::optional<generation::GenerationConfig> generation;
  /// Folder whose tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
  /// chat_template.jinja, ...) are copied when present, and its generation_config.json unless
  /// `generation` is set.
  std::string copy_tokenizer_from;
};

/// Writes `model` as an HF folder: config.json (its family's form, torch_dtype set to the saved
/// dtype), the weights under checkpoint names in safetensors ({"format": "pt"} metadata, as
/// transformers requires), and the optional files of `opts`. A new folder (parents are created)
/// appears whole (written beside it, then renamed); in an existing folder every file is replaced
/// atomically, config.json last, and weight files of an earlier save that no longer belong are
/// removed.
void save_pretrained(models::CausalLM& model, const std::string& folder,
                     const SaveOptions& opts = {});
/// The same for a classifier of a registered family (LlamaForSequenceClassification, ...): its
/// config.json carries architectures, id2label, label2id and problem_type.
void save_pretrained(models::SequenceClassifier& model, const std::string& folder,
                     const SaveOptions& opts = {});
void save_pretrained(models::TokenClassifier& model, const std::string& folder,
                     const SaveOptions& opts = {});
/// Saves a loaded folder: its config.json (torch_dtype updated), weights, and (copied from the
/// folder it came from) generation_config.json and the tokenizer files.
void save_pretrained(const PretrainedModel& m, const std::string& folder, SaveOptions opts = {});

/// The model that ships with Lazarus (a small Llama trained on the Debian `fortunes` corpus with
/// `scripts/train_default_model.sh`): what `--model` means when it is not given.
inline constexpr const char* kDefaultModelName = "fortunes-llama-4m";
/// Where the shipped models live: $LAZARUS_MODELS_DIR, else the source tree's `assets/models`
/// (recorded at build time).
std::string bundled_models_dir();

/// What `--model` names -> a model folder holding config.json, in this order: a shipped model's
/// name (kDefaultModelName); an existing folder (or its config.json); else `io::resolve_model`
/// (a preset, a hub id in the local Hugging Face cache, or a download). Throws LoadError or
/// HubError saying what was looked for.
std::string resolve_model_folder(const std::string& spec);

}  // namespace lazarus::io
