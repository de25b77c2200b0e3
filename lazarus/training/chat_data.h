// Instruction / chat data for fine-tuning: JSONL records with "messages" (a conversation) or
// "prompt" / "completion", rendered with the model's chat template and tokenized, with everything
// but the assistant's replies masked out of the loss (-100).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lazarus/tokenizers/chat_template.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lazarus::training {

struct TokenizedExample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;  // -100 where the loss ignores the token
};

class ChatRenderer {
 public:
  /// `chat_template` may be empty: prompt/completion records are then plain concatenations and
  /// conversations are refused.
  ChatRenderer(const tokenizers::Tokenizer& tok,
               std::optional<tokenizers::ChatTemplate> chat_template,
               std::optional<std::string> bos_token = {},
               std::optional<std::string> eos_token = {});
  /// One JSON record. Throws ConfigError naming `where` (e.g. "train.jsonl:12") and the problem:
  /// a missing field, a non-string content, no assistant turn, or a template whose rendering of a
  /// conversation prefix is not a prefix of the whole (then the prompt cannot be masked exactly).
  TokenizedExample render(const nlohmann::ordered_json& record, const std::string& where) const;
  /// Every line of a JSONL file (blank lines skipped).
  std::vector<TokenizedExample> render_file(const std::string& path) const;

 private:
  std::vector<int64_t> encode(const std::string& text) const;
  std::string render_messages(const nlohmann::ordered_json& msgs, bool add_generation_prompt) const;
  const tokenizers::Tokenizer& tok_;
  std::optional<tokenizers::ChatTemplate> template_;
  std::optional<std::string> bos_, eos_;
};

/// Truncates to `seq_len` and right-pads with `pad_id` (labels -100) so examples can be batched.
void fit_length(TokenizedExample& ex, int64_t seq_len, int64_t pad_id);

}  // namespace lazarus::training
