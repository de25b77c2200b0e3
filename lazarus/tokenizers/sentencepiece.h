// SentencePiece `tokenizer.model` files (a serialized sentencepiece.ModelProto) read without
// libsentencepiece, and converted to the tokenizer.json pipeline the way transformers'
// convert_slow_tokenizer does (BPE with merges derived from the piece scores and byte fallback;
// Unigram with the piece scores), with a normalizer that follows SentencePiece's own exactly.
// The file is untrusted input: every length and index read from it is bounds-checked.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

struct SentencePieceModel {
  enum class PieceType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6
  };
  enum class ModelType { Unigram = 1, Bpe = 2, Word = 3, Char = 4 };
  struct Piece {
    std::string piece;
    float score = 0.0f;
    PieceType type = PieceType::Normal;
  };
  std::vector<Piece> pieces;
  ModelType model_type = ModelType::Unigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::string normalizer_name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;

  /// Parses a serialized ModelProto; throws LoadError("<name>: ...") naming the byte offset and
  /// field for truncated or malformed data.
  static SentencePieceModel parse(std::string_view data, const std::string& name);
};

/// How to convert: `Exact` normalizes with SentencePiece's own algorithm (Lazarus's
/// "SentencePieceNormalizer": longest-match charsmap, leading/trailing/repeated space removal),
/// so encodings match the library; `Transformers` writes only HF pipeline pieces (HF's
/// `Precompiled` normalizer, Replace " {2,}" -> " ", Metaspace), loadable by HF tokenizers,
/// as transformers' SpmConverter does.
enum class SpmFlavor { Exact, Transformers };

/// SentencePiece BPE as a tokenizer.json merge list ([left, right] pairs, first = applied first):
/// every split of a normal piece into two normal pieces, ranked by the piece's score (ties: lower
/// piece id first, then the shorter left part), so that HF's rank-ordered BPE merges the pair whose
/// concatenation scores highest, as SentencePiece (and llama.cpp's SPM tokenizer) do.
Json sentencepiece_bpe_merges(const std::vector<SentencePieceModel::Piece>& pieces);

/// The tokenizer.json (as JSON) equivalent of a SentencePiece model. Throws LoadError for model
/// types other than BPE and Unigram and for inconsistent vocabularies.
Json sentencepiece_to_tokenizer_json(const SentencePieceModel& m, const std::string& name,
                                     SpmFlavor flavor = SpmFlavor::Exact);
Json sentencepiece_to_tokenizer_json(std::string_view data, const std::string& name,
                                     SpmFlavor flavor = SpmFlavor::Exact);

}  // namespace lazarus::tokenizers
