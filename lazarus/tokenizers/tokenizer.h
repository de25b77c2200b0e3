// A Hugging Face `tokenizer.json` tokenizer: normalizer -> added-token split -> pre-tokenizer ->
// model -> post-processor for encoding, and decoder for decoding, matching HF tokenizers token for
// token. Immutable after loading and safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/encoding.h"

namespace lazarus::tokenizers {

/// Input text that cannot be encoded (not valid UTF-8).
class EncodeError : public Error {
 public:
  using Error::Error;
};

class DecodeStream;
struct TokenizerConfig;

/// A special token named by tokenizer_config.json (bos/eos/pad/unk) and its id.
struct NamedToken {
  std::string token;
  std::uint32_t id = 0;
};

class Tokenizer {
 public:
  /// Loads `path`: a tokenizer.json file, or a model folder. A folder is loaded as transformers'
  /// AutoTokenizer does: its tokenizer.json (or, without one, a SentencePiece tokenizer.model,
  /// converted as transformers' convert_slow_tokenizer does), then its tokenizer_config.json when
  /// present (special tokens, add_bos_token / add_eos_token, model_max_length; see
  /// apply_tokenizer_config). Throws LoadError naming the file, the field and the value for
  /// anything missing, malformed or unsupported.
  static Tokenizer from_file(const std::string& path);
  /// Loads a tokenizer.json and applies a tokenizer_config.json to it (see from_file).
  static Tokenizer from_files(const std::string& tokenizer_json, const std::string& config_json);
  /// Loads from JSON text; `name` is used in error messages.
  static Tokenizer from_json(std::string_view json, const std::string& name = "tokenizer.json");
  /// Builds from a parsed tokenizer.json and applies `config` to it as from_files does (kept as
  /// config()); for pipelines made in memory (tokenizer_from_gguf). `name` is used in errors.
  static Tokenizer from_json(nlohmann::json root, const TokenizerConfig& config,
                             const std::string& name);

  /// Encodes `text` (UTF-8; throws EncodeError otherwise). With `add_special_tokens` the
  /// post-processor adds its tokens (e.g. BOS). Truncation and padding apply when set (from
  /// tokenizer.json's "truncation" / "padding" or set_truncation / set_padding), as in HF.
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  /// Encodes a pair of sequences (type ids 0 and 1) through the post-processor's pair template.
  Encoding encode_pair(std::string_view text, std::string_view pair,
                       bool add_special_tokens = true) const;
  /// Like encode() but only the ids (skips building token strings).
  std::vector<std::uint32_t> encode_ids(std::string_view text,
                                        bool add_special_tokens = true) const;
  /// Encodes many texts on up to `n_threads` threads (0: hardware concurrency); same results as
  /// calling encode() on each.
  /// With padding set, every encoding is padded to the longest (or the fixed length).
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                     bool add_special_tokens = true, unsigned n_threads = 0) const;
  /// Pairs of sequences, as encode_pair, batched and padded like encode_batch.
  std::vector<Encoding> encode_batch_pairs(
      const std::vector<std::pair<std::string, std::string>>& pairs, bool add_special_tokens = true,
      unsigned n_threads = 0) const;

  /// Truncation / padding for this handle (copies of a Tokenizer share the loaded pipeline but
  /// not these settings). nullopt disables. Throws ConfigError for invalid values.
  void set_truncation(std::optional<TruncationParams> params);
  void set_padding(std::optional<PaddingParams> params);
  const std::optional<TruncationParams>& truncation() const { return truncation_; }
  const std::optional<PaddingParams>& padding() const { return padding_; }

  /// Decodes ids to text. Unknown ids are skipped (as HF does). `skip_special_tokens` drops added
  /// tokens flagged special; `clean_up_tokenization_spaces` applies transformers' clean-up.
  std::string decode(std::span<const std::uint32_t> ids, bool skip_special_tokens = false,
                     bool clean_up_tokenization_spaces = false) const;
  /// An incremental decoder for streaming generation (see DecodeStream).
  DecodeStream decode_stream(bool skip_special_tokens = false) const;

  std::optional<std::uint32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(std::uint32_t id) const;
  /// True when `id` is an added token flagged special.
  bool is_special(std::uint32_t id) const;
  /// Model vocabulary size, plus added tokens not in it when `with_added`.
  std::size_t vocab_size(bool with_added = true) const;

  /// The tokenizer_config.json applied when loading (null when there was none).
  const TokenizerConfig* config() const;
  /// Special tokens named by tokenizer_config.json (nullopt without a config or when unset).
  std::optional<NamedToken> bos_token() const;
  std::optional<NamedToken> eos_token() const;
  std::optional<NamedToken> pad_token() const;
  std::optional<NamedToken> unk_token() const;
  /// tokenizer_config.json's model_max_length (INT64_MAX for HF's "no limit" 1e30).
  std::optional<std::int64_t> model_max_length() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  Encoding encode_impl(std::string_view text, const std::string_view* pair,
                       bool add_special_tokens) const;
  template <class Input>
  std::vector<Encoding> batch(const std::vector<Input>& inputs, bool add_special_tokens,
                              unsigned n_threads) const;
  std::shared_ptr<const Impl> impl_;
  std::optional<TruncationParams> truncation_;
  std::optional<PaddingParams> padding_;
  friend class DecodeStream;
};

/// Streaming detokenizer: feed ids one at a time; each step returns the new text that is complete
/// (never half a UTF-8 character, never text a later token would change), and finish() returns the
/// rest, so that the concatenation equals Tokenizer::decode of all ids.
class DecodeStream {
 public:
  /// Adds one id; returns newly completed text (possibly empty).
  std::string step(std::uint32_t id);
  /// Returns whatever is still held back (e.g. an incomplete byte sequence, decoded lossily).
  std::string finish();

 private:
  friend class Tokenizer;
  DecodeStream(std::shared_ptr<const Tokenizer::Impl> impl, bool skip_special)
      : impl_(std::move(impl)), skip_special_(skip_special) {}
  std::string decode_window() const;
  bool is_byte_token(std::uint32_t id) const;
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_;
  std::vector<std::uint32_t> ids_;      // a context token or so, then the ids not yet fully emitted
  std::size_t prefix_ids_ = 0;          // how many of ids_ are context already emitted
  std::string prefix_;                  // decode of ids_[0, prefix_ids_)
  std::vector<std::uint32_t> all_ids_;  // everything fed, for the final check in finish()
  std::size_t emitted_bytes_ = 0;       // total bytes returned so far
};

}  // namespace lazarus::tokenizers
