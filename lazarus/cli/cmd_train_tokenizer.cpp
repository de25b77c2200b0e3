// `lazarus train-tokenizer`: learn a byte-level BPE tokenizer from text files and write a Hugging
// Face tokenizer.json (+ tokenizer_config.json) that any HF tool loads.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lazarus/cli/commands.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/core/atomic_file.h"
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/bpe_trainer.h"

namespace lazarus::cli {
namespace {

namespace fs = std::filesystem;

struct TrainTokenizerOptions {
  std::vector<std::string> data;
  std::string out;
  std::size_t vocab_size = 4096;
  std::int64_t min_frequency = 2;
  std::vector<std::string> special_tokens{"<|endoftext|>"};
  std::string chat_template;
  bool no_special_tokens = false;
  bool no_byte_alphabet = false;
  bool add_prefix_space = false;
  bool quiet = false;
};

void run(const TrainTokenizerOptions& o) {
  tokenizers::BpeTrainerOptions t;
  t.vocab_size = o.vocab_size;
  t.min_frequency = o.min_frequency;
  if (!o.no_special_tokens) t.special_tokens = o.special_tokens;
  t.full_byte_alphabet = !o.no_byte_alphabet;
  t.add_prefix_space = o.add_prefix_space;
  tokenizers::BpeTrainer trainer(t);
  std::string chat_template;
  if (!o.chat_template.empty()) {
    chat_template = read_regular_file(o.chat_template, "chat template (--chat-template)", 64u << 20);
  }
  for (const auto& f : o.data) trainer.feed_file(f);
  if (!o.quiet)
    std::fprintf(stderr, "train-tokenizer: %zu files, %lld words (%zu distinct), vocab %zu\n",
                 o.data.size(), static_cast<long long>(trainer.total_words()),
                 trainer.distinct_words(), o.vocab_size);
  int shown = -1;  // percent last drawn: redraw only when it changes
  const std::string json = trainer.train([&](std::size_t done, std::size_t total) {
    if (o.quiet || total == 0) return;
    const int percent = static_cast<int>(100.0 * std::min<double>(1.0, double(done) / total));
    if (percent == shown && done != total) return;
    shown = percent;
    const int width = 30;
    const int filled = static_cast<int>(width * std::min<double>(1.0, double(done) / total));
    std::fprintf(stderr, "\r  merges [%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), done, total);
    if (done == total) std::fputc('\n', stderr);
  });
  fs::create_directories(o.out);
  write_file_atomic(fs::path(o.out) / "tokenizer.json", json);

  nlohmann::ordered_json cfg;
  cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
  if (!t.special_tokens.empty()) {
    // The first special token marks both document boundaries (GPT-2's <|endoftext|> convention).
    cfg["bos_token"] = t.special_tokens.front();
    cfg["eos_token"] = t.special_tokens.front();
  }
  cfg["add_bos_token"] = false;
  cfg["add_eos_token"] = false;
  cfg["clean_up_tokenization_spaces"] = false;
  if (!chat_template.empty()) cfg["chat_template"] = chat_template;
  write_file_atomic(fs::path(o.out) / "tokenizer_config.json", cfg.dump(2) + "\n");
  if (!o.quiet)
    std::fprintf(stderr, "wrote %s/tokenizer.json and tokenizer_config.json\n", o.out.c_str());
}

}  // namespace

void register_train_tokenizer_command(CLI::App& app) {
  auto o = std::make_shared<TrainTokenizerOptions>();
  auto* cmd = app.add_subcommand(
      "train-tokenizer",
      "Train a byte-level BPE tokenizer (GPT-2 style) on text files and write tokenizer.json.\n"
      "The merges follow Hugging Face tokenizers' BpeTrainer, so the result is what HF would "
      "train.\n"
      "Example: lazarus train-tokenizer --data corpus.txt --vocab-size 4096 --out my-tok");
  cmd->add_option("--data", o->data, "Text files (UTF-8), read line by line")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Output folder (created if missing)")->required();
  cmd->add_option("--vocab-size", o->vocab_size,
                  "Vocabulary size incl. special tokens and the 256 byte symbols")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  cmd->add_option("--min-frequency", o->min_frequency, "Do not merge pairs seen fewer times")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--special-tokens", o->special_tokens,
                  "Comma-separated special tokens, ids 0, 1, ... (the first is also bos/eos)")
      ->expected(1)
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--no-special-tokens", o->no_special_tokens, "No special tokens at all");
  cmd->add_option("--chat-template", o->chat_template,
                  "A Jinja chat template file stored in tokenizer_config.json");
  cmd->add_flag("--no-byte-alphabet", o->no_byte_alphabet,
                "Alphabet = bytes seen in the data, not all 256 (unseen bytes become unencodable)");
  cmd->add_flag("--add-prefix-space", o->add_prefix_space, "ByteLevel add_prefix_space");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress output");
  cmd->callback([o] { run(*o); });
}

}  // namespace lazarus::cli
