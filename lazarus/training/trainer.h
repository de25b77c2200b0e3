// The trainer: steps with gradient accumulation, clipping and a schedule, evaluation (loss and
// perplexity), atomic checkpoints (model, optimizer, schedule position, RNG, data position) with
// exact resume, a guard against non-finite loss or gradients, a progress line, metrics as JSONL
// and an SVG loss curve next to them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lazarus/nn/module.h"
#include "lazarus/training/data.h"
#include "lazarus/training/optimizer.h"

namespace lazarus::training {

struct TrainerConfig {
  int64_t max_steps = 100;
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  double lr = 3e-4;
  ScheduleType schedule = ScheduleType::Cosine;
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.1;  // cosine floor as a fraction of lr
  double weight_decay = 0.0;  // not applied to biases and norm weights
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 1.0;  // 0 = no clipping
  int64_t eval_every = 0;      // 0 = evaluate only at the end (when an eval loader is given)
  int64_t eval_batches = 8;
  int64_t save_every = 0;  // 0 = save only at the end (when output_dir is set)
  int64_t keep_checkpoints = 2;
  int64_t log_every = 10;
  std::string output_dir;  // empty = write nothing
  bool resume = true;      // continue from output_dir's latest checkpoint if there is one
  bool progress = true;    // progress line on stderr
  /// Checkpoints hold only the parameters that train (requires_grad), not the frozen rest: what a
  /// LoRA run needs (the base comes from its own folder). Resuming then expects exactly those
  /// names.
  bool checkpoint_trainable_only = false;
  /// Mixed precision: BF16 (or F16) runs forward and backward with the model's floating
  /// parameters in that dtype while the optimizer updates f32 master copies of the trainable ones
  /// (gradients cast to f32 before clipping and the update, weights cast down after each step).
  /// Checkpoints hold the f32 masters; train() returns with the model back in f32 holding them.
  /// F32 (the default): plain f32 training.
  DType compute_dtype = DType::F32;
  /// The options that determine the run (data identity, batch size, seed, lr, ...), by name:
  /// written into every checkpoint's trainer_state.json, and on resume compared with the
  /// checkpoint's; any difference is a ConfigError listing each differing option (old vs new).
  /// Options that may change on resume (steps, evaluation, checkpoint cadence, threads) are left
  /// out by the caller. A checkpoint written without this record resumes unchecked.
  std::map<std::string, std::string> run_options;
  /// Throws ConfigError naming the field.
  void validate() const;
};

struct StepRecord {
  int64_t step = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0;
  double eval_loss = -1;  // -1 = not evaluated at this step
};

struct TrainResult {
  int64_t steps = 0;
  double final_loss = 0;
  double eval_loss = -1;
  double eval_perplexity = -1;
  double tokens_per_s = 0;
  std::vector<StepRecord> history;
};

/// Computes the (mean) loss of one batch; gradients flow from it.
using LossFn = std::function<Tensor(nn::Module& model, const Batch& batch)>;

class Trainer {
 public:
  Trainer(nn::Module& model, LossFn loss_fn, DataLoader& train, DataLoader* eval,
          TrainerConfig cfg);
  /// Runs until max_steps (resuming first when configured). Throws Error on a non-finite loss or
  /// gradient norm, before that step changes any weight; the last checkpoint stays intact.
  TrainResult train();
  /// Mean loss over up to eval_batches batches of the eval loader (restarted from its beginning).
  double evaluate();
  /// Writes a checkpoint folder atomically (a temporary folder, then a rename).
  void save_checkpoint(const std::string& dir);
  /// Restores model, optimizer, step, history, RNG and data position; LoadError on bad files.
  void load_checkpoint(const std::string& dir);
  /// Path of the newest complete checkpoint in output_dir, or "" when there is none.
  static std::string latest_checkpoint(const std::string& output_dir);
  int64_t step() const { return step_; }

 private:
  void write_metrics() const;
  /// Mixed precision: the model's parameters to the compute dtype / back to f32 from the masters.
  void to_compute_dtype();
  void to_master_dtype();
  nn::Module& model_;
  LossFn loss_fn_;
  DataLoader& train_;
  DataLoader* eval_;
  TrainerConfig cfg_;
  /// Mixed precision only: f32 master copies of the trainable parameters, by name; the frozen
  /// parameters' f32 tensors while the model computes in the lower precision.
  std::vector<std::pair<std::string, Tensor>> masters_;
  std::vector<std::pair<Tensor*, Tensor>> frozen_f32_;
  bool in_compute_ = false;
  AdamW opt_;
  int64_t step_ = 0;
  std::vector<StepRecord> history_;
};

/// Writes an SVG line chart of training loss (and eval loss points) against step.
void write_loss_curve_svg(const std::string& path, const std::vector<StepRecord>& history);

}  // namespace lazarus::training
