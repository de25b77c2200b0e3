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
#include "lazarus/config/model_config.h"
#include "lazarus/core/error.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/registry.h"
#include "lazarus/io/safetensors.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/training/trainer.h"

namespace lazarus::cli {

namespace fs = std::filesystem;

namespace {

struct TrainOpts {
  std::string config, preset, tokenizer, output = "runs/train", train_config, schedule = "cosine";
  std::vector<std::string> data;
  int64_t seq_len = 128, batch_size = 8, steps = 0, epochs = 1, grad_accum = 1, warmup = -1;
  int64_t eval_every = -1, eval_batches = 8, save_every = -1, keep_checkpoints = 2;
  int64_t threads = 0;
  double lr = 1e-3, weight_decay = 0.1, max_grad_norm = 1.0, holdout = 0.05, min_lr_ratio = 0.1;
  uint64_t seed = 0;
  bool resume = false, dry_run = false;
};

training::ScheduleType schedule_from_string(const std::string& s) {
  if (s == "constant") return training::ScheduleType::Constant;
  if (s == "linear") return training::ScheduleType::Linear;
  if (s == "cosine") return training::ScheduleType::Cosine;
  throw ConfigError(
      fmt::format("[train] --schedule must be constant, linear or cosine, got \"{}\"", s));
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in || fs::is_directory(path))
    throw LoadError(fmt::format("{}: cannot open this {} file", path, what));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

config::Json parse_json(const std::string& path, const char* what) {
  std::string text = read_file(path, what);
  try {
    return config::Json::parse(text);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("{}: invalid JSON: {}", path, e.what()));
  }
}

std::string count_str(int64_t n) {
  std::string s = std::to_string(n), out;
  int c = 0;
  for (size_t i = s.size(); i-- > 0;) {
    out.insert(out.begin(), s[i]);
    if (++c % 3 == 0 && i > 0) out.insert(out.begin(), ',');
  }
  return out;
}

std::string scale_str(int64_t n) {
  return n >= 1'000'000 ? fmt::format("{:.2f} M", double(n) / 1e6)
                        : fmt::format("{:.1f} K", double(n) / 1e3);
}

/// The model to train and how to write its config.json.
struct BuiltModel {
  std::shared_ptr<models::CausalLM> model;
  config::Json config_json;
  std::string description;
};

BuiltModel build_model(const TrainOpts& o) {
  BuiltModel b;
  if (!o.preset.empty()) {
    auto l = families::LlamaConfig::preset(o.preset);
    b.model = std::make_shared<families::LlamaForCausalLM>(l, DType::F32, o.seed);
    b.config_json = l.to_json();
    b.description = fmt::format("preset {} ({})", o.preset, l.model_type);
    return b;
  }
  std::string path = o.config;
  if (fs::is_directory(path)) path = (fs::path(path) / "config.json").string();
  config::Json j = parse_json(path, "model config");
  if (j.is_object() && j.contains("backbone")) {
    auto m = config::ModelConfig::from_json(j, path);
    m.validate();
    b.model = std::make_shared<models::CausalLM>(m);
    b.model->init_weights(0.02, o.seed);
    b.config_json = m.to_json();
    b.description = fmt::format("{} (Lazarus model config)", path);
  } else if (families::family_for(j).name != "llama") {
    // Other families (Mamba, ...) through the registry, with their own initialisation.
    b.model = std::shared_ptr<models::CausalLM>(families::build_causal_lm(j).release());
    b.config_json = j;
    b.description = fmt::format("{} ({})", path, families::family_for(j).name);
  } else {
    auto l = families::LlamaConfig::from_json(j, path);
    b.model = std::make_shared<families::LlamaForCausalLM>(l, DType::F32, o.seed);
    b.config_json = l.to_json();
    b.description = fmt::format("{} ({})", path, l.model_type);
  }
  return b;
}

/// Reads --train-config: every key is an option name with '_' for '-' (e.g. "seq_len"); options
/// given on the command line win.
void apply_train_config(CLI::App* cmd, const std::string& path) {
  config::Json j = parse_json(path, "training config");
  if (!j.is_object()) throw ConfigError(fmt::format("{}: must be a JSON object", path));
  for (auto& [key, value] : j.items()) {
    std::string flag = "--" + key;
    for (char& c : flag)
      if (c == '_') c = '-';
    CLI::Option* opt = nullptr;
    try {
      opt = cmd->get_option(flag);
    } catch (const CLI::Error&) {
    }
    if (!opt || flag == "--train-config" || flag == "--help") {
      throw ConfigError(fmt::format(
          "{}: unknown key \"{}\" (keys are the option names of `lazarus train --help`, with _ "
          "for -, e.g. \"seq_len\")",
          path, key));
    }
    if (opt->count() > 0) continue;  // the command line wins
    std::vector<std::string> vals;
    auto as_str = [&](const config::Json& v) {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
      if (v.is_number()) return v.dump();
      throw ConfigError(fmt::format("{}: \"{}\" must be a string, number or boolean, got {}", path,
                                    key, v.dump()));
    };
    if (value.is_array()) {
      for (auto& v : value) vals.push_back(as_str(v));
    } else {
      vals.push_back(as_str(value));
    }
    try {
      opt->clear();
      for (auto& v : vals) opt->add_result(v);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      throw ConfigError(fmt::format("{}: \"{}\": {}", path, key, e.what()));
    }
  }
}

void run_train(CLI::App* cmd, TrainOpts& o) {
  if (!o.train_config.empty()) apply_train_config(cmd, o.train_config);
  if (o.preset.empty() == o.config.empty())
    throw ConfigError("[train] give exactly one of --config FILE and --preset NAME");
  if (o.data.empty()) throw ConfigError("[train] give the training text with --data FILE...");
  auto positive = [](const char* name, int64_t v) {
    if (v < 1) throw ConfigError(fmt::format("[train] --{} must be >= 1, got {}", name, v));
  };
  positive("seq-len", o.seq_len);
  positive("batch-size", o.batch_size);
  positive("epochs", o.epochs);
  positive("grad-accum", o.grad_accum);
  if (!(o.holdout > 0 && o.holdout < 0.5))
    throw ConfigError(fmt::format("[train] --holdout must be in (0, 0.5), got {}", o.holdout));
  if (o.threads > 0) set_num_threads(int(o.threads));
  manual_seed(o.seed);

  BuiltModel bm = build_model(o);
  models::CausalLM& model = *bm.model;
  const int64_t V = model.config().backbone.vocab_size;
  const int64_t max_pos = model.config().backbone.max_position_embeddings;
  if (model.config().backbone.type == config::BackboneType::Transformer && o.seq_len > max_pos) {
    throw ConfigError(
        fmt::format("[train] --seq-len {} is longer than the model's max_position_embeddings {}",
                    o.seq_len, max_pos));
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
  for (const auto& f : o.data) {
    std::string text = read_file(f, "data");
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
  auto windows = training::pack_tokens(tokens, o.seq_len);
  if (windows.size() < 2) {
    throw ConfigError(fmt::format(
        "[train] the data has {} tokens: fewer than two windows of --seq-len {}; give more text "
        "or a shorter --seq-len",
        tokens.size(), o.seq_len));
  }
  std::vector<std::vector<int64_t>> train, held;
  training::split_holdout(windows, o.holdout, o.seed, train, held);
  training::ExampleLoader train_loader(train, train, o.batch_size, o.seed);
  training::ExampleLoader eval_loader(held, held, o.batch_size, o.seed, /*shuffle=*/false);

  training::TrainerConfig tc;
  int64_t per_epoch =
      (int64_t(train.size()) + o.batch_size * o.grad_accum - 1) / (o.batch_size * o.grad_accum);
  tc.max_steps = o.steps > 0 ? o.steps : per_epoch * o.epochs;
  tc.grad_accum = o.grad_accum;
  tc.lr = o.lr;
  tc.schedule = schedule_from_string(o.schedule);
  tc.warmup_steps = o.warmup >= 0 ? o.warmup : tc.max_steps / 20;
  tc.min_lr_ratio = o.min_lr_ratio;
  tc.weight_decay = o.weight_decay;
  tc.max_grad_norm = o.max_grad_norm;
  tc.eval_every = o.eval_every >= 0 ? o.eval_every : std::max<int64_t>(1, tc.max_steps / 10);
  tc.eval_batches = o.eval_batches;
  tc.save_every = o.save_every >= 0 ? o.save_every : tc.eval_every;
  tc.keep_checkpoints = o.keep_checkpoints;
  tc.output_dir = o.output;
  tc.resume = o.resume;
  tc.validate();

  std::string existing = training::Trainer::latest_checkpoint(o.output);
  if (!existing.empty() && !o.resume && !o.dry_run) {
    throw ConfigError(fmt::format(
        "[train] {} already holds checkpoints ({}); pass --resume to continue that run, or choose "
        "another --output",
        o.output, existing));
  }

  int64_t n_params = model.num_parameters();
  int64_t step_tokens = o.batch_size * o.grad_accum * o.seq_len;
  std::printf("model      %s: %lld layers, hidden %lld, vocab %lld; %s parameters (%s)\n",
              bm.description.c_str(), (long long)model.config().backbone.num_layers,
              (long long)model.config().backbone.hidden_size, (long long)V,
              count_str(n_params).c_str(), scale_str(n_params).c_str());
  std::printf(
      "data       %zu file%s, %s tokens (%s) -> %zu windows of %lld: %zu train, %zu held out\n",
      o.data.size(), o.data.size() == 1 ? "" : "s", count_str(int64_t(tokens.size())).c_str(),
      tok ? ("tokenizer " + o.tokenizer).c_str() : "bytes, no tokenizer", windows.size(),
      (long long)o.seq_len, train.size(), held.size());
  std::printf(
      "training   %lld steps x %lld sequences x %lld tokens = %s tokens (%.2f epochs); lr %g %s, "
      "warm-up %lld, weight decay %g, clip %g\n",
      (long long)tc.max_steps, (long long)(o.batch_size * o.grad_accum), (long long)o.seq_len,
      count_str(tc.max_steps * step_tokens).c_str(),
      double(tc.max_steps * o.batch_size * o.grad_accum) / double(train.size()), o.lr,
      o.schedule.c_str(), (long long)tc.warmup_steps, o.weight_decay, o.max_grad_norm);
  std::printf(
      "output     %s: checkpoints every %lld steps, held-out eval every %lld, metrics.jsonl, "
      "loss_curve.svg; final model in %s\n",
      o.output.c_str(), (long long)tc.save_every, (long long)tc.eval_every,
      (fs::path(o.output) / "model").string().c_str());
  if (!existing.empty()) std::printf("resume     from %s\n", existing.c_str());
  std::fflush(stdout);
  if (o.dry_run) return;

  training::Trainer trainer(
      model,
      [](nn::Module& m, const training::Batch& b) {
        return static_cast<models::CausalLM&>(m).forward(b.input_ids, Tensor(), b.labels).loss;
      },
      train_loader, &eval_loader, tc);
  training::TrainResult r = trainer.train();

  // The final model: config.json + model.safetensors (+ the tokenizer's files), HF layout.
  fs::path out = fs::path(o.output) / "model";
  fs::create_directories(out);
  io::save_safetensors((out / "model.safetensors").string(), model.state_dict(),
                       {{"format", "pt"}});
  {
    std::ofstream cj(out / "config.json", std::ios::binary | std::ios::trunc);
    cj << bm.config_json.dump(2) << "\n";
  }
  if (tok) {
    fs::path src =
        fs::is_directory(o.tokenizer) ? fs::path(o.tokenizer) : fs::path(o.tokenizer).parent_path();
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
      if (fs::exists(src / f))
        fs::copy_file(src / f, out / f, fs::copy_options::overwrite_existing);
    }
  }
  std::printf("done       %lld steps, final training loss %.4f", (long long)r.steps, r.final_loss);
  if (r.eval_loss >= 0)
    std::printf(", held-out loss %.4f, perplexity %.3f", r.eval_loss, r.eval_perplexity);
  std::printf("\nwrote      %s (config.json, model.safetensors%s), %s, %s\n", out.string().c_str(),
              tok ? ", tokenizer" : "", (fs::path(o.output) / "metrics.jsonl").string().c_str(),
              (fs::path(o.output) / "loss_curve.svg").string().c_str());
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
  cmd->add_option("--output", o->output, "Run folder: checkpoints, metrics, final model")
      ->capture_default_str();
  cmd->add_option("--train-config", o->train_config,
                  "JSON file of these options (keys with _ for -, e.g. {\"seq_len\": 256}); "
                  "options on the command line win");
  cmd->add_option("--seq-len", o->seq_len, "Tokens per training sequence")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Sequences per micro-batch")
      ->capture_default_str();
  cmd->add_option("--grad-accum", o->grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "Optimizer steps (0: --epochs passes over the data)")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Passes over the training windows when --steps is 0")
      ->capture_default_str();
  cmd->add_option("--lr", o->lr, "Peak learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "constant, linear or cosine (after warm-up)")
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Warm-up steps (-1: 5% of the steps)")
      ->capture_default_str();
  cmd->add_option("--min-lr-ratio", o->min_lr_ratio, "Cosine floor as a fraction of --lr")
      ->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay (not on norms)")
      ->capture_default_str();
  cmd->add_option("--max-grad-norm", o->max_grad_norm,
                  "Clip gradients to this global norm (0: off)")
      ->capture_default_str();
  cmd->add_option("--holdout", o->holdout, "Fraction of windows held out for evaluation")
      ->capture_default_str();
  cmd->add_option("--eval-every", o->eval_every, "Evaluate every N steps (-1: 10 times a run)")
      ->capture_default_str();
  cmd->add_option("--eval-batches", o->eval_batches, "Held-out batches per evaluation")
      ->capture_default_str();
  cmd->add_option("--save-every", o->save_every, "Checkpoint every N steps (-1: = --eval-every)")
      ->capture_default_str();
  cmd->add_option("--keep-checkpoints", o->keep_checkpoints, "Newest checkpoints kept")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed for weights, data order and dropout")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--resume", o->resume,
                "Continue from the newest checkpoint in --output (same data and options)");
  cmd->add_flag("--dry-run", o->dry_run, "Print the plan and stop");
  cmd->footer(
      "Example (a byte-level model on a text file, ~1 minute):\n"
      "  lazarus train --config examples/tiny_llama.json --data README.md --steps 200 "
      "--output runs/tiny\n"
      "Interrupted? Run the same command with --resume.");
  cmd->callback([cmd, o] { run_train(cmd, *o); });
}

}  // namespace lazarus::cli
