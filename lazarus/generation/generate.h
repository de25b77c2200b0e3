// The generation loop: prefill the prompts into the model's cache, then decode one token per step
// through the sampler chain, stopping each row on an eos id, a stop string (matched on the decoded
// text, never emitted) or the token budget; text is streamed UTF-8-safe through the tokenizer's
// incremental decoder.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lazarus/generation/sampler.h"
#include "lazarus/models/causal_lm.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lazarus::generation {

struct GenerationParams {
  /// New tokens per row at most; prompt + max_new_tokens must fit the model's context.
  int64_t max_new_tokens = 256;
  /// Repetition penalty, temperature (0 = greedy), top-k, top-p, min-p, seed (HF semantics).
  SamplerConfig sampler{.temperature = 0.0};
  /// A row finishes after emitting any of these (the eos token is kept in `tokens`, not in text).
  std::vector<int64_t> eos_token_ids;
  /// A row finishes when its decoded text contains one of these; the text is cut before it (and
  /// the stop string is never streamed). Needs a tokenizer.
  std::vector<std::string> stop_strings;
  /// Fed to rows that finished while others continue, and used to left-pad shorter prompts;
  /// -1 = the first eos id (or 0).
  int64_t pad_token_id = -1;
  /// Return the prompt tokens before the new ones in `tokens`.
  bool include_prompt = false;
  /// Leave special tokens out of the decoded text.
  bool skip_special_tokens = true;
};

enum class FinishReason { Length, Eos, StopString };
const char* to_string(FinishReason r);

struct GenerationStats {
  int64_t prompt_tokens = 0;     // every row's prompt tokens (padding not counted)
  int64_t generated_tokens = 0;  // every row's new tokens
  double prefill_seconds = 0;    // the prompt's forward pass and the first sample
  double decode_seconds = 0;     // every later step
  int64_t decode_tokens = 0;     // tokens sampled in those later steps
  double prompt_tokens_per_second() const {
    return prefill_seconds > 0 ? double(prompt_tokens) / prefill_seconds : 0.0;
  }
  double generated_tokens_per_second() const {
    return decode_seconds > 0 ? double(decode_tokens) / decode_seconds : 0.0;
  }
};

struct GenerationResult {
  /// Per row: the new tokens (after the prompt when include_prompt).
  std::vector<std::vector<int64_t>> tokens;
  /// Per row: the decoded new text (empty without a tokenizer).
  std::vector<std::string> text;
  std::vector<FinishReason> finish_reasons;
  GenerationStats stats;
};

/// Receives each row's text as it becomes final: complete UTF-8, never part of a stop string.
/// The pieces of a row concatenate to its GenerationResult::text.
using StreamCallback = std::function<void(size_t row, std::string_view text)>;

/// Generates for a batch of prompts (token ids; rows may differ in length and are left-padded).
/// Throws ConfigError for bad parameters (negative temperature, top_p outside (0, 1], top_k < 0,
/// max_new_tokens < 0 or beyond the context, stop strings without a tokenizer, ...) and
/// IndexError/ConfigError for empty prompts, ids outside the vocabulary or prompts longer than the
/// context. Runs without gradients.
GenerationResult generate(models::CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationParams& params,
                          const tokenizers::Tokenizer* tokenizer = nullptr,
                          const StreamCallback& on_text = {});

/// Text in, text out for one prompt: encodes it (with the tokenizer's special tokens such as BOS
/// when `add_special_tokens`), generates and decodes.
GenerationResult generate_text(models::CausalLM& model, const tokenizers::Tokenizer& tokenizer,
                               const std::string& prompt, const GenerationParams& params,
                               const StreamCallback& on_text = {}, bool add_special_tokens = true);

/// The model's context length: max_position_embeddings when any layer attends (transformer
/// backbones, and hybrid ones with a transformer or hybrid block anywhere in the stack: their KV
/// caches and positions are bounded), 0 (unbounded) when none does (mamba, recurrent, hybrids of
/// mamba and recurrent blocks only).
int64_t context_length(const models::CausalLM& model);
/// The same from the backbone config alone (nothing allocated).
int64_t context_length(const config::BackboneConfig& backbone);

}  // namespace lazarus::generation
