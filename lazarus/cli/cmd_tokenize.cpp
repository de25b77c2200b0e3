// `lazarus tokenize` and `lazarus detokenize`: run a tokenizer.json from the command line and
// print ids/tokens (and offsets with --offsets) as JSON (one object per input line with --jsonl),
// or ids back to text.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/cli/commands.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lazarus::cli {

namespace {

using lazarus::tokenizers::Tokenizer;

struct TokenizeOptions {
  std::string tokenizer;
  std::string text;
  std::string jsonl;
  bool no_special = false;
  bool offsets = false;
};

struct DetokenizeOptions {
  std::string tokenizer;
  std::vector<std::string> ids;
  bool skip_special = false;
  bool clean_up = false;
  bool stream = false;
};

std::string encoding_json(const lazarus::tokenizers::Encoding& enc, bool offsets) {
  nlohmann::json out;
  out["ids"] = enc.ids;
  out["tokens"] = enc.tokens;
  if (offsets) out["offsets"] = enc.offsets;
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void run_tokenize(const TokenizeOptions& o) {
  const Tokenizer tok = Tokenizer::from_file(o.tokenizer);
  if (o.jsonl.empty()) {
    std::cout << encoding_json(tok.encode(o.text, !o.no_special), o.offsets) << "\n";
    return;
  }
  require_regular_file(o.jsonl, "JSONL file");
  std::ifstream in(o.jsonl, std::ios::binary);
  if (!in) throw LoadError(o.jsonl + ": cannot open");
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = o.jsonl + ":" + std::to_string(n);
    const auto j = lazarus::tokenizers::parse_json_bounded(line, where, 8);
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw LoadError(where + ": expected {\"text\": string, \"add_special_tokens\": bool?}");
    }
    bool add_special = !o.no_special;
    if (j.contains("add_special_tokens")) {
      if (!j["add_special_tokens"].is_boolean()) {
        throw LoadError(where + ": add_special_tokens: expected true/false");
      }
      add_special = j["add_special_tokens"].get<bool>();
    }
    std::cout << encoding_json(tok.encode(j["text"].get<std::string>(), add_special), o.offsets)
              << "\n";
  }
}

std::vector<std::uint32_t> parse_ids(const std::vector<std::string>& args) {
  std::vector<std::uint32_t> ids;
  for (const auto& arg : args) {
    // Accept "1 2 3", "1,2,3" and "[1, 2, 3]".
    std::size_t i = 0;
    while (i < arg.size()) {
      while (i < arg.size() && (arg[i] == ',' || arg[i] == ' ' || arg[i] == '[' || arg[i] == ']'))
        ++i;
      if (i >= arg.size()) break;
      std::uint32_t v = 0;
      const auto [p, ec] = std::from_chars(arg.data() + i, arg.data() + arg.size(), v);
      const std::size_t end = static_cast<std::size_t>(p - arg.data());
      if (ec != std::errc() ||
          (end < arg.size() && arg[end] != ',' && arg[end] != ' ' && arg[end] != ']')) {
        throw Error("[detokenize] '" + arg + "' is not a list of token ids");
      }
      ids.push_back(v);
      i = end;
    }
  }
  return ids;
}

void run_detokenize(const DetokenizeOptions& o) {
  const Tokenizer tok = Tokenizer::from_file(o.tokenizer);
  const auto ids = parse_ids(o.ids);
  if (o.stream) {
    auto stream = tok.decode_stream(o.skip_special);
    for (auto id : ids) {
      std::cout << stream.step(id) << std::flush;
    }
    std::cout << stream.finish() << "\n";
    return;
  }
  std::cout << tok.decode(ids, o.skip_special, o.clean_up) << "\n";
}

}  // namespace

void register_tokenize_commands(CLI::App& app) {
  auto topts = std::make_shared<TokenizeOptions>();
  auto* t = app.add_subcommand(
      "tokenize",
      "Encode text with a Hugging Face tokenizer.json and print {\"ids\":[...],\"tokens\":[...]}.\n"
      "Examples:\n"
      "  lazarus tokenize --tokenizer models/llama3 \"Hello world\"\n"
      "  lazarus tokenize --tokenizer tokenizer.json --no-special \"Hello world\"\n"
      "  lazarus tokenize --tokenizer models/llama3 --offsets \"caf\u00e9 au lait\"\n"
      "  lazarus tokenize --tokenizer models/qwen3 --jsonl inputs.jsonl");
  t->add_option("--tokenizer", topts->tokenizer,
                "Model folder containing tokenizer.json, or a tokenizer.json file")
      ->required();
  t->add_flag("--no-special", topts->no_special,
              "Do not add the post-processor's special tokens (e.g. BOS); special-token strings in "
              "the text are still matched");
  t->add_flag("--offsets", topts->offsets,
              "Also print \"offsets\": each token's [start, end) in the input text, counted in "
              "Unicode characters as Hugging Face tokenizers reports them ([0, 0] for special "
              "tokens the post-processor adds)");
  t->add_option("--jsonl", topts->jsonl,
                "Read one JSON object per line: {\"text\": ..., \"add_special_tokens\": bool?}; "
                "print one {\"ids\",\"tokens\"} object per line");
  t->add_option("text", topts->text, "Text to encode (UTF-8)");
  t->callback([topts, t] {
    if (topts->jsonl.empty() && t->count("text") == 0) {
      throw CLI::ValidationError("tokenize", "give TEXT or --jsonl FILE");
    }
    run_tokenize(*topts);
  });

  auto dopts = std::make_shared<DetokenizeOptions>();
  auto* d = app.add_subcommand(
      "detokenize",
      "Decode token ids back to text with a tokenizer.json; prints the text and a newline.\n"
      "Examples:\n"
      "  lazarus detokenize --tokenizer models/llama3 128000 9906 1917\n"
      "  lazarus detokenize --tokenizer models/llama3 --skip-special \"[128000, 9906, 1917]\"");
  d->add_option("--tokenizer", dopts->tokenizer,
                "Model folder containing tokenizer.json, or a tokenizer.json file")
      ->required();
  d->add_flag("--skip-special", dopts->skip_special, "Drop added tokens flagged special");
  d->add_flag(
      "--clean-up-spaces", dopts->clean_up,
      "Apply transformers' clean_up_tokenization_spaces (\" .\" -> \".\", \" n't\" -> ...)");
  d->add_flag("--stream", dopts->stream,
              "Decode incrementally, one id at a time, as streaming generation does");
  d->add_option("ids", dopts->ids, "Token ids (separated by spaces or commas, or a JSON list)")
      ->required();
  d->callback([dopts] { run_detokenize(*dopts); });
}

}  // namespace lazarus::cli
