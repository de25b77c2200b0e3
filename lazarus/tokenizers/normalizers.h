// Normalizers: the first pipeline stage, rewriting text before it is split (Unicode forms,
// Replace, Prepend, Lowercase, Strip, BertNormalizer, Sequence), as in HF tokenizers.
#pragma once

#include <memory>
#include <string>

#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  /// Rewrites `s` (valid UTF-8) in place.
  virtual void normalize(std::string& s) const = 0;
};

/// Builds a normalizer from its tokenizer.json object; throws LoadError for unknown types/fields.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
