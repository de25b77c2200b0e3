// Added tokens: strings from tokenizer.json's "added_tokens" that are cut out of the text whole,
// before (normalized=false) or after (normalized=true) normalization, with HF's lstrip / rstrip /
// single_word rules; `special` ones can be skipped when decoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

class Normalizer;

struct AddedToken {
  std::string content;
  std::uint32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

/// A piece of text between added tokens (`token` < 0) or an added token match (`token` = index).
struct Segment {
  std::size_t begin, end;
  int token;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  /// Reads the "added_tokens" array; `normalizer` (may be null) prepares the normalized patterns.
  AddedVocabulary(const Json& arr, const JsonPath& at, const Normalizer* normalizer);

  /// Splits `text` on the added tokens that match raw (normalized=false) or normalized text.
  std::vector<Segment> split(std::string_view text, bool normalized_set) const;
  const AddedToken& at(int index) const { return tokens_[static_cast<std::size_t>(index)]; }
  const AddedToken* by_id(std::uint32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  std::size_t size() const { return tokens_.size(); }
  bool has_normalized() const { return !norm_trie_.empty(); }

 private:
  // Byte trie for leftmost-longest matching.
  struct Node {
    std::vector<std::pair<unsigned char, int>> next;  // sorted by byte
    int token = -1;
  };
  static void insert(std::vector<Node>& trie, std::string_view pattern, int token);
  std::vector<AddedToken> tokens_;
  std::vector<Node> raw_trie_, norm_trie_;
  std::unordered_map<std::uint32_t, std::size_t> by_id_;
  std::unordered_map<std::string, std::size_t> by_content_;
};

}  // namespace lazarus::tokenizers
