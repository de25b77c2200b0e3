// WordPiece (greedy longest-match-first, BERT) and WordLevel (whole-word lookup) models, as HF
// tokenizers' models/wordpiece and models/wordlevel.
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

class WordPiece final : public Model {
 public:
  Vocab vocab;
  std::string unk_token;
  std::uint32_t unk_id = 0;
  std::string prefix = "##";
  std::size_t max_chars = 100;

  void tokenize(std::string_view word, std::vector<std::uint32_t>& ids,
                std::vector<std::string>* tokens, std::vector<WordRange>* ranges) const override {
    const auto whole = WordRange(0, static_cast<std::uint32_t>(word.size()));
    std::size_t n_chars = 0;
    for (std::size_t i = 0; i < word.size();
         i += unicode::char_len(static_cast<unsigned char>(word[i])))
      ++n_chars;
    if (n_chars > max_chars) {
      ids.push_back(unk_id);
      if (tokens) tokens->push_back(unk_token);
      if (ranges) ranges->push_back(whole);
      return;
    }
    std::vector<std::pair<std::uint32_t, std::string>> found;
    std::vector<WordRange> spans;
    std::string cand;
    std::size_t start = 0;
    while (start < word.size()) {
      std::size_t end = word.size();
      std::optional<std::uint32_t> hit;
      while (end > start) {
        cand.assign(start > 0 ? prefix : std::string());
        cand.append(word.substr(start, end - start));
        hit = vocab.find(cand);
        if (hit) break;
        // step back one character
        --end;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
      }
      if (!hit) {
        ids.push_back(unk_id);
        if (tokens) tokens->push_back(unk_token);
        if (ranges) ranges->push_back(whole);
        return;
      }
      found.emplace_back(*hit, cand);
      spans.emplace_back(static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(end));
      start = end;
    }
    for (auto& [id, s] : found) {
      ids.push_back(id);
      if (tokens) tokens->push_back(std::move(s));
    }
    if (ranges) ranges->insert(ranges->end(), spans.begin(), spans.end());
  }
  std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
    return vocab.find(t);
  }
  const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
  std::size_t vocab_size() const override { return vocab.size(); }
};

class WordLevel final : public Model {
 public:
  Vocab vocab;
  std::string unk_token;
  std::optional<std::uint32_t> unk_id;

  void tokenize(std::string_view word, std::vector<std::uint32_t>& ids,
                std::vector<std::string>* tokens, std::vector<WordRange>* ranges) const override {
    if (ranges) ranges->emplace_back(0, static_cast<std::uint32_t>(word.size()));
    if (auto id = vocab.find(word)) {
      ids.push_back(*id);
      if (tokens) tokens->emplace_back(word);
    } else if (unk_id) {
      ids.push_back(*unk_id);
      if (tokens) tokens->push_back(unk_token);
    } else {
      throw Error("[WordLevel] token '" + std::string(word) + "' not in vocab and no unk_token");
    }
  }
  std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
    return vocab.find(t);
  }
  const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
  std::size_t vocab_size() const override { return vocab.size(); }
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const Json& j, const JsonPath& at) {
  auto m = std::make_unique<WordPiece>();
  m->vocab = read_vocab_object(require(j, "vocab", at), at / "vocab");
  m->unk_token = get_opt_string(j, "unk_token", at).value_or("[UNK]");
  m->prefix = get_opt_string(j, "continuing_subword_prefix", at).value_or("##");
  const auto max_chars = get_int(j, "max_input_chars_per_word", at, 100);
  if (max_chars < 0)
    (at / "max_input_chars_per_word").fail("must be >= 0, got " + std::to_string(max_chars));
  m->max_chars = static_cast<std::size_t>(max_chars);
  const auto unk = m->vocab.find(m->unk_token);
  if (!unk) (at / "unk_token").fail("token '" + m->unk_token + "' not in vocab");
  m->unk_id = *unk;
  return m;
}

std::unique_ptr<Model> make_wordlevel(const Json& j, const JsonPath& at) {
  auto m = std::make_unique<WordLevel>();
  m->vocab = read_vocab_object(require(j, "vocab", at), at / "vocab");
  if (auto unk = get_opt_string(j, "unk_token", at)) {
    m->unk_token = *unk;
    m->unk_id = m->vocab.find(*unk);
    if (!m->unk_id) (at / "unk_token").fail("token '" + *unk + "' not in vocab");
  }
  return m;
}

}  // namespace lazarus::tokenizers
