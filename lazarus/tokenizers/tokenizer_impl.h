// Internal: the parts of a loaded Tokenizer, shared by tokenizer.cpp and decode_stream.cpp.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lazarus/tokenizers/added_vocabulary.h"
#include "lazarus/tokenizers/decoders.h"
#include "lazarus/tokenizers/models/model.h"
#include "lazarus/tokenizers/normalizers.h"
#include "lazarus/tokenizers/post_processors.h"
#include "lazarus/tokenizers/pre_tokenizers.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lazarus::tokenizers {

struct Tokenizer::Impl {
  std::string file;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  // The decoder has a ByteFallback step: a run of <0xXX> tokens is decoded as a whole (one U+FFFD
  // per byte if the run is not valid UTF-8), so a run is final only once a non-byte token follows.
  bool decoder_byte_fallback = false;
  // tokenizer_config.json, when one was applied, and the special tokens it names.
  std::shared_ptr<const TokenizerConfig> config;
  std::optional<NamedToken> bos, eos, pad, unk;

  /// Builds the pipeline from a parsed tokenizer.json (`file` names it in errors).
  static std::shared_ptr<Impl> build(const Json& root, const std::string& file);
  /// Applies tokenizer_config.json as transformers does (see apply_tokenizer_config).
  void apply_config(Json& root, const TokenizerConfig& cfg);

  // tokenizer.json's "truncation" / "padding" sections (defaults for new handles).
  std::optional<TruncationParams> truncation;
  std::optional<PaddingParams> padding;

  /// Appends the ids (and token strings when `tokens` is given, and their offsets in characters of
  /// `text` when `offsets` is given) of `text`, before post-processing.
  void encode(std::string_view text, std::vector<std::uint32_t>& ids,
              std::vector<std::string>* tokens, std::vector<Offset>* offsets = nullptr) const;
  std::string decode(std::span<const std::uint32_t> ids, bool skip_special) const;
};

}  // namespace lazarus::tokenizers
