// Post-processors: add the special tokens a model expects around an encoded sequence
// (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence), as HF tokenizers.
#pragma once

#include <memory>
#include <vector>

#include "lazarus/tokenizers/encoding.h"
#include "lazarus/tokenizers/json_util.h"

namespace lazarus::tokenizers {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  /// HF's process_encodings: `encs` holds sequence A (and B); on return it holds the pieces to
  /// concatenate (special tokens only when `add_special`). Throws EncodeError for a pair when
  /// the processor has no pair template.
  virtual void process_encodings(std::vector<Encoding>& encs, bool add_special) const = 0;
  /// How many special tokens it adds to one sequence or a pair (HF added_tokens).
  virtual std::size_t added_tokens(bool is_pair) const = 0;
};

/// Runs `pp` (may be null) on `encs` (A, optionally B) and merges the result as HF does.
Encoding post_process(const PostProcessor* pp, std::vector<Encoding> encs, bool add_special);

/// Builds a post-processor from tokenizer.json; throws LoadError for unknown types/fields.
std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const JsonPath& at);

}  // namespace lazarus::tokenizers
