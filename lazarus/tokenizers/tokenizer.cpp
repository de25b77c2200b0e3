// Loading tokenizer.json and running the encode / decode pipelines (see tokenizer.h).
#include "lazarus/tokenizers/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/tokenizer_impl.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

Direction read_direction(const Json& j, const JsonPath& at) {
  const std::string d = get_opt_string(j, "direction", at).value_or("Right");
  if (d == "Right" || d == "right") return Direction::Right;
  if (d == "Left" || d == "left") return Direction::Left;
  (at / "direction").fail("expected \"Left\" or \"Right\", got '" + d + "'");
}

// A length, stride or id read from the file; `limit` is exclusive.
std::size_t read_size(const Json& j, std::string_view key, const JsonPath& at, std::int64_t def,
                      std::uint64_t limit = kMaxSequenceLength + 1) {
  if (const Json* v = optional_field(j, key); v && v->is_number_unsigned() &&
                                               v->get<std::uint64_t>() >= limit) {
    // get_int would wrap values past INT64_MAX.
    (at / key).fail("out of range: " + std::to_string(v->get<std::uint64_t>()) + " (at most " +
                    std::to_string(limit - 1) + ")");
  }
  const std::int64_t v = get_int(j, key, at, def);
  if (v < 0 || static_cast<std::uint64_t>(v) >= limit)
    (at / key).fail("out of range: " + std::to_string(v) + " (at most " +
                    std::to_string(limit - 1) + ")");
  return static_cast<std::size_t>(v);
}

TruncationParams read_truncation(const Json& j, const JsonPath& at) {
  TruncationParams t;
  t.max_length = read_size(j, "max_length", at, 512);
  t.stride = read_size(j, "stride", at, 0);
  if (t.max_length > 0 && t.stride >= t.max_length)
    (at / "stride").fail("must be smaller than max_length (" + std::to_string(t.max_length) + ")");
  const std::string s = get_opt_string(j, "strategy", at).value_or("LongestFirst");
  if (s == "LongestFirst")
    t.strategy = TruncationParams::Strategy::LongestFirst;
  else if (s == "OnlyFirst")
    t.strategy = TruncationParams::Strategy::OnlyFirst;
  else if (s == "OnlySecond")
    t.strategy = TruncationParams::Strategy::OnlySecond;
  else
    (at / "strategy").fail("expected LongestFirst, OnlyFirst or OnlySecond, got '" + s + "'");
  t.direction = read_direction(j, at);
  return t;
}

PaddingParams read_padding(const Json& j, const JsonPath& at) {
  PaddingParams p;
  if (const Json* s = optional_field(j, "strategy")) {
    if (s->is_object() && s->contains("Fixed")) {
      p.length = read_size(*s, "Fixed", at / "strategy", 0);
    } else if (!(s->is_string() && *s == "BatchLongest")) {
      (at / "strategy")
          .fail("expected \"BatchLongest\" or {\"Fixed\": N}, got " + json_preview(*s));
    }
  }
  p.direction = read_direction(j, at);
  if (optional_field(j, "pad_to_multiple_of"))
    p.pad_to_multiple_of = read_size(j, "pad_to_multiple_of", at, 0);
  p.pad_id = static_cast<std::uint32_t>(read_size(j, "pad_id", at, 0, kMaxTokenId));
  p.pad_type_id = static_cast<std::uint32_t>(read_size(j, "pad_type_id", at, 0, kMaxTokenId));
  p.pad_token = get_opt_string(j, "pad_token", at).value_or("[PAD]");
  return p;
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view text, const std::string& name) {
  return Tokenizer(Impl::build(parse_json_bounded(text, name), name));
}

std::shared_ptr<Tokenizer::Impl> Tokenizer::Impl::build(const Json& root, const std::string& name) {
  auto impl = std::make_shared<Impl>();
  impl->file = name;
  const JsonPath at{&impl->file, ""};
  if (!root.is_object()) at.fail("expected a JSON object, got " + json_preview(root));
  if (const Json* t = optional_field(root, "truncation"))
    impl->truncation = read_truncation(*t, at / "truncation");
  if (const Json* p = optional_field(root, "padding"))
    impl->padding = read_padding(*p, at / "padding");
  if (const Json* n = optional_field(root, "normalizer")) {
    impl->normalizer = make_normalizer(*n, at / "normalizer");
  }
  if (const Json* p = optional_field(root, "pre_tokenizer")) {
    impl->pre_tokenizer = make_pre_tokenizer(*p, at / "pre_tokenizer");
  }
  impl->model = make_model(require(root, "model", at), at / "model");
  if (const Json* p = optional_field(root, "post_processor")) {
    impl->post_processor = make_post_processor(*p, at / "post_processor");
  }
  if (const Json* d = optional_field(root, "decoder")) {
    impl->decoder = make_decoder(*d, at / "decoder");
    impl->decoder_byte_fallback = d->dump().find("\"ByteFallback\"") != std::string::npos;
  }
  if (const Json* a = optional_field(root, "added_tokens")) {
    impl->added = AddedVocabulary(*a, at / "added_tokens", impl->normalizer.get());
  }
  if (impl->padding) {
    // Padding with an id the vocabulary lacks would feed an out-of-range row to the embedding.
    const std::uint32_t id = impl->padding->pad_id;
    if (!impl->added.by_id(id) && !impl->model->id_to_token(id))
      (at / "padding" / "pad_id")
          .fail("token id " + std::to_string(id) + " is not in the vocabulary (" +
                std::to_string(impl->model->vocab_size()) + " model tokens, " +
                std::to_string(impl->added.size()) + " added tokens)");
  }
  return impl;
}

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Counts the character starts in [0, x) of a text, moving a cursor from the previous query (the
// queries come in nearly increasing order).
class CharCounter {
 public:
  explicit CharCounter(std::string_view s) : s_(s) {}
  std::size_t operator()(std::size_t x) {
    x = std::min(x, s_.size());
    for (; pos_ < x; ++pos_) count_ += !is_continuation(static_cast<unsigned char>(s_[pos_]));
    for (; pos_ > x; --pos_) count_ -= !is_continuation(static_cast<unsigned char>(s_[pos_ - 1]));
    return count_;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0, count_ = 0;
};

// HF's BytesToCharOffsetConverter: byte offsets of `text` to character offsets (a byte maps to
// the character containing it; an end at the text's end maps past the last character; a start
// past the end is left as is).
void bytes_to_chars(std::string_view text, std::vector<Offset>& offs, std::size_t first) {
  bool ascii = true;
  for (unsigned char c : text) ascii = ascii && c < 0x80;
  if (ascii) return;
  CharCounter count(text);
  auto char_of = [&](std::size_t b) { return count(b + 1) - 1; };
  for (std::size_t i = first; i < offs.size(); ++i) {
    auto& [b, e] = offs[i];
    if (b >= text.size()) continue;
    const std::size_t start = char_of(b);
    if (e < text.size())
      e = char_of(e);
    else
      e = e > 0 ? char_of(e - 1) + 1 : start + 1;
    b = start;
  }
}

// Appends the original byte ranges of the model's tokens of piece `p` (ranges in p.text).
void piece_offsets(const Piece& p, std::string_view text, const std::vector<WordRange>& ranges,
                   std::vector<Offset>& out) {
  // A ByteLevel-mapped piece has one character per byte underneath.
  CharCounter under(p.text);
  auto to_under = [&](std::size_t m) { return p.byte_mapped ? under(m) : m; };
  for (const auto& [rb, re] : ranges) {
    const std::size_t b = to_under(rb), e = std::max(b, to_under(re));
    if (p.align.empty()) {
      // Unchanged input bytes from p.origin: widen to whole characters, as HF's alignments do.
      std::size_t ob = std::min(p.origin + b, text.size()),
                  oe = std::min(p.origin + e, text.size());
      while (ob > 0 && is_continuation(static_cast<unsigned char>(text[ob]))) --ob;
      while (oe < text.size() && oe > ob && is_continuation(static_cast<unsigned char>(text[oe])))
        ++oe;
      out.emplace_back(ob, oe);
    } else {
      const std::size_t lb = std::min(b, p.align.size() - 1);
      const std::size_t le = std::min(e, p.align.size());
      out.emplace_back(p.align[lb].b, le > lb ? p.align[le - 1].e : p.align[lb].b);
    }
  }
}

}  // namespace

void Tokenizer::Impl::encode(std::string_view text, std::vector<std::uint32_t>& ids,
                             std::vector<std::string>* tokens, std::vector<Offset>* offsets) const {
  if (const auto bad = unicode::find_invalid(text); bad != std::string_view::npos) {
    throw EncodeError("[tokenize] input is not valid UTF-8 (byte " + std::to_string(bad) + " = 0x" +
                      [&] {
                        char buf[4];
                        std::snprintf(buf, sizeof(buf), "%02X",
                                      static_cast<unsigned char>(text[bad]));
                        return std::string(buf);
                      }() +
                      ")");
  }
  if (offsets && text.size() >= (std::size_t{1} << 32)) {
    throw EncodeError("[tokenize] offsets are tracked for inputs under 4 GiB, got " +
                      std::to_string(text.size()) + " bytes");
  }
  const std::size_t first_offset = offsets ? offsets->size() : 0;
  // The token string of an added token is the text it matched, lstrip/rstrip spaces included.
  auto emit_added = [&](const Segment& seg, std::string_view src) {
    ids.push_back(added.at(seg.token).id);
    if (tokens) tokens->emplace_back(src.substr(seg.begin, seg.end - seg.begin));
  };
  std::vector<Piece> pieces;
  std::vector<WordRange> ranges;
  for (const Segment& seg : added.split(text, false)) {
    if (seg.token >= 0) {
      emit_added(seg, text);
      if (offsets) offsets->emplace_back(seg.begin, seg.end);
      continue;
    }
    if (seg.end == seg.begin) continue;
    // With offsets, every normalized byte keeps the original range it came from (HF's
    // NormalizedString alignments) through the normalizer, the pre-tokenizer and the model.
    AlignedText normalized;
    normalized.text.assign(text.substr(seg.begin, seg.end - seg.begin));
    normalized.origin = seg.begin;
    if (normalizer) {
      if (offsets)
        normalizer->normalize_aligned(normalized);
      else
        normalizer->normalize(normalized.text);
    }
    const std::string& ntext = normalized.text;
    for (const Segment& sub : added.split(ntext, true)) {
      if (sub.token >= 0) {
        emit_added(sub, ntext);
        if (offsets) {
          const auto& al = normalized.align;
          if (normalized.is_identity())
            offsets->emplace_back(seg.begin + sub.begin, seg.begin + sub.end);
          else
            offsets->emplace_back(al[sub.begin].b, al[sub.end - 1].e);
        }
        continue;
      }
      if (sub.end == sub.begin) continue;
      pieces.clear();
      Piece& first = pieces.emplace_back();
      first.text = ntext.substr(sub.begin, sub.end - sub.begin);
      first.at_origin = seg.begin == 0 && sub.begin == 0;
      if (offsets) {
        first.tracked = true;
        first.origin = seg.begin + sub.begin;
        if (!normalized.is_identity())
          first.align.assign(normalized.align.begin() + static_cast<std::ptrdiff_t>(sub.begin),
                             normalized.align.begin() + static_cast<std::ptrdiff_t>(sub.end));
      }
      if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
      for (const Piece& p : pieces) {
        if (p.text.empty()) continue;
        if (!offsets) {
          model->tokenize(p.text, ids, tokens);
          continue;
        }
        ranges.clear();
        model->tokenize(p.text, ids, tokens, &ranges);
        piece_offsets(p, text, ranges, *offsets);
      }
    }
  }
  if (offsets) bytes_to_chars(text, *offsets, first_offset);
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl)
    : impl_(std::move(impl)), truncation_(impl_->truncation), padding_(impl_->padding) {}

// HF TokenizerImpl::encode + post_process: raw encodings (type 0 for A, 1 for B), truncation
// (leaving room for the special tokens), post-processing, padding.
Encoding Tokenizer::encode_impl(std::string_view text, const std::string_view* pair,
                                bool add_special_tokens) const {
  std::vector<Encoding> encs;
  for (int k = 0; k < (pair ? 2 : 1); ++k) {
    std::vector<std::uint32_t> ids;
    std::vector<std::string> tokens;
    std::vector<Offset> offsets;
    impl_->encode(k == 0 ? text : *pair, ids, &tokens, &offsets);
    encs.push_back(Encoding::from_tokens(std::move(ids), std::move(tokens),
                                         static_cast<std::uint32_t>(k), std::move(offsets)));
  }
  if (truncation_) {
    TruncationParams t = *truncation_;
    const std::size_t added =
        impl_->post_processor ? impl_->post_processor->added_tokens(pair != nullptr) : 0;
    if (add_special_tokens && added > 0) {
      if (t.max_length < added) {
        throw EncodeError("[encode] truncation max_length " + std::to_string(t.max_length) +
                          " is smaller than the " + std::to_string(added) +
                          " special tokens the post-processor adds");
      }
      t.max_length -= added;
    }
    truncate_encodings(encs[0], pair ? &encs[1] : nullptr, t);
  }
  Encoding out = post_process(impl_->post_processor.get(), std::move(encs), add_special_tokens);
  if (padding_) pad_encodings(std::span<Encoding>(&out, 1), *padding_);
  return out;
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return encode_impl(text, nullptr, add_special_tokens);
}

Encoding Tokenizer::encode_pair(std::string_view text, std::string_view pair,
                                bool add_special_tokens) const {
  return encode_impl(text, &pair, add_special_tokens);
}

std::vector<std::uint32_t> Tokenizer::encode_ids(std::string_view text,
                                                 bool add_special_tokens) const {
  if (truncation_ || padding_ || (add_special_tokens && impl_->post_processor))
    return encode(text, add_special_tokens).ids;
  std::vector<std::uint32_t> ids;
  impl_->encode(text, ids, nullptr);
  return ids;
}

void Tokenizer::set_truncation(std::optional<TruncationParams> params) {
  if (params && (params->max_length > kMaxSequenceLength || params->stride > kMaxSequenceLength)) {
    throw ConfigError("[truncation] max_length " + std::to_string(params->max_length) +
                      " / stride " + std::to_string(params->stride) + ": at most " +
                      std::to_string(kMaxSequenceLength) + " tokens");
  }
  if (params && params->max_length > 0 && params->stride >= params->max_length) {
    throw ConfigError("[truncation] stride (" + std::to_string(params->stride) +
                      ") must be smaller than max_length (" + std::to_string(params->max_length) +
                      ")");
  }
  truncation_ = std::move(params);
}

void Tokenizer::set_padding(std::optional<PaddingParams> params) {
  if (params && params->length && *params->length > kMaxSequenceLength)
    throw ConfigError("[padding] length " + std::to_string(*params->length) + ": at most " +
                      std::to_string(kMaxSequenceLength) + " tokens");
  if (params && params->pad_to_multiple_of && *params->pad_to_multiple_of > kMaxSequenceLength)
    throw ConfigError("[padding] pad_to_multiple_of " +
                      std::to_string(*params->pad_to_multiple_of) + ": at most " +
                      std::to_string(kMaxSequenceLength));
  padding_ = std::move(params);
}

template <class Input>
std::vector<Encoding> Tokenizer::batch(const std::vector<Input>& inputs, bool add_special_tokens,
                                       unsigned n_threads) const {
  std::vector<Encoding> out(inputs.size());
  auto one = [&](std::size_t i) {
    if constexpr (std::is_same_v<Input, std::string>) {
      out[i] = encode(inputs[i], add_special_tokens);
    } else {
      out[i] = encode_pair(inputs[i].first, inputs[i].second, add_special_tokens);
    }
  };
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  n_threads = static_cast<unsigned>(std::min<std::size_t>(n_threads, inputs.size()));
  if (n_threads <= 1) {
    for (std::size_t i = 0; i < inputs.size(); ++i) one(i);
  } else {
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    auto work = [&] {
      for (std::size_t i; !failed && (i = next++) < inputs.size();) {
        try {
          one(i);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < n_threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
  }
  if (padding_) pad_encodings(out, *padding_);
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              bool add_special_tokens, unsigned n_threads) const {
  return batch(texts, add_special_tokens, n_threads);
}

std::vector<Encoding> Tokenizer::encode_batch_pairs(
    const std::vector<std::pair<std::string, std::string>>& pairs, bool add_special_tokens,
    unsigned n_threads) const {
  return batch(pairs, add_special_tokens, n_threads);
}

std::string Tokenizer::Impl::decode(std::span<const std::uint32_t> ids, bool skip_special) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (std::uint32_t id : ids) {
    if (const AddedToken* t = added.by_id(id)) {
      if (!(skip_special && t->special)) toks.push_back(t->content);
    } else if (const std::string* s = model->id_to_token(id)) {
      // A model token whose string is also a special added token counts as special.
      const AddedToken* same = added.by_content(*s);
      if (!(skip_special && same && same->special)) toks.push_back(*s);
    }
  }
  if (!decoder) {
    std::string out;
    for (std::size_t i = 0; i < toks.size(); ++i) {
      if (i) out += ' ';
      out += toks[i];
    }
    return out;
  }
  decoder->decode_chain(toks);
  std::string out;
  for (const auto& t : toks) out += t;
  return out;
}

std::string Tokenizer::decode(std::span<const std::uint32_t> ids, bool skip_special_tokens,
                              bool clean_up_tokenization_spaces) const {
  std::string s = impl_->decode(ids, skip_special_tokens);
  if (clean_up_tokenization_spaces) s = clean_up_tokenization(std::move(s));
  return s;
}

DecodeStream Tokenizer::decode_stream(bool skip_special_tokens) const {
  return DecodeStream(impl_, skip_special_tokens);
}

std::optional<std::uint32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = impl_->added.by_content(token)) return t->id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(std::uint32_t id) const {
  if (const AddedToken* t = impl_->added.by_id(id)) return t->content;
  if (const std::string* s = impl_->model->id_to_token(id)) return *s;
  return std::nullopt;
}

bool Tokenizer::is_special(std::uint32_t id) const {
  const AddedToken* t = impl_->added.by_id(id);
  return t && t->special;
}

std::size_t Tokenizer::vocab_size(bool with_added) const {
  std::size_t n = impl_->model->vocab_size();
  if (with_added) {
    for (std::size_t i = 0; i < impl_->added.size(); ++i) {
      if (!impl_->model->id_to_token(impl_->added.at(static_cast<int>(i)).id)) ++n;
    }
  }
  return n;
}

}  // namespace lazarus::tokenizers
