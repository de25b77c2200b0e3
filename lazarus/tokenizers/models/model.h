// The model stage: turns one pre-tokenized piece into token ids (BPE, WordPiece, Unigram), and
// the vocabulary type the models share.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

/// Largest token id a tokenizer.json may use (guards allocations sized by ids).
inline constexpr std::uint32_t kMaxTokenId = 1u << 24;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// token -> id with lookups by string_view.
using VocabMap = std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>>;

/// A bidirectional vocabulary: token -> id and id -> token (ids may have holes).
class Vocab {
 public:
  void add(std::string token, std::uint32_t id);
  std::optional<std::uint32_t> find(std::string_view token) const;
  const std::string* token(std::uint32_t id) const;
  std::size_t size() const { return map_.size(); }
  const VocabMap& map() const { return map_; }

 private:
  VocabMap map_;
  std::vector<const std::string*> by_id_;
};

/// A token's byte range [first, second) within the word it came from.
using WordRange = std::pair<std::uint32_t, std::uint32_t>;

class Model {
 public:
  virtual ~Model() = default;
  /// Appends the ids of `word` to `ids` and, when `tokens` is given, their strings to `tokens`;
  /// when `ranges` is given, the byte range of `word` each token covers (as HF's Token offsets).
  virtual void tokenize(std::string_view word, std::vector<std::uint32_t>& ids,
                        std::vector<std::string>* tokens,
                        std::vector<WordRange>* ranges = nullptr) const = 0;
  virtual std::optional<std::uint32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(std::uint32_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
};

/// Builds the model from tokenizer.json's "model" object; throws LoadError naming the field.
std::unique_ptr<Model> make_model(const Json& j, const JsonPath& at);

std::unique_ptr<Model> make_bpe(const Json& j, const JsonPath& at);
std::unique_ptr<Model> make_wordpiece(const Json& j, const JsonPath& at);
std::unique_ptr<Model> make_unigram(const Json& j, const JsonPath& at);
std::unique_ptr<Model> make_wordlevel(const Json& j, const JsonPath& at);

/// Reads a {token: id} object into a Vocab, checking ids.
Vocab read_vocab_object(const Json& obj, const JsonPath& at);

}  // namespace lazarus::tokenizers
