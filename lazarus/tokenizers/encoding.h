// The result of encoding one text or a pair of texts, and the batch-shaping operations HF
// tokenizers applies to it: truncation (with stride and overflowing parts) and padding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace lazarus::tokenizers {

enum class Direction { Left, Right };

/// Longest padded / truncated length (and stride, pad_to_multiple_of) accepted from a file or a
/// setter: beyond what any model takes, and small enough that padding to it cannot exhaust memory.
inline constexpr std::size_t kMaxSequenceLength = std::size_t{1} << 24;

/// Most tokens one truncation may spread over its overflowing parts (a stride close to max_length
/// repeats tokens: about n * max_length / (max_length - stride) in all), and most tokens padding
/// may produce for one encode or one batch (every encoding and overflowing part padded to the
/// length); beyond it encode throws EncodeError instead of allocating.
inline constexpr std::size_t kMaxEncodedTokens = std::size_t{1} << 26;

/// Truncation as in tokenizer.json's "truncation" (HF TruncationParams).
struct TruncationParams {
  enum class Strategy { LongestFirst, OnlyFirst, OnlySecond };
  std::size_t max_length = 512;
  std::size_t stride = 0;  // tokens repeated between consecutive overflowing parts (< max_length)
  Strategy strategy = Strategy::LongestFirst;
  Direction direction = Direction::Right;
};

/// Padding as in tokenizer.json's "padding" (HF PaddingParams).
struct PaddingParams {
  std::optional<std::size_t> length;  // Fixed(length); nullopt: the longest in the batch
  Direction direction = Direction::Right;
  std::optional<std::size_t> pad_to_multiple_of;
  std::uint32_t pad_id = 0;
  std::uint32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

/// A token's [start, end) in the text it came from, in Unicode characters (code points), as HF
/// tokenizers' Python and Node bindings report them; (0, 0) for tokens the post-processor added
/// and for padding.
using Offset = std::pair<std::size_t, std::size_t>;

struct Encoding {
  std::vector<std::uint32_t> ids;
  std::vector<std::string> tokens;  // same length as ids
  /// Same length as ids. For a pair, each token's offsets are into its own sequence's text.
  /// Empty only for encodings built without them (from_tokens without offsets).
  std::vector<Offset> offsets;
  std::vector<std::uint8_t> special_tokens_mask;  // 1 where the post-processor added the token
  std::vector<std::uint32_t> type_ids;            // 0 for the first sequence, 1 for the second
  std::vector<std::uint8_t> attention_mask;       // 0 on padding
  /// The parts cut off by truncation, each shaped like this encoding (HF's `overflowing`).
  std::vector<Encoding> overflowing;

  std::size_t size() const { return ids.size(); }
  /// A raw encoding (type `type_id`, attention 1, no special tokens) of ids, token strings and
  /// offsets ((0, 0) for every token when `offsets` is empty).
  static Encoding from_tokens(std::vector<std::uint32_t> ids, std::vector<std::string> tokens,
                              std::uint32_t type_id, std::vector<Offset> offsets = {});
  /// Appends `other` (HF Encoding::merge_with: overflowing parts combine pairwise).
  void merge_with(const Encoding& other);
  /// HF Encoding::truncate: keeps `max_len` tokens, the rest becomes overflowing parts of
  /// `max_len` tokens overlapping by `stride`. Throws EncodeError when stride >= max_len > 0.
  void truncate(std::size_t max_len, std::size_t stride, Direction direction);
  /// HF Encoding::pad: pads this encoding and its overflowing parts to `length`.
  void pad(std::size_t length, const PaddingParams& p);
};

/// HF's truncate_encodings for one sequence or a pair (`pair` may be null).
void truncate_encodings(Encoding& a, Encoding* pair, const TruncationParams& p);
/// HF's pad_encodings: to the fixed length or the longest, rounded up to pad_to_multiple_of.
void pad_encodings(std::span<Encoding> encodings, const PaddingParams& p);

}  // namespace lazarus::tokenizers
