// What `lazarus train` and `lazarus finetune` share: the training flags (steps or epochs, learning
// rate and schedule, batches, evaluation, checkpoints, seed, resume, dry run), a JSON training
// config that fills them, their checks, the TrainerConfig built from them, the plan and result
// lines, and the causal-LM training run through the Trainer.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "lazarus/config/json_reader.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/training/trainer.h"

namespace lazarus::cli {

struct TrainingFlags {
  std::string output, train_config, schedule = "cosine";
  int64_t seq_len = 128, batch_size = 8, steps = 0, epochs = 1, grad_accum = 1, warmup = -1;
  int64_t eval_every = -1, eval_batches = 8, save_every = -1, keep_checkpoints = 2;
  int64_t threads = 0;
  double lr = 1e-3, weight_decay = 0.1, max_grad_norm = 1.0, holdout = 0.05, min_lr_ratio = 0.1;
  uint64_t seed = 0;
  bool resume = false, dry_run = false;
  std::string dtype = "f32";  // compute dtype: f32, or bf16 with f32 master weights
};

/// Registers the shared flags on `cmd`; the values already in `f` are the defaults shown by
/// --help. `seq_len_help` and `holdout_help` say what those two mean for the command.
void add_training_flags(CLI::App* cmd, TrainingFlags& f, const std::string& seq_len_help,
                        const std::string& holdout_help);

/// Applies --train-config (every key is an option name of `cmd` with '_' for '-'; options on the
/// command line win), checks the flags (ConfigError "[<command>] --flag must be ..."), sets the
/// thread count and seeds the global generator. `holdout_may_be_zero`: --holdout 0 = no held-out
/// evaluation.
void prepare_training(CLI::App* cmd, TrainingFlags& f, const char* command,
                      bool holdout_may_be_zero);

/// The Trainer's config for `n_train` training examples (--steps, or --epochs passes over them),
/// checkpoints in --output. Throws ConfigError when --output already holds checkpoints and
/// neither --resume nor --dry-run is given. `existing` receives that checkpoint's path ("" if
/// none). run_options holds the flags that determine the run (the command adds its data and
/// model); --resume refuses a checkpoint written with other values (docs/training.md).
training::TrainerConfig trainer_config(const TrainingFlags& f, int64_t n_train, const char* command,
                                       std::string& existing);

/// "<size> bytes, fnv1a64 <hash>": what a checkpoint records to know its data (or model config)
/// again on --resume, wherever the file has moved.
std::string content_identity(const std::string& contents);

/// The plan's "training" and "output" lines (`final_what` names what the run leaves behind) and,
/// when resuming, the "resume" line.
void print_training_plan(const TrainingFlags& f, const training::TrainerConfig& tc, int64_t n_train,
                         int64_t seq_len, bool has_eval, const std::string& final_what,
                         const std::string& existing);

/// Trains `model` with the causal-LM loss on the loaders' (input_ids, labels) batches.
training::TrainResult train_causal_lm(models::CausalLM& model, training::DataLoader& train,
                                      training::DataLoader* eval,
                                      const training::TrainerConfig& tc);

/// "done  N steps, final training loss L[, held-out loss E, perplexity P]" (no newline).
void print_done(const training::TrainResult& r);

/// The whole file; LoadError "<path>: cannot open this <what> file".
std::string read_text_file(const std::string& path, const char* what);
/// A JSON file; ConfigError naming the file on bad JSON.
config::Json parse_json_file(const std::string& path, const char* what);
/// 1234567 -> "1,234,567".
std::string count_str(int64_t n);
/// 1234567 -> "1.23 M", 12345 -> "12.3 K".
std::string scale_str(int64_t n);

}  // namespace lazarus::cli
