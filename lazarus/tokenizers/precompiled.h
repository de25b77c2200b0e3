// SentencePiece's precompiled character map ("precompiled_charsmap"): a darts-clone double-array
// trie over UTF-8 byte strings whose leaves index a blob of NUL-terminated replacement strings.
// Used by HF's `Precompiled` normalizer (T5, ALBERT, models converted from SentencePiece) and by
// SentencePiece's own normalizer (nmt_nfkc and friends). The blob is untrusted input: every
// array access is bounds-checked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

class Normalizer;
struct AlignedText;

class Charsmap {
 public:
  /// Parses the blob: u32 (little endian) trie size in bytes, the trie, then the replacement
  /// strings. Throws LoadError("<where>: ...") when the sizes do not add up.
  Charsmap(std::string_view blob, const std::string& where);

  /// A replacement for a prefix of `s`: {replacement, prefix length}, length 0 when none matches.
  /// `longest` picks the longest matching prefix (SentencePiece); otherwise the shortest (HF).
  std::pair<std::string_view, std::size_t> match(std::string_view s, bool longest) const;

  /// HF's Precompiled normalizer: per extended grapheme cluster (shorter than 6 bytes) the whole
  /// cluster's replacement if any, else per character.
  void normalize_graphemes(std::string& s) const;
  /// The same, keeping alignments as HF's Precompiled does (normalizers/precompiled.rs replace()).
  void normalize_graphemes_aligned(AlignedText& t) const;

  bool empty() const { return units_.empty(); }

 private:
  // Calls emit(part, replacement, replaced) for consecutive parts of `s` (graphemes or characters).
  template <class Emit>
  void for_each_part(std::string_view s, Emit emit) const;
  std::vector<std::uint32_t> units_;
  std::string strings_;
};

/// Decodes standard base64 (with or without padding); nullopt-like failure throws via `at`.
std::string base64_decode(std::string_view in, const JsonPath& at);
std::string base64_encode(std::string_view in);

/// tokenizer.json {"type": "Precompiled", "precompiled_charsmap": base64}.
std::unique_ptr<Normalizer> make_precompiled(const Json& j, const JsonPath& at);

/// SentencePiece's normalizer exactly as the library runs it (Lazarus's own type
/// "SentencePieceNormalizer", written by the tokenizer.model converter): longest-prefix charsmap
/// replacement, remove_extra_whitespaces (leading, trailing, runs), add_dummy_prefix and
/// escape_whitespaces ("▁").
std::unique_ptr<Normalizer> make_sentencepiece_normalizer(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
