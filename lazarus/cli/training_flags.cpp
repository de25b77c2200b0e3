// Shared training flags and run of `lazarus train` / `lazarus finetune` (see training_flags.h).
#include "lazarus/cli/training_flags.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "lazarus/cli/number_flags.h"
#include "lazarus/core/checked_math.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/losses/losses.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/random.h"

namespace lazarus::cli {

namespace fs = std::filesystem;

std::string read_text_file(const std::string& path, const char* what) {
  // A FIFO or /dev/zero is refused; a regular file is read whole (training text: up to 64 GiB,
  // past which a memory-mapped reader is needed, not this one).
  return read_regular_file(path, fmt::format("{} file", what).c_str(), uint64_t(64) << 30);
}

config::Json parse_json_file(const std::string& path, const char* what) {
  std::string text = read_text_file(path, what);
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
    if (++c % 3 == 0 && i > 0 && s[i - 1] != '-') out.insert(out.begin(), ',');
  }
  return out;
}

std::string scale_str(int64_t n) {
  return n >= 1'000'000 ? fmt::format("{:.2f} M", double(n) / 1e6)
                        : fmt::format("{:.1f} K", double(n) / 1e3);
}

namespace {

training::ScheduleType schedule_from_string(const std::string& s, const char* command) {
  if (s == "constant") return training::ScheduleType::Constant;
  if (s == "linear") return training::ScheduleType::Linear;
  if (s == "cosine") return training::ScheduleType::Cosine;
  throw ConfigError(
      fmt::format("[{}] --schedule must be constant, linear or cosine, got \"{}\"", command, s));
}

/// Reads --train-config: every key is an option name with '_' for '-' (e.g. "seq_len"); options
/// given on the command line win.
void apply_train_config(CLI::App* cmd, const std::string& path) {
  config::Json j = parse_json_file(path, "training config");
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
          "{}: unknown key \"{}\" (keys are the option names of `lazarus {} --help`, with _ "
          "for -, e.g. \"seq_len\")",
          path, key, cmd->get_name()));
    }
    if (opt->count() > 0) continue;  // the command line wins
    std::vector<std::string> vals;
    const bool numeric = is_numeric_option(opt);
    auto as_str = [&](const config::Json& v) {
      // A number given as a string ("2") is a mistake in the file, not a value to reinterpret.
      if (numeric && !v.is_number())
        throw ConfigError(fmt::format("{}: \"{}\" must be a JSON number, got {}", path, key,
                                      v.dump()));
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

}  // namespace

// Bounds of the integer flags: sizes (tokens, sequences) and step counts whose products with each
// other stay far from int64 overflow (checked again where they are multiplied).
constexpr int64_t kMaxSize = int64_t(1) << 31;
constexpr int64_t kMaxSteps = int64_t(1) << 40;

void add_training_flags(CLI::App* cmd, TrainingFlags& o, const std::string& seq_len_help,
                        const std::string& holdout_help) {
  cmd->add_option("--output", o.output, "Run folder: checkpoints, metrics, final model")
      ->capture_default_str();
  cmd->add_option("--train-config", o.train_config,
                  "JSON file of these options (keys with _ for -, e.g. {\"seq_len\": 256}); "
                  "options on the command line win");
  cmd->add_option("--seq-len", o.seq_len, seq_len_help)
      ->transform(integer_in(1, kMaxSize))->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "Sequences per micro-batch")
      ->transform(integer_in(1, kMaxSize))->capture_default_str();
  cmd->add_option("--grad-accum", o.grad_accum, "Micro-batches per optimizer step")
      ->transform(integer_in(1, kMaxSize))
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "Optimizer steps (0: --epochs passes over the data)")
      ->transform(integer_in(0, kMaxSteps))
      ->capture_default_str();
  cmd->add_option("--epochs", o.epochs, "Passes over the training data when --steps is 0")
      ->transform(integer_in(1, kMaxSteps))
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate (AdamW)")
      ->transform(number_in(0, 1e6))->capture_default_str();
  cmd->add_option("--schedule", o.schedule, "constant, linear or cosine (after warm-up)")
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Warm-up steps (-1: 5% of the steps)")
      ->transform(integer_in(-1, kMaxSteps))
      ->capture_default_str();
  cmd->add_option("--min-lr-ratio", o.min_lr_ratio, "Cosine floor as a fraction of --lr")
      ->transform(number_in(0, 1))
      ->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay (not on norms)")
      ->transform(number_in(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--max-grad-norm", o.max_grad_norm, "Clip gradients to this global norm (0: off)")
      ->transform(number_in(0, 1e300))
      ->capture_default_str();
  cmd->add_option("--holdout", o.holdout, holdout_help)
      ->transform(number_in(0, 1))->capture_default_str();
  cmd->add_option("--eval-every", o.eval_every, "Evaluate every N steps (-1: 10 times a run)")
      ->transform(integer_in(-1, kMaxSteps))
      ->capture_default_str();
  cmd->add_option("--eval-batches", o.eval_batches, "Held-out batches per evaluation")
      ->transform(integer_in(1, kMaxSteps))
      ->capture_default_str();
  cmd->add_option("--save-every", o.save_every, "Checkpoint every N steps (-1: = --eval-every)")
      ->transform(integer_in(-1, kMaxSteps))
      ->capture_default_str();
  cmd->add_option("--keep-checkpoints", o.keep_checkpoints, "Newest checkpoints kept")
      ->transform(integer_in(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed for weights, data order and dropout")
      ->transform(unsigned_integer())
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (0: all cores)")
      ->transform(integer_in(0, 4096))->capture_default_str();
  cmd->add_option("--dtype", o.dtype,
                  "Compute dtype: f32, or bf16 (forward and backward in bf16, the optimizer on "
                  "f32 master weights, the loss in f32)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  cmd->add_flag("--resume", o.resume,
                "Continue from the newest checkpoint in --output (same data and options)");
  cmd->add_flag("--dry-run", o.dry_run, "Print the plan and stop");
}

void prepare_training(CLI::App* cmd, TrainingFlags& o, const char* command,
                      bool holdout_may_be_zero) {
  if (!o.train_config.empty()) apply_train_config(cmd, o.train_config);
  auto positive = [&](const char* name, int64_t v) {
    if (v < 1) throw ConfigError(fmt::format("[{}] --{} must be >= 1, got {}", command, name, v));
  };
  positive("seq-len", o.seq_len);
  positive("batch-size", o.batch_size);
  positive("epochs", o.epochs);
  positive("grad-accum", o.grad_accum);
  if (o.steps < 0)
    throw ConfigError(fmt::format("[{}] --steps must be >= 0, got {}", command, o.steps));
  bool ok = holdout_may_be_zero ? (o.holdout >= 0 && o.holdout < 0.5)
                                : (o.holdout > 0 && o.holdout < 0.5);
  if (!ok) {
    throw ConfigError(fmt::format("[{}] --holdout must be in {}0, 0.5), got {}", command,
                                  holdout_may_be_zero ? "[" : "(", o.holdout));
  }
  schedule_from_string(o.schedule, command);
  if (o.threads > 0) set_num_threads(int(o.threads));
  manual_seed(o.seed);
}

training::TrainerConfig trainer_config(const TrainingFlags& o, int64_t n_train, const char* command,
                                       std::string& existing) {
  training::TrainerConfig tc;
  const std::string what = fmt::format("[{}] --batch-size x --grad-accum x --epochs", command);
  int64_t per_step = checked_mul(o.batch_size, o.grad_accum, what);
  int64_t per_epoch = n_train / per_step + (n_train % per_step != 0);
  tc.max_steps = o.steps > 0 ? o.steps : checked_mul(per_epoch, o.epochs, what);
  tc.grad_accum = o.grad_accum;
  tc.lr = o.lr;
  tc.schedule = schedule_from_string(o.schedule, command);
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
  tc.compute_dtype = o.dtype == "bf16" ? DType::BF16 : DType::F32;
  // What determines the run; --resume must not change it. Not here: --steps, --epochs,
  // --eval-every, --eval-batches, --save-every, --keep-checkpoints, --threads (free to change).
  tc.run_options = {{"batch_size", std::to_string(o.batch_size)},
                    {"seq_len", std::to_string(o.seq_len)},
                    {"grad_accum", std::to_string(o.grad_accum)},
                    {"seed", std::to_string(o.seed)},
                    {"lr", fmt::format("{}", o.lr)},
                    {"schedule", o.schedule},
                    {"warmup", std::to_string(o.warmup)},
                    {"min_lr_ratio", fmt::format("{}", o.min_lr_ratio)},
                    {"weight_decay", fmt::format("{}", o.weight_decay)},
                    {"max_grad_norm", fmt::format("{}", o.max_grad_norm)},
                    {"holdout", fmt::format("{}", o.holdout)},
                    {"dtype", o.dtype}};
  tc.validate();
  existing = training::Trainer::latest_checkpoint(o.output);
  if (!existing.empty() && !o.resume && !o.dry_run) {
    throw ConfigError(fmt::format(
        "[{}] {} already holds checkpoints ({}); pass --resume to continue that run, or choose "
        "another --output",
        command, o.output, existing));
  }
  return tc;
}

std::string content_identity(const std::string& contents) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64-bit
  for (unsigned char c : contents) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{} bytes, fnv1a64 {:016x}", contents.size(), h);
}

void print_training_plan(const TrainingFlags& o, const training::TrainerConfig& tc, int64_t n_train,
                         int64_t seq_len, bool has_eval, const std::string& final_what,
                         const std::string& existing) {
  int64_t per_step = o.batch_size * o.grad_accum;  // checked by trainer_config
  // The token count as a double: steps x sequences x tokens may pass 2^63 in a plan.
  const double n_tokens = double(tc.max_steps) * double(per_step) * double(seq_len);
  std::printf(
      "training   %lld steps x %lld sequences x %lld tokens = %s tokens (%.2f epochs); lr %g %s, "
      "warm-up %lld, weight decay %g, clip %g%s\n",
      (long long)tc.max_steps, (long long)per_step, (long long)seq_len,
      n_tokens < 9e18 ? count_str(int64_t(n_tokens)).c_str() : fmt::format("{:.3g}", n_tokens).c_str(),
      double(tc.max_steps * per_step) / double(n_train), o.lr, o.schedule.c_str(),
      (long long)tc.warmup_steps, o.weight_decay, o.max_grad_norm,
      tc.compute_dtype == DType::BF16 ? "; bf16 compute, f32 master weights" : "");
  std::string eval = has_eval ? fmt::format("held-out eval every {}", tc.eval_every)
                              : std::string("no held-out eval (--holdout 0)");
  std::printf(
      "output     %s: checkpoints every %lld steps, %s, metrics.jsonl, loss_curve.svg; %s\n",
      o.output.c_str(), (long long)tc.save_every, eval.c_str(), final_what.c_str());
  if (!existing.empty()) std::printf("resume     from %s\n", existing.c_str());
  std::fflush(stdout);
}

training::TrainResult train_causal_lm(models::CausalLM& model, training::DataLoader& train,
                                      training::DataLoader* eval,
                                      const training::TrainerConfig& tc) {
  // The LM head fused into the loss: no (B, T, V) logits. In f32 whatever the compute dtype
  // (as torch.autocast computes the log-softmax over the vocabulary).
  training::LossFn loss = [](nn::Module& m, const training::Batch& b) {
    return static_cast<models::CausalLM&>(m).loss(b.input_ids, b.labels);
  };
  training::Trainer trainer(model, loss, train, eval, tc);
  return trainer.train();
}

void print_done(const training::TrainResult& r) {
  std::printf("done       %lld steps, final training loss %.4f", (long long)r.steps, r.final_loss);
  if (r.eval_loss >= 0)
    std::printf(", held-out loss %.4f, perplexity %.3f", r.eval_loss, r.eval_perplexity);
}

}  // namespace lazarus::cli
