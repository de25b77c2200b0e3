// Flags `lazarus generate` and `lazarus chat` share: which model (folder, dtype, threads), the
// sampling controls, and how they combine with the folder's generation_config.json.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lazarus/generation/generate.h"
#include "lazarus/io/model_folder.h"

namespace lazarus::cli {

struct ModelFlags {
  std::string model = io::kDefaultModelName;
  std::string adapter;  // a PEFT (or mlx-lm) LoRA adapter folder applied after loading
  std::string dtype = "f32";
  int threads = 0;
};

struct SamplingFlags {
  int64_t max_new_tokens = 0;
  double temperature = 0, top_p = 1, min_p = 0, repetition_penalty = 1;
  int64_t top_k = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  std::string system;
  std::vector<std::string> template_vars;  // --var NAME=VALUE for the chat template
  bool no_stream = false;
  // Set when the flag was given (the folder's generation_config.json supplies the rest).
  CLI::Option *max_new_tokens_opt = nullptr, *temperature_opt = nullptr, *top_p_opt = nullptr,
              *min_p_opt = nullptr, *repetition_penalty_opt = nullptr, *top_k_opt = nullptr,
              *seed_opt = nullptr;
};

void add_model_flags(CLI::App* cmd, ModelFlags& f);
void add_sampling_flags(CLI::App* cmd, SamplingFlags& f, int64_t default_max_new_tokens);

/// Resolves --model, sets the thread count, loads the folder (and the --adapter on it) (a progress
/// bar on stderr for large models when stderr is a terminal) and prints one line about it and any
/// warnings to stderr. Throws when the folder has no tokenizer.json (text in, text out needs one).
io::PretrainedModel load_model_for_cli(const ModelFlags& f);

/// The generation parameters: flags first, then the folder's generation defaults (greedy unless
/// its do_sample is true), eos ids from generation_config.json plus the tokenizer's eos token.
/// Without --max-new-tokens the budget is `default_max_new_tokens` clamped to the context left
/// after `prompt_tokens` (and to generation_config's max_length).
generation::GenerationParams generation_params(const SamplingFlags& f, const io::PretrainedModel& m,
                                               int64_t prompt_tokens,
                                               int64_t default_max_new_tokens);

/// Prints the statistics line to stderr.
void print_stats(const generation::GenerationResult& r);

/// Generates from one prompt with `generation_params` and writes the new text to stdout: streamed
/// as it comes, or all at the end with --no-stream; then a newline.
generation::GenerationResult generate_to_stdout(const io::PretrainedModel& m,
                                                const std::vector<int64_t>& ids,
                                                const SamplingFlags& f,
                                                int64_t default_max_new_tokens);

}  // namespace lazarus::cli
