// Normalizers: the first pipeline stage, rewriting text before it is split (Unicode forms,
// Replace, Prepend, Lowercase, Strip, BertNormalizer, Sequence), as in HF tokenizers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

/// The original byte range [b, e) one byte of a normalized text came from (absolute offsets in
/// the input), as HF NormalizedString's alignments.
struct Span {
  std::uint32_t b = 0, e = 0;
};

/// A normalized text and, for each of its bytes, the original range it came from. While `align`
/// is empty (and the text is not) the text is still the input's bytes from `origin` on, unchanged
/// (each byte aligned with its own character); materialize() spells that out.
struct AlignedText {
  std::string text;
  std::vector<Span> align;  // text.size() entries, or none while the text is unchanged
  std::size_t origin = 0;
  /// `s` unchanged: each byte aligned to its own character's bytes, shifted by `origin`.
  static AlignedText identity(std::string_view s, std::size_t origin);
  bool is_identity() const { return align.size() != text.size(); }
  void materialize() {
    if (is_identity()) align = identity(text, origin).align;
  }
};

/// HF NormalizedString::transform: rebuilds `src` from (char, change) pairs in order. change 0
/// replaces the next source character (taking its alignment), change > 0 inserts a character
/// (aligned with the byte before the current source position), change -n replaces the next
/// character and removes n more. `removed_chars` source characters are dropped first. `src` must
/// be materialized.
class AlignedBuilder {
 public:
  explicit AlignedBuilder(const AlignedText& src, std::size_t removed_chars = 0);
  void push(char32_t c, int change);
  AlignedText finish() { return std::move(out_); }

 private:
  std::size_t skip_char(std::size_t at) const;
  const AlignedText& src_;
  std::size_t offset_ = 0;  // byte position in src_.text
  AlignedText out_;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  /// Rewrites `s` (valid UTF-8) in place.
  virtual void normalize(std::string& s) const = 0;
  /// The same rewrite, keeping each byte's original range as HF does (for token offsets).
  /// The default keeps unchanged text as is and aligns every byte of a changed text with the
  /// whole input.
  virtual void normalize_aligned(AlignedText& t) const;
};

/// Builds a normalizer from its tokenizer.json object; throws LoadError for unknown types/fields.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
