// GGUF vocabularies as tokenizer.json pipelines (see gguf_vocab.h). Semantics from llama.cpp's
// src/llama-vocab.cpp (llama_vocab::impl::load, llm_tokenizer_bpe, llm_tokenizer_spm) and
// convert_hf_to_gguf.py, read to learn; the pipelines are the ones Hugging Face's tokenizer.json
// files hold for those models, so encodings match HF tokenizers.
#include "lazarus/tokenizers/gguf_vocab.h"
#include "lazarus/tokenizers/gguf_vocab_detail.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/sentencepiece.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lazarus::tokenizers {

namespace {

using formats::GgufFile;
using formats::GgufValueType;
using namespace gguf_vocab_detail;

// How llama.cpp's llm_tokenizer_bpe splits text before BPE, for the families mapped here.
enum class Split { Default, Llama3, Qwen2, Gpt2, Smollm };

// One tokenizer.ggml.pre value with the flags llama.cpp sets for it.
struct PreTokenizer {
  std::string_view name;
  Split split;
  bool ignore_merges = false;  // a pre-token that is itself a token is not merged (Llama 3)
  bool add_bos = false;        // default of tokenizer.ggml.add_bos_token
  bool clean_spaces = true;    // transformers' clean_up_tokenization_spaces on decode
  bool nfc = false;            // NFC first: HF's Qwen2 tokenizer.json does it, llama.cpp does not
};

// clang-format off
constexpr PreTokenizer kPreTokenizers[] = {
    {.name = "default", .split = Split::Default},
    {.name = "llama3", .split = Split::Llama3, .ignore_merges = true, .add_bos = true},
    {.name = "llama-v3", .split = Split::Llama3, .ignore_merges = true, .add_bos = true},
    {.name = "llama-bpe", .split = Split::Llama3, .ignore_merges = true, .add_bos = true},
    {.name = "falcon3", .split = Split::Llama3, .ignore_merges = true, .add_bos = true},
    {.name = "falcon-h1", .split = Split::Llama3, .ignore_merges = true, .add_bos = true},
    {.name = "pixtral", .split = Split::Llama3, .ignore_merges = true, .add_bos = true},
    {.name = "dbrx", .split = Split::Llama3},
    {.name = "smaug-bpe", .split = Split::Llama3},
    {.name = "qwen2", .split = Split::Qwen2, .clean_spaces = false, .nfc = true},
    {.name = "deepseek-r1-qwen", .split = Split::Qwen2, .clean_spaces = false},
    {.name = "stablelm2", .split = Split::Qwen2},
    {.name = "gpt-2", .split = Split::Gpt2},
    {.name = "phi-2", .split = Split::Gpt2},
    {.name = "mpt", .split = Split::Gpt2},
    {.name = "olmo", .split = Split::Gpt2},
    {.name = "jais", .split = Split::Gpt2},
    {.name = "exaone4", .split = Split::Gpt2},
    {.name = "smollm", .split = Split::Smollm, .clean_spaces = false},
    {.name = "starcoder", .split = Split::Smollm},
    {.name = "refact", .split = Split::Smollm},
    {.name = "codeshell", .split = Split::Smollm},
    {.name = "command-r", .split = Split::Smollm, .clean_spaces = false},
};
// clang-format on

Json split_json(std::string_view regex) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

Json byte_level_json(bool use_regex) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", false},
          {"use_regex", use_regex}};
}

// The HF pre-tokenizer that splits as llama.cpp's regex list for `s` does (GPT-2's regex is the one
// ByteLevel's use_regex applies).
Json pre_tokenizer_json(Split s) {
  Json seq = Json::array();
  switch (s) {
    case Split::Default:
      for (auto r : kDefaultRegexes) seq.push_back(split_json(r));
      break;
    case Split::Llama3:
      seq.push_back(split_json(kLlama3Regex));
      break;
    case Split::Qwen2:
      seq.push_back(split_json(kQwen2Regex));
      break;
    case Split::Gpt2:
      return byte_level_json(true);
    case Split::Smollm:
      seq.push_back({{"type", "Digits"}, {"individual_digits", true}});
      seq.push_back(byte_level_json(true));
      return {{"type", "Sequence"}, {"pretokenizers", seq}};
  }
  seq.push_back(byte_level_json(false));
  return {{"type", "Sequence"}, {"pretokenizers", seq}};
}

std::string known_pre_names() {
  std::string out;
  for (const auto& p : kPreTokenizers) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

// The vocabulary and settings, read and checked as llama.cpp's loader reads them.
struct GgufVocab {
  GgufVocab() = default;
  GgufVocab(GgufVocab&&) = default;  // `ids` views the strings of `tokens`: moves keep them
  GgufVocab(const GgufVocab&) = delete;

  std::string file;
  bool spm = false;  // "llama"; else "gpt2"
  const PreTokenizer* pre = nullptr;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::unordered_map<std::string_view, std::uint32_t> ids;
  std::optional<std::uint32_t> bos, eos, unk, pad, eot, eom;
  bool add_bos = false, add_eos = false, add_space_prefix = true;

  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    throw LoadError(fmt::format("{}: key '{}': {}", file, key, what));
  }
  std::optional<std::uint32_t> find(std::string_view token) const {
    auto it = ids.find(token);
    return it == ids.end() ? std::nullopt : std::optional(it->second);
  }
  // tokenizer.ggml.<name>_token_id, or the default when absent (llama.cpp drops a default that
  // is out of range, as for a small vocabulary).
  std::optional<std::uint32_t> special_id(const GgufFile& f, const std::string& name,
                                          std::optional<std::uint32_t> def) const {
    const std::string key = "tokenizer.ggml." + name + "_token_id";
    const formats::GgufValue* v = f.find(key);
    if (!v) return def && *def < tokens.size() ? def : std::nullopt;
    const std::uint32_t id = v->as_u32();
    if (id >= tokens.size())
      fail(key, fmt::format("id {} out of range ({} tokens)", id, tokens.size()));
    return id;
  }
  bool flag(const GgufFile& f, const std::string& key, bool def) const {
    const formats::GgufValue* v = f.find(key);
    return v ? v->as_bool() : def;
  }
};

GgufVocab read_vocab(const GgufFile& f) {
  GgufVocab v;
  v.file = f.path();
  const std::string& model = f.get(kModel).as_string();
  if (model != "gpt2" && model != "llama")
    v.fail(kModel, fmt::format("tokenizer '{}' is not supported (supported: gpt2, llama)", model));
  v.spm = model == "llama";
  if (!v.spm) {
    const formats::GgufValue* pre = f.find(kPre);
    const std::string name = pre ? pre->as_string() : "default";
    for (const auto& p : kPreTokenizers)
      if (p.name == name) v.pre = &p;
    if (!v.pre) {
      v.fail(kPre, fmt::format("pre-tokenizer '{}' is not supported (supported: {})", name,
                               known_pre_names()));
    }
  }

  v.tokens = f.get(kTokens).as_string_array();
  const std::size_t n = v.tokens.size();
  if (n == 0 || n > kMaxTokenId)
    v.fail(kTokens, fmt::format("{} tokens (expected 1 to {})", n, kMaxTokenId));
  auto check_count = [&](const char* key, std::size_t count) {
    if (count != n) v.fail(key, fmt::format("{} entries for {} tokens", count, n));
  };
  v.scores.assign(n, 0.0f);
  if (const formats::GgufValue* s = f.find(kScores)) {
    if (s->array_type() == GgufValueType::I32) {  // llama.cpp takes integer scores too
      const auto ints = s->as_i32_array();
      check_count(kScores, ints.size());
      std::copy(ints.begin(), ints.end(), v.scores.begin());
    } else {
      v.scores = s->as_f32_array();
      check_count(kScores, v.scores.size());
    }
  }
  v.types.assign(n, TokenType::Normal);
  if (const formats::GgufValue* t = f.find(kTokenType)) {
    const auto types = t->as_i32_array();
    check_count(kTokenType, types.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > static_cast<int>(TokenType::Byte))
        v.fail(kTokenType, fmt::format("[{}] = {} is not a token type (0..6)", i, types[i]));
      v.types[i] = static_cast<TokenType>(types[i]);
    }
  }
  v.ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (v.tokens[i].empty()) v.tokens[i] = fmt::format("[EMPTY_{}]", i);  // as llama.cpp
    const auto [it, fresh] = v.ids.emplace(v.tokens[i], static_cast<std::uint32_t>(i));
    if (!fresh)
      v.fail(kTokens, fmt::format("token '{}' at ids {} and {}", v.tokens[i], it->second, i));
  }

  // llama.cpp's defaults: SentencePiece <unk> 0, <s> 1, </s> 2; GPT-2 BPE 11 for both bos and eos.
  v.bos = v.special_id(f, "bos", v.spm ? 1u : 11u);
  v.eos = v.special_id(f, "eos", v.spm ? 2u : 11u);
  v.unk = v.special_id(f, "unknown", v.spm ? std::optional(0u) : std::nullopt);
  v.pad = v.special_id(f, "padding", std::nullopt);
  v.eot = v.special_id(f, "eot", std::nullopt);
  v.eom = v.special_id(f, "eom", std::nullopt);
  v.add_bos = v.flag(f, "tokenizer.ggml.add_bos_token", v.spm || v.pre->add_bos);
  v.add_eos = v.flag(f, "tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = v.flag(f, "tokenizer.ggml.add_space_prefix", true);
  if (v.add_bos && !v.bos)
    v.fail("tokenizer.ggml.add_bos_token", "true, but no bos_token_id is set");
  if (v.add_eos && !v.eos)
    v.fail("tokenizer.ggml.add_eos_token", "true, but no eos_token_id is set");
  return v;
}

// GPT-2 BPE merges, checked: two tokens split at the first space after the first byte (as
// llama.cpp splits them) whose concatenation is a token; a repeated merge keeps its first rank.
Json read_merges(const GgufFile& f, const GgufVocab& v) {
  const auto& merges = f.get(kMerges).as_string_array();
  Json out = Json::array();
  std::unordered_set<std::uint64_t> seen;
  seen.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const std::string_view m = merges[i];
    const std::size_t sp = m.find(' ', 1);
    if (sp == std::string::npos)
      v.fail(kMerges, fmt::format("[{}] '{}' is not two tokens separated by a space", i, m));
    const std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
    const std::string ab = std::string(a).append(b);
    const auto ia = v.find(a), ib = v.find(b), iab = v.find(ab);
    if (!ia || !ib || !iab) {
      v.fail(kMerges, fmt::format("[{}] '{}': '{}' is not a token", i, m,
                                  !ia   ? a
                                  : !ib ? b
                                        : std::string_view(ab)));
    }
    if (!seen.insert(std::uint64_t{*ia} << 32 | *ib).second) continue;
    if (m.find(' ') == sp && m.find(' ', sp + 1) == std::string::npos)
      out.push_back(m);  // "a b" as tokenizer.json writes it: one string, cheaper than a pair
    else
      out.push_back({a, b});
  }
  return out;
}

// The tokenizer.json of a GGUF vocabulary (see gguf_vocab.h).
Json tokenizer_json(const GgufFile& f, const GgufVocab& v) {
  Json vocab = Json::object(), added = Json::array();
  for (std::size_t i = 0; i < v.tokens.size(); ++i) {
    vocab[v.tokens[i]] = i;
    const TokenType t = v.types[i];
    if (t == TokenType::Control || t == TokenType::Unknown || t == TokenType::UserDefined) {
      added.push_back({{"id", i},
                       {"content", v.tokens[i]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", t != TokenType::UserDefined}});
    }
  }
  Json j = {{"version", "1.0"}, {"added_tokens", added}, {"post_processor", nullptr}};
  if (v.spm) {
    // HF's Llama tokenizer.json (legacy): "▁" in front of each text and for every space, no
    // pre-tokenizer (the whole text is one BPE word), byte fallback; the decoder undoes it.
    std::vector<SentencePieceModel::Piece> pieces(v.tokens.size());
    for (std::size_t i = 0; i < pieces.size(); ++i)
      pieces[i] = {v.tokens[i], v.scores[i], v.types[i]};
    const Json replace = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}};
    j["normalizer"] =
        v.add_space_prefix
            ? Json{{"type", "Sequence"},
                   {"normalizers", {{{"type", "Prepend"}, {"prepend", kSpace}}, replace}}}
            : replace;
    j["pre_tokenizer"] = nullptr;
    Json decoders = {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                     {{"type", "ByteFallback"}},
                     {{"type", "Fuse"}}};
    if (v.add_space_prefix)
      decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
    j["model"] = {{"type", "BPE"},
                  {"unk_token", v.unk ? Json(v.tokens[*v.unk]) : Json(nullptr)},
                  {"fuse_unk", true},
                  {"byte_fallback", true},
                  {"vocab", std::move(vocab)},
                  {"merges", sentencepiece_bpe_merges(pieces)}};
    return j;
  }
  j["normalizer"] = v.pre->nfc ? Json{{"type", "NFC"}} : Json(nullptr);
  j["pre_tokenizer"] = pre_tokenizer_json(v.pre->split);
  j["decoder"] = byte_level_json(true);
  j["model"] = {{"type", "BPE"},
                {"unk_token", nullptr},
                {"byte_fallback", false},
                {"ignore_merges", v.pre->ignore_merges},
                {"vocab", std::move(vocab)},
                {"merges", read_merges(f, v)}};
  return j;
}

// What tokenizer_config.json would say: special tokens, flags and chat templates.
Json tokenizer_config_json(const GgufFile& f, const GgufVocab& v) {
  Json c = {{"add_bos_token", v.add_bos},
            {"add_eos_token", v.add_eos},
            {"clean_up_tokenization_spaces", v.spm ? false : v.pre->clean_spaces}};
  const std::pair<const char*, std::optional<std::uint32_t>> named[] = {
      {"bos_token", v.bos}, {"eos_token", v.eos}, {"unk_token", v.unk}, {"pad_token", v.pad}};
  for (const auto& [key, id] : named)
    if (id) c[key] = v.tokens[*id];
  Json templates = Json::array();
  for (const auto& [key, value] : f.metadata()) {
    if (key == kChatTemplate) {
      templates.push_back({{"name", "default"}, {"template", value.as_string()}});
    } else if (key.rfind(std::string(kChatTemplate) + ".", 0) == 0) {
      templates.push_back({{"name", key.substr(std::string_view(kChatTemplate).size() + 1)},
                           {"template", value.as_string()}});
    }
  }
  if (!templates.empty()) c["chat_template"] = std::move(templates);
  return c;
}

TokenizerConfig tokenizer_config(const GgufFile& f, const GgufVocab& v, const std::string& name) {
  return TokenizerConfig::from_json(tokenizer_config_json(f, v), name);
}

}  // namespace

Tokenizer tokenizer_from_gguf(const GgufFile& f) {
  const GgufVocab v = read_vocab(f);
  const std::string name = f.path() + " (tokenizer.ggml.*)";
  return Tokenizer::from_json(tokenizer_json(f, v), tokenizer_config(f, v, name), name);
}

HfTokenizerFiles hf_tokenizer_from_gguf(const GgufFile& f) {
  const GgufVocab v = read_vocab(f);
  HfTokenizerFiles out{tokenizer_json(f, v), tokenizer_config_json(f, v)};
  // The BOS / EOS the GGUF adds, as HF's own tokenizer.json files say it (a TemplateProcessing
  // post-processor), so readers that do not apply tokenizer_config.json's flags add them too.
  const bool bos = v.add_bos && v.bos, eos = v.add_eos && v.eos;
  if (bos || eos) {
    auto special = [&](std::uint32_t id, int type_id) {
      return Json{{"SpecialToken", {{"id", v.tokens[id]}, {"type_id", type_id}}}};
    };
    auto seq = [](const char* id, int type_id) {
      return Json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
    };
    Json single = Json::array(), pair = Json::array(), specials = Json::object();
    for (int part = 0; part < 2; ++part) {
      if (bos) pair.push_back(special(*v.bos, part));
      pair.push_back(seq(part == 0 ? "A" : "B", part));
      if (eos) pair.push_back(special(*v.eos, part));
    }
    if (bos) single.push_back(special(*v.bos, 0));
    single.push_back(seq("A", 0));
    if (eos) single.push_back(special(*v.eos, 0));
    for (auto id : {bos ? v.bos : std::nullopt, eos ? v.eos : std::nullopt}) {
      if (id) specials[v.tokens[*id]] = {{"id", v.tokens[*id]}, {"ids", {*id}}, {"tokens", {v.tokens[*id]}}};
    }
    out.tokenizer["post_processor"] = {
        {"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
  }
  return out;
}

std::vector<std::uint32_t> gguf_eog_token_ids(const GgufFile& f) {
  const GgufVocab v = read_vocab(f);
  std::set<std::uint32_t> eog;
  auto insert = [&](std::optional<std::uint32_t> id) {
    if (id) eog.insert(*id);
  };
  // One FIM pad / repo / file-separator token each: the metadata's, else the first text llama.cpp
  // looks for.
  const std::pair<const char*, std::vector<std::string>> fim[] = {
      {"fim_pad", {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
      {"fim_rep", {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
      {"fim_sep", {"<|file_sep|>"}}};
  for (const auto& [name, texts] : fim) {
    auto id = v.special_id(f, name, std::nullopt);
    for (const auto& t : texts) id = id ? id : v.find(t);
    insert(id);
  }
  for (const char* t : {"<|eot_id|>",
                        "<|im_end|>",
                        "<|end|>",
                        "<|return|>",
                        "<|call|>",
                        "<|flush|>",
                        "<|calls|>",
                        "<end_of_turn>",
                        "<|endoftext|>",
                        "</s>",
                        "<|eom_id|>",
                        "<EOT>",
                        "_<EOT>",
                        "[EOT]",
                        "[EOS]",
                        "<|end_of_text|>",
                        "<end_of_utterance>",
                        "<eos>",
                        "<turn|>",
                        "<|tool_response>",
                        "<｜end▁of▁sentence｜>",
                        "[e~["})
    insert(v.find(t));
  for (auto id : {v.eos, v.eot, v.eom}) insert(id);
  // llama.cpp's exceptions: gpt-oss's and solar-open's <|end|>, gemma4's and paddleocr's </s>.
  auto in_eog = [&](const char* t) {
    auto id = v.find(t);
    return id && eog.count(*id) ? id : std::nullopt;
  };
  const bool call = in_eog("<|call|>") || in_eog("<|calls|>");
  if (call && (in_eog("<|return|>") || in_eog("<|flush|>")))
    if (auto end = in_eog("<|end|>")) eog.erase(*end);
  if (in_eog("<|tool_response>"))
    if (auto s = in_eog("</s>")) eog.erase(*s);
  return {eog.begin(), eog.end()};
}

std::vector<std::string> gguf_pre_tokenizer_names() {
  std::vector<std::string> out;
  for (const auto& p : kPreTokenizers) out.emplace_back(p.name);
  return out;
}

}  // namespace lazarus::tokenizers
