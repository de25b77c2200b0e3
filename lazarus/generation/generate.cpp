// The generation loop (see generate.h).
#include "lazarus/generation/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::generation {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Logits of the last position of each row, (B, V) f32 (the head runs over that position only).
Tensor last_logits(models::CausalLM& model, const Tensor& ids, const Tensor& mask,
                   const std::shared_ptr<components::Cache>& cache) {
  return model.last_logits(ids, mask, cache.get()).to(DType::F32);
}

// Per row: decoded text so far, how much of it was streamed, and the incremental decoder.
struct RowText {
  std::optional<tokenizers::DecodeStream> stream;
  std::string text;
  size_t emitted = 0;
};

// Earliest occurrence of any stop string in `text` starting at or after `from`; npos when none.
size_t find_stop(const std::string& text, size_t from, const std::vector<std::string>& stops) {
  size_t best = std::string::npos;
  for (const std::string& s : stops) {
    size_t p = text.find(s, from);
    if (p < best) best = p;
  }
  return best;
}

// Bytes at the end of `text` that could be the start of a stop string (held back from streaming).
size_t stop_prefix_at_end(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

void check_params(const models::CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                  const GenerationParams& p, const tokenizers::Tokenizer* tok) {
  try {
    p.sampler.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("[generate] {}", e.what()));
  }
  const int64_t V = model.config().backbone.embedding.vocab_size;
  const int64_t ctx = context_length(model);
  if (p.max_new_tokens < 0)
    throw ConfigError(fmt::format("[generate] max_new_tokens: {} must be >= 0", p.max_new_tokens));
  if (prompts.empty()) throw ConfigError("[generate] no prompts given");
  for (size_t b = 0; b < prompts.size(); ++b) {
    const auto& row = prompts[b];
    if (row.empty())
      throw ConfigError(fmt::format(
          "[generate] prompt {} is empty: a model needs at least one token (e.g. BOS)", b));
    if (ctx > 0 && int64_t(row.size()) > ctx)
      throw ConfigError(
          fmt::format("[generate] prompt {} has {} tokens, longer than the model's context of {} "
                      "(max_position_embeddings); shorten the prompt",
                      b, row.size(), ctx));
    if (ctx > 0 && int64_t(row.size()) + p.max_new_tokens > ctx)
      throw ConfigError(fmt::format(
          "[generate] max_new_tokens {} + prompt {} tokens = {} exceeds the model's context of {} "
          "(max_position_embeddings); use max_new_tokens <= {}",
          p.max_new_tokens, row.size(), int64_t(row.size()) + p.max_new_tokens, ctx,
          ctx - int64_t(row.size())));
    for (int64_t id : row) {
      if (id < 0 || id >= V)
        throw IndexError(fmt::format(
            "[generate] prompt {} holds token id {}, outside the model's vocabulary of {}", b, id,
            V));
    }
  }
  for (int64_t id : p.eos_token_ids) {
    if (id < 0 || id >= V)
      throw ConfigError(
          fmt::format("[generate] eos token id {} is outside the vocabulary of {}", id, V));
  }
  if (p.pad_token_id >= V)
    throw ConfigError(fmt::format("[generate] pad token id {} is outside the vocabulary of {}",
                                  p.pad_token_id, V));
  if (!p.stop_strings.empty() && !tok)
    throw ConfigError("[generate] stop strings are matched on decoded text and need a tokenizer");
  for (const std::string& s : p.stop_strings) {
    if (s.empty()) throw ConfigError("[generate] empty stop string");
  }
}

}  // namespace

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::Length:
      return "length";
    case FinishReason::Eos:
      return "eos";
    case FinishReason::StopString:
      return "stop";
  }
  return "?";
}

int64_t context_length(const models::CausalLM& model) {
  return context_length(model.config().backbone);
}

int64_t context_length(const config::BackboneConfig& b) {
  // Attention caches and positions are bounded; a state-space or recurrent state is not. A hybrid
  // stack is bounded as soon as one layer attends (its KV cache holds max_position_embeddings).
  bool attends = false;
  switch (b.type) {
    case config::BackboneType::Transformer:
      attends = true;
      break;
    case config::BackboneType::Mamba:
    case config::BackboneType::Recurrent:
      break;
    case config::BackboneType::Hybrid:
      for (int64_t l = 0; l < b.num_layers && !attends; ++l) {
        const config::BlockType t = b.block_for(l).type;
        attends = t == config::BlockType::Transformer || t == config::BlockType::Hybrid;
      }
      break;
  }
  return attends ? std::max<int64_t>(0, b.embedding.max_position_embeddings) : 0;
}

namespace {
// NaN logits leave the sampler nothing to choose from. The usual cause is a weight that holds a
// NaN or inf (a broken or wrongly converted checkpoint): name it, so the message points at the
// file rather than at the sampler.
std::vector<int64_t> sample_or_explain(Sampler& sampler, const Tensor& logits,
                                       const std::vector<std::vector<int64_t>>& context,
                                       models::CausalLM& model) {
  try {
    return sampler.sample(logits, context);
  } catch (const Error& e) {
    if (std::string_view(e.what()).find("NaN") == std::string_view::npos) throw;
    std::vector<std::string> bad;
    NoGradGuard no_grad;
    for (auto& [name, t] : model.named_parameters()) {
      if (!t->defined() || !is_floating(t->dtype())) continue;
      Tensor f = t->dtype() == DType::F32 || t->dtype() == DType::F64 ? *t : t->to(DType::F32);
      if (!std::isfinite(sum_squares(f))) bad.push_back(name);
    }
    if (bad.empty()) {
      throw Error(fmt::format("{} (every weight is finite: the forward pass overflowed; with "
                              "--dtype bf16, try f32)",
                              e.what()));
    }
    throw Error(fmt::format("{}: weight '{}'{} holds NaN or inf values; the checkpoint is broken "
                           "or was converted wrongly",
                           e.what(), bad.front(),
                           bad.size() > 1 ? fmt::format(" (and {} more)", bad.size() - 1) : ""));
  }
}
}  // namespace

GenerationResult generate(models::CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationParams& p, const tokenizers::Tokenizer* tok,
                          const StreamCallback& on_text) {
  check_params(model, prompts, p, tok);
  NoGradGuard no_grad;
  const auto t_start = Clock::now();
  const int64_t B = int64_t(prompts.size());
  const int64_t pad =
      p.pad_token_id >= 0 ? p.pad_token_id : (p.eos_token_ids.empty() ? 0 : p.eos_token_ids[0]);

  // Left-pad to the longest prompt: ids (B, T), mask (B, T) only when lengths differ.
  int64_t T = 0;
  for (auto& r : prompts) T = std::max<int64_t>(T, int64_t(r.size()));
  std::vector<int64_t> flat(size_t(B * T), pad), mask(size_t(B * T), 1);
  bool padded = false;
  GenerationResult res;
  res.tokens.resize(size_t(B));
  res.text.resize(size_t(B));
  res.finish_reasons.assign(size_t(B), FinishReason::Length);
  for (int64_t b = 0; b < B; ++b) {
    const auto& r = prompts[size_t(b)];
    int64_t off = T - int64_t(r.size());
    padded |= off > 0;
    for (int64_t t = 0; t < off; ++t) mask[size_t(b * T + t)] = 0;
    std::copy(r.begin(), r.end(), flat.begin() + b * T + off);
    res.stats.prompt_tokens += int64_t(r.size());
    if (p.include_prompt) res.tokens[size_t(b)] = r;
  }
  std::vector<std::vector<int64_t>> context(prompts);  // what the repetition penalty sees
  std::vector<RowText> rows(static_cast<size_t>(B));
  if (tok) {
    for (auto& r : rows) r.stream.emplace(tok->decode_stream(p.skip_special_tokens));
  }
  std::vector<bool> done(size_t(B), false);
  size_t max_stop = 0;
  for (auto& s : p.stop_strings) max_stop = std::max(max_stop, s.size());

  // Streams the row's final text up to `upto` bytes.
  auto emit = [&](int64_t b, size_t upto) {
    RowText& rt = rows[size_t(b)];
    if (upto > rt.emitted && on_text)
      on_text(size_t(b), std::string_view(rt.text).substr(rt.emitted, upto - rt.emitted));
    rt.emitted = std::max(rt.emitted, upto);
  };
  // Adds decoded text to row b; returns true when a stop string ended the row.
  auto add_text = [&](int64_t b, const std::string& piece, bool final) {
    RowText& rt = rows[size_t(b)];
    size_t before = rt.text.size();
    rt.text += piece;
    if (!p.stop_strings.empty()) {
      size_t from = before >= max_stop ? before - (max_stop - 1) : 0;
      size_t at = find_stop(rt.text, from, p.stop_strings);
      if (at != std::string::npos) {
        rt.text.resize(at);
        emit(b, at);
        return true;
      }
    }
    emit(b, final ? rt.text.size() : rt.text.size() - stop_prefix_at_end(rt.text, p.stop_strings));
    return false;
  };
  auto finish_row = [&](int64_t b, FinishReason why) {
    done[size_t(b)] = true;
    res.finish_reasons[size_t(b)] = why;
    if (!tok || why == FinishReason::StopString) return;
    if (add_text(b, rows[size_t(b)].stream->finish(), true))
      res.finish_reasons[size_t(b)] = FinishReason::StopString;
  };

  Sampler sampler(p.sampler);
  auto cache = model.make_cache(B, T + std::max<int64_t>(p.max_new_tokens, 1));
  Tensor logits;
  if (p.max_new_tokens > 0) {
    logits = last_logits(model, from_vector(flat, {B, T}, DType::I64),
                         padded ? from_vector(mask, {B, T}, DType::I64) : Tensor(), cache);
  }
  auto t_decode = Clock::now();
  for (int64_t n = 0; n < p.max_new_tokens; ++n) {
    std::vector<int64_t> next = sample_or_explain(sampler, logits, context, model);
    for (int64_t b = 0; b < B; ++b) {
      if (done[size_t(b)]) {
        next[size_t(b)] = pad;
        continue;
      }
      const int64_t id = next[size_t(b)];
      res.tokens[size_t(b)].push_back(id);
      context[size_t(b)].push_back(id);
      ++res.stats.generated_tokens;
      if (n > 0) ++res.stats.decode_tokens;
      if (std::find(p.eos_token_ids.begin(), p.eos_token_ids.end(), id) != p.eos_token_ids.end()) {
        finish_row(b, FinishReason::Eos);
        continue;
      }
      if (tok) {
        std::string piece = rows[size_t(b)].stream->step(static_cast<uint32_t>(id));
        if (add_text(b, piece, false)) {
          finish_row(b, FinishReason::StopString);
          continue;
        }
      }
      if (n + 1 == p.max_new_tokens) finish_row(b, FinishReason::Length);
    }
    if (n == 0) {
      res.stats.prefill_seconds = seconds_since(t_start);
      t_decode = Clock::now();
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    // The cache remembers the prompt's padding; finished rows are fed padding.
    logits = last_logits(model, from_vector(next, {B, 1}, DType::I64), Tensor(), cache);
  }
  if (p.max_new_tokens == 0) {
    for (int64_t b = 0; b < B; ++b) finish_row(b, FinishReason::Length);
    res.stats.prefill_seconds = seconds_since(t_start);
  } else {
    res.stats.decode_seconds = seconds_since(t_decode);
  }
  for (int64_t b = 0; b < B; ++b) res.text[size_t(b)] = std::move(rows[size_t(b)].text);
  return res;
}

GenerationResult generate_text(models::CausalLM& model, const tokenizers::Tokenizer& tokenizer,
                               const std::string& prompt, const GenerationParams& params,
                               const StreamCallback& on_text, bool add_special_tokens) {
  std::vector<uint32_t> ids = tokenizer.encode_ids(prompt, add_special_tokens);
  std::vector<int64_t> row(ids.begin(), ids.end());
  return generate(model, {row}, params, &tokenizer, on_text);
}

}  // namespace lazarus::generation
