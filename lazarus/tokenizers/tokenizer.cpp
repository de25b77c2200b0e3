// Loading tokenizer.json and running the encode / decode pipelines (see tokenizer.h).
#include "lazarus/tokenizers/tokenizer.h"

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

Tokenizer Tokenizer::from_json(std::string_view text, const std::string& name) {
  return Tokenizer(Impl::build(parse_json_bounded(text, name), name));
}

std::shared_ptr<Tokenizer::Impl> Tokenizer::Impl::build(const Json& root, const std::string& name) {
  auto impl = std::make_shared<Impl>();
  impl->file = name;
  const JsonPath at{&impl->file, ""};
  if (!root.is_object()) at.fail("expected a JSON object, got " + json_preview(root));
  if (const Json* v = optional_field(root, "truncation")) {
    (void)v;  // truncation/padding are batch-shaping options; encode() returns full sequences
  }
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
  return impl;
}

void Tokenizer::Impl::encode(std::string_view text, bool add_special,
                             std::vector<std::uint32_t>& ids,
                             std::vector<std::string>* tokens) const {
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
  // The token string of an added token is the text it matched, lstrip/rstrip spaces included.
  auto emit_added = [&](const Segment& seg, std::string_view src) {
    ids.push_back(added.at(seg.token).id);
    if (tokens) tokens->emplace_back(src.substr(seg.begin, seg.end - seg.begin));
  };
  std::vector<Piece> pieces;
  for (const Segment& seg : added.split(text, false)) {
    if (seg.token >= 0) {
      emit_added(seg, text);
      continue;
    }
    if (seg.end == seg.begin) continue;
    std::string normalized(text.substr(seg.begin, seg.end - seg.begin));
    if (normalizer) normalizer->normalize(normalized);
    for (const Segment& sub : added.split(normalized, true)) {
      if (sub.token >= 0) {
        emit_added(sub, normalized);
        continue;
      }
      if (sub.end == sub.begin) continue;
      pieces.clear();
      pieces.push_back(
          {normalized.substr(sub.begin, sub.end - sub.begin), seg.begin == 0 && sub.begin == 0});
      if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
      for (const Piece& p : pieces) {
        if (!p.text.empty()) model->tokenize(p.text, ids, tokens);
      }
    }
  }
  if (add_special && post_processor) {
    Encoding enc;
    enc.ids = std::move(ids);
    if (tokens)
      enc.tokens = std::move(*tokens);
    else
      enc.tokens.resize(enc.ids.size());
    enc.special_tokens_mask.assign(enc.ids.size(), 0);
    post_processor->process(enc);
    ids = std::move(enc.ids);
    if (tokens) *tokens = std::move(enc.tokens);
  }
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  Encoding enc;
  impl_->encode(text, false, enc.ids, &enc.tokens);
  enc.special_tokens_mask.assign(enc.ids.size(), 0);
  if (add_special_tokens && impl_->post_processor) impl_->post_processor->process(enc);
  return enc;
}

std::vector<std::uint32_t> Tokenizer::encode_ids(std::string_view text,
                                                 bool add_special_tokens) const {
  std::vector<std::uint32_t> ids;
  impl_->encode(text, add_special_tokens, ids, nullptr);
  return ids;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              bool add_special_tokens, unsigned n_threads) const {
  std::vector<Encoding> out(texts.size());
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
  n_threads = static_cast<unsigned>(std::min<std::size_t>(n_threads, texts.size()));
  if (n_threads <= 1) {
    for (std::size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], add_special_tokens);
    return out;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (std::size_t i; !failed && (i = next++) < texts.size();) {
      try {
        out[i] = encode(texts[i], add_special_tokens);
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < n_threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return out;
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
