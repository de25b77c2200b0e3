// Trains a byte-level BPE tokenizer (GPT-2 style: ByteLevel pre-tokenizer and decoder) on text and
// writes it as a Hugging Face tokenizer.json. The merge order follows HF tokenizers' BpeTrainer
// (most frequent pair first, ties to the smaller pair of ids), so with the same inputs and options
// both produce the same vocabulary and merges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lazarus::tokenizers {

struct BpeTrainerOptions {
  /// Final vocabulary size, special tokens and the initial alphabet included.
  std::size_t vocab_size = 4096;
  /// A pair seen fewer times than this is never merged (HF's min_frequency).
  std::int64_t min_frequency = 2;
  /// Added first (ids 0, 1, ...), flagged special in the tokenizer.json.
  std::vector<std::string> special_tokens;
  /// Start from all 256 byte symbols, so every input byte has a token (no unknown bytes ever).
  /// Off: the alphabet is the symbols seen in the text (HF's default when no initial_alphabet).
  bool full_byte_alphabet = true;
  /// ByteLevel pre-tokenizer's add_prefix_space.
  bool add_prefix_space = false;
};

/// Word frequencies after pre-tokenization, accumulated text by text (feed it as you read files).
class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainerOptions options);
  ~BpeTrainer();
  BpeTrainer(BpeTrainer&&) noexcept;
  BpeTrainer& operator=(BpeTrainer&&) noexcept;

  /// Pre-tokenizes `text` (valid UTF-8, else EncodeError) and counts its words.
  void feed(std::string_view text);
  /// Feeds a text file line by line, each line with its '\n', as HF's train_from_files reads
  /// files. LoadError naming the file (and line, for invalid UTF-8) on failure.
  void feed_file(const std::string& path);
  /// Words counted so far (distinct) and their total.
  std::size_t distinct_words() const;
  std::int64_t total_words() const;

  /// Learns the merges. `progress(done, total)` is called now and then with merges done so far
  /// and the most that can be made. Returns the tokenizer.json text (pretty-printed).
  std::string train(const std::function<void(std::size_t, std::size_t)>& progress = {}) const;

 private:
  struct State;
  BpeTrainerOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace lazarus::tokenizers
