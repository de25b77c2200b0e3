// Pre-tokenizers: split normalized text into the pieces ("words") the model encodes one by one
// (ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer,
// CharDelimiterSplit, Sequence), as in HF tokenizers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/normalizers.h"

namespace lazarus::tokenizers {

/// One piece of text on its way to the model. `at_origin` is true when the piece begins at offset 0
/// of the original input (Metaspace's prepend_scheme "first" needs it).
///
/// When offsets are tracked (`tracked`), `align` holds each byte's original range, or is empty
/// while the text is still the input's bytes from `origin` on; `byte_mapped` says ByteLevel
/// replaced each of those bytes by one character (so `align` / `origin` describe the bytes before
/// mapping). The common pipeline (no normalizer, splits, ByteLevel) thus tracks offsets without
/// per-byte tables.
struct Piece {
  std::string text;
  bool at_origin = false;
  std::vector<Span> align;
  std::size_t origin = 0;
  bool tracked = false;
  bool byte_mapped = false;

  bool is_identity() const { return tracked && align.empty() && !byte_mapped; }
  /// Spells out `align` for every byte of `text` (no-op when not tracked).
  void materialize();
};

/// How a split pattern's matches are kept (HF SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// Splits `text` given (sorted, non-overlapping) pattern matches; returns non-empty byte ranges.
std::vector<std::pair<std::size_t, std::size_t>> split_by_matches(
    std::size_t text_size, const std::vector<std::pair<std::size_t, std::size_t>>& matches,
    SplitBehavior behavior, bool invert);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Replaces `pieces` by their sub-pieces (empty pieces are dropped).
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

/// Builds a pre-tokenizer from its tokenizer.json object; throws LoadError for unknown
/// types/fields.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
