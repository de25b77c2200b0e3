// `lazarus train`: trains a causal LM from scratch on text files — a model config (an HF
// config.json of any registered family, a Lazarus model config or a preset), a tokenizer (or raw bytes), the Trainer with
// held-out evaluation, checkpoints, resume, metrics and a loss curve — and writes the final model
// as a Hugging Face-style folder (config.json + model.safetensors + the tokenizer's files).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "lazarus/cli/commands.h"
#include "lazarus/cli/training_flags.h"
#include "lazarus/config/model_config.h"
#include "lazarus/core/atomic_file.h"
#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"
#include "lazarus/generation/generate.h"
#include "lazarus/io/safetensors.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/tokenizer_config.h"
#include "lazarus/training/trainer.h"

namespace lazarus::cli {

namespace fs = std::filesystem;

namespace {

struct TrainOpts {
  std::string config, preset, tokenizer;
  std::vector<std::string> data;
  TrainingFlags t;
};

/// The model to train and how to write its config.json.
struct BuiltModel {
  std::shared_ptr<models::CausalLM> model;
  config::Json config_json;
  std::string description;
};

/// Memory planning before the model is built: f32 weights, gradients and the two AdamW moments
/// (16 bytes a parameter; bf16 compute adds a bf16 copy and bf16 gradients), plus an estimate of
/// the activations kept for backward (about 16 floats per token, layer and hidden unit).
void check_training_memory(const config::ModelConfig& mc, const TrainOpts& o,
                           const std::string& what) {
  const auto& bb = mc.backbone;
  const double act = double(o.t.batch_size) * double(o.t.seq_len) * double(bb.num_layers) *
                     double(bb.hidden_size) * 16 * 4;
  families::check_model_memory(
      mc, o.t.dtype == "bf16" ? 20 : 16,
      fmt::format("[train] {}: training (weights, gradients, AdamW state)", what), act,
      fmt::format("activations of --batch-size {} x --seq-len {} (an estimate)", o.t.batch_size,
                  o.t.seq_len));
}

BuiltModel build_model(const TrainOpts& o) {
  BuiltModel b;
  set_activity("building the model");
  // Any config the registry reads: a preset, a family's config.json, a Lazarus model config.
  config::Json j;
  std::string path, what;
  if (!o.preset.empty()) {
    j = families::find_preset(o.preset).preset->config();
    what = "preset " + o.preset;
  } else {
    path = o.config;
    if (fs::is_directory(path)) path = (fs::path(path) / "config.json").string();
    j = parse_json_file(path, "model config");
    what = path;
  }
  const config::ModelConfig mc = families::model_config_for(j, path);
  if (mc.head.type != config::HeadType::LM)
    throw ConfigError(fmt::format(
        "[train] {}: head.type is '{}': lazarus train trains causal LMs (an 'lm' head); build "
        "a {} model from the library (families::build_sequence_classifier / "
        "build_token_classifier) to train it",
        what, config::to_string(mc.head.type), config::to_string(mc.head.type)));
  check_training_memory(mc, o, what);
  b.model = std::shared_ptr<models::CausalLM>(
      families::build_causal_lm_seeded(j, o.t.seed, path).release());
  // The config.json written beside the weights: the family's own form, which every loader reads.
  std::optional<config::Json> cfg = families::hf_config_of(*b.model);
  if (!cfg) throw ConfigError(fmt::format("[train] {}: its family writes no config.json", what));
  b.config_json = *cfg;
  b.description = fmt::format("{} ({})", what, b.config_json.value("model_type", "?"));
  return b;
}

/// Fills the bos / eos ids config.json leaves unset from the tokenizer's bos_token / eos_token
/// (tokenizer_config.json beside tokenizer.json), so generate and chat stop where it does.
void fill_special_ids(config::Json& cfg, const tokenizers::Tokenizer& tok,
                      const std::string& tokenizer_path) {
  fs::path dir =
      fs::is_directory(tokenizer_path) ? fs::path(tokenizer_path) : fs::path(tokenizer_path).parent_path();
  if (!fs::exists(dir / "tokenizer_config.json")) return;
  auto tc = tokenizers::TokenizerConfig::load(dir);
  auto fill = [&](const char* key, const std::optional<std::string>& token) {
    if (!token || (cfg.contains(key) && !cfg[key].is_null())) return;
    if (auto id = tok.token_to_id(*token)) cfg[key] = int64_t(*id);
  };
  fill("bos_token_id", tc.bos_token);
  fill("eos_token_id", tc.eos_token);
}

void run_train(CLI::App* cmd, TrainOpts& o) {
  prepare_training(cmd, o.t, "train", /*holdout_may_be_zero=*/false);
  if (o.preset.empty() == o.config.empty())
    throw ConfigError("[train] give exactly one of --config FILE and --preset NAME");
  if (o.data.empty()) throw ConfigError("[train] give the training text with --data FILE...");

  BuiltModel bm = build_model(o);
  models::CausalLM& model = *bm.model;
  const int64_t V = model.config().backbone.embedding.vocab_size;
  // Attention layers (transformer or hybrid backbones) bound the context; SSM / recurrent ones
  // do not.
  const int64_t max_pos = generation::context_length(model);
  if (max_pos > 0 && o.t.seq_len > max_pos) {
    throw ConfigError(
        fmt::format("[train] --seq-len {} is longer than the model's max_position_embeddings {}",
                    o.t.seq_len, max_pos));
  }

  // Tokens: every file's text through the tokenizer, or its bytes.
  std::optional<tokenizers::Tokenizer> tok;
  if (!o.tokenizer.empty()) tok = tokenizers::Tokenizer::from_file(o.tokenizer);
  int64_t need_vocab = tok ? int64_t(tok->vocab_size()) : 256;
  if (need_vocab > V) {
    throw ConfigError(fmt::format(
        "[train] the {} has {} token ids but the model's vocab_size is {}: raise vocab_size in "
        "the config to at least {}",
        tok ? "tokenizer" : "byte-level input (no --tokenizer)", need_vocab, V, need_vocab));
  }
  if (tok) fill_special_ids(bm.config_json, *tok, o.tokenizer);
  std::vector<int64_t> tokens;
  std::string data_identity;
  set_activity("reading the training data");
  for (const auto& f : o.data) {
    std::string text = read_text_file(f, "data");
    data_identity += (data_identity.empty() ? "" : "; ") + content_identity(text);
    if (tok) {
      std::vector<uint32_t> ids;
      try {
        ids = tok->encode_ids(text, /*add_special_tokens=*/false);
      } catch (const Error& e) {
        throw LoadError(fmt::format("{}: {}", f, e.what()));
      }
      tokens.insert(tokens.end(), ids.begin(), ids.end());
    } else {
      for (unsigned char c : text) tokens.push_back(c);
    }
  }
  auto windows = training::pack_tokens(tokens, o.t.seq_len);
  if (windows.size() < 2) {
    throw ConfigError(fmt::format(
        "[train] the data has {} tokens: fewer than two windows of --seq-len {}; give more text "
        "or a shorter --seq-len",
        tokens.size(), o.t.seq_len));
  }
  std::vector<std::vector<int64_t>> train, held;
  training::split_holdout(windows, o.t.holdout, o.t.seed, train, held);
  training::ExampleLoader train_loader(train, train, o.t.batch_size, o.t.seed);
  training::ExampleLoader eval_loader(held, held, o.t.batch_size, o.t.seed, /*shuffle=*/false);

  std::string existing;
  training::TrainerConfig tc = trainer_config(o.t, int64_t(train.size()), "train", existing);
  tc.run_options["data"] = data_identity;
  tc.run_options["model"] = "config " + content_identity(bm.config_json.dump());
  tc.run_options["tokenizer"] = tok ? "vocab " + std::to_string(tok->vocab_size()) : "bytes";

  int64_t n_params = model.num_parameters();
  std::printf("model      %s: %lld layers, hidden %lld, vocab %lld; %s parameters (%s)\n",
              bm.description.c_str(), (long long)model.config().backbone.num_layers,
              (long long)model.config().backbone.hidden_size, (long long)V,
              count_str(n_params).c_str(), scale_str(n_params).c_str());
  std::printf(
      "data       %zu file%s, %s tokens (%s) -> %zu windows of %lld: %zu train, %zu held out\n",
      o.data.size(), o.data.size() == 1 ? "" : "s", count_str(int64_t(tokens.size())).c_str(),
      tok ? ("tokenizer " + o.tokenizer).c_str() : "bytes, no tokenizer", windows.size(),
      (long long)o.t.seq_len, train.size(), held.size());
  print_training_plan(o.t, tc, int64_t(train.size()), o.t.seq_len, /*has_eval=*/true,
                      "final model in " + (fs::path(o.t.output) / "model").string(), existing);
  if (o.t.dry_run) return;

  set_activity("training");
  training::TrainResult r = train_causal_lm(model, train_loader, &eval_loader, tc);
  set_activity("writing the final model");

  // The final model: config.json + model.safetensors (+ the tokenizer's files), HF layout. Each
  // file is written to a temporary and renamed: a crash here leaves any earlier file whole.
  fs::path out = fs::path(o.t.output) / "model";
  fs::create_directories(out);
  io::save_safetensors((out / "model.safetensors").string(), model.state_dict(),
                       {{"format", "pt"}});
  bm.config_json["torch_dtype"] = "float32";  // the saved weights are the f32 masters
  write_file_atomic(out / "config.json", bm.config_json.dump(2) + "\n");
  if (tok) {
    fs::path src =
        fs::is_directory(o.tokenizer) ? fs::path(o.tokenizer) : fs::path(o.tokenizer).parent_path();
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
      if (fs::exists(src / f))
        fs::copy_file(src / f, out / f, fs::copy_options::overwrite_existing);
    }
  }
  print_done(r);
  std::printf("\nwrote      %s (config.json, model.safetensors%s), %s, %s\n", out.string().c_str(),
              tok ? ", tokenizer" : "", (fs::path(o.t.output) / "metrics.jsonl").string().c_str(),
              (fs::path(o.t.output) / "loss_curve.svg").string().c_str());
}

}  // namespace

void register_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOpts>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a language model from scratch on text files (prints the plan first)");
  auto* c = cmd->add_option("--config", o->config,
                            "Model config: a Hugging Face config.json of a registered family, a "
                            "Lazarus model config ({\"backbone\": ..., \"head\": ...}), or a "
                            "folder holding one");
  auto* p =
      cmd->add_option("--preset", o->preset, "Or a preset name (lazarus info --list-presets)");
  c->excludes(p);
  cmd->add_option("--data", o->data, "Text files to train on (UTF-8)")->expected(1, -1);
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json or a folder holding one; without it the model reads bytes "
                  "(vocab_size >= 256)");
  o->t.output = "runs/train";
  add_training_flags(cmd, o->t, "Tokens per training sequence",
                     "Fraction of windows held out for evaluation");
  cmd->footer(
      "Example (a byte-level model on a text file, ~1 minute):\n"
      "  lazarus train --config examples/tiny_llama.json --data README.md --steps 200 "
      "--output runs/tiny\n"
      "Interrupted? Run the same command with --resume.");
  cmd->callback([cmd, o] { run_train(cmd, *o); });
}

}  // namespace lazarus::cli
