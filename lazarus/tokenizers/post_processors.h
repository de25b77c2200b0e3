// Post-processors: add the special tokens a model expects around an encoded sequence
// (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence), as HF tokenizers.
#pragma once

#include <memory>

#include "lazarus/tokenizers/encoding.h"
#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  /// Adds special tokens to a single-sequence encoding (only called with add_special_tokens).
  virtual void process(Encoding& enc) const = 0;
};

/// Builds a post-processor from tokenizer.json; throws LoadError for unknown types/fields.
std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
