// Decoders: turn token strings back into text (ByteLevel, Metaspace, ByteFallback, Fuse, Strip,
// Replace, WordPiece, BPEDecoder, Sequence), as HF tokenizers' decoders.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// Rewrites the token strings; the decoded text is their concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

/// Builds a decoder from tokenizer.json; throws LoadError for unknown types/fields.
std::unique_ptr<Decoder> make_decoder(const Json& j, const JsonPath& at);

/// transformers' `clean_up_tokenization`: removes the space before punctuation and contractions.
std::string clean_up_tokenization(std::string s);

}  // namespace lazarus::tokenizers
