// `lazarus train`: trains a causal LM from scratch on text files — a model config (HF Llama
// config.json, a Lazarus model config or a preset), a tokenizer (or raw bytes), the Trainer with
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
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/registry.h"
#include "lazarus/generation/generate.h"
#include "lazarus/io/safetensors.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"
#include "lazarus/tokenizers/tokenizer.h"
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
  if (!o.preset.empty()) {
    auto l = families::LlamaConfig::preset(o.preset);
    check_training_memory(l.to_model_config(), o, "preset " + o.preset);
    b.model = std::make_shared<families::LlamaForCausalLM>(l, DType::F32, o.t.seed);
    b.config_json = l.to_json();
    b.description = fmt::format("preset {} ({})", o.preset, l.model_type);
    return b;
  }
  std::string path = o.config;
  if (fs::is_directory(path)) path = (fs::path(path) / "config.json").string();
  config::Json j = parse_json_file(path, "model config");
  if (j.is_object() && j.contains("backbone")) {
    auto m = config::ModelConfig::from_json(j, path);
    m.validate();
    check_training_memory(m, o, path);
    b.model = std::make_shared<models::CausalLM>(m);
    b.model->init_weights(0.02, o.t.seed);
    b.config_json = m.to_json();
    b.description = fmt::format("{} (Lazarus model config)", path);
  } else if (families::family_for(j).name != "llama") {
    // Other families (Mamba, ...) through the registry, with their own initialisation.
    check_training_memory(families::model_config_for(j, path), o, path);
    b.model = std::shared_ptr<models::CausalLM>(families::build_causal_lm(j).release());
    b.config_json = j;
    b.description = fmt::format("{} ({})", path, families::family_for(j).name);
  } else {
    auto l = families::LlamaConfig::from_json(j, path);
    check_training_memory(l.to_model_config(), o, path);
    b.model = std::make_shared<families::LlamaForCausalLM>(l, DType::F32, o.t.seed);
    b.config_json = l.to_json();
    b.description = fmt::format("{} ({})", path, l.model_type);
  }
  return b;
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
                            "Model config: a Hugging Face config.json (Llama family), a Lazarus "
                            "model config ({\"backbone\": ..., \"head\": ...}), or a folder");
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
