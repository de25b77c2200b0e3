// generation_config.json: the generation defaults a Hugging Face model folder ships (eos ids,
// do_sample, temperature, top_k, top_p, ...), with transformers' GenerationConfig defaults for
// what the file leaves out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lazarus/config/json_reader.h"
#include "lazarus/generation/sampler.h"

namespace lazarus::generation {

struct GenerationConfig {
  /// false = greedy decoding (transformers' default); the sampling fields apply only when true.
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;  // transformers' default
  double top_p = 1.0;
  std::optional<double> min_p;
  double repetition_penalty = 1.0;
  std::optional<int64_t> max_new_tokens;
  /// Cap on prompt + new tokens.
  std::optional<int64_t> max_length;
  /// Generation stops after any of these (one id or a list in the file).
  std::vector<int64_t> eos_token_id;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::vector<std::string> stop_strings;
  /// Settings present in the file that Lazarus does not apply (beam search, ...), one line each,
  /// for the caller to show; keys at their neutral value are not listed.
  std::vector<std::string> not_applied;

  /// Reads generation_config.json content. Known keys are type-checked (ConfigError naming
  /// `origin`, the key and the value); unknown keys are recorded in not_applied.
  static GenerationConfig from_json(const config::Json& j,
                                    const std::string& origin = "generation_config.json");
  /// Defaults when a folder has no generation_config.json: transformers derives them from
  /// config.json's bos/eos/pad ids, as here.
  static GenerationConfig from_model_config(const config::Json& hf_config);

  /// The sampler settings these defaults imply: temperature 0 (greedy) unless do_sample.
  SamplerConfig sampler(uint64_t seed = 0) const;
  /// The generation_config.json form.
  config::Json to_json() const;
};

}  // namespace lazarus::generation
