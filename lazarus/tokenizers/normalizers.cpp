// Normalizer implementations (see normalizers.h). Semantics follow HF tokenizers' normalizers/*.rs.
#include "lazarus/tokenizers/normalizers.h"

#include <vector>

#include "lazarus/tokenizers/pattern.h"
#include "lazarus/tokenizers/precompiled.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

std::shared_ptr<const Regex> make_pattern(const Json& j, const JsonPath& at) {
  if (!j.is_object() || j.size() != 1) at.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  if (const Json* s = optional_field(j, "String")) {
    return std::make_shared<Regex>(regex_escape(as_string(*s, at / "String")), at.path);
  }
  if (const Json* r = optional_field(j, "Regex")) {
    return std::make_shared<Regex>(as_string(*r, at / "Regex"), *at.file + ": " + at.path);
  }
  at.fail("expected {\"String\": ...} or {\"Regex\": ...}, got " + json_preview(j));
}

namespace {

class UnicodeNorm final : public Normalizer {
 public:
  explicit UnicodeNorm(unicode::NormForm f) : form_(f) {}
  void normalize(std::string& s) const override { s = unicode::normalize(s, form_); }

 private:
  unicode::NormForm form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& s) const override { s = unicode::lowercase(s); }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    std::size_t b = 0, e = s.size();
    if (left_) {
      while (b < e) {
        char32_t c;
        const std::size_t n = unicode::decode(s, b, c);
        if (!unicode::is_whitespace(c)) break;
        b += n;
      }
    }
    if (right_) {
      while (e > b) {
        std::size_t p = e - 1;
        while (p > b && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
        char32_t c;
        unicode::decode(s, p, c);
        if (!unicode::is_whitespace(c)) break;
        e = p;
      }
    }
    s = s.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

// Drops combining marks: all of them (StripAccents), or only nonspacing ones (BERT's
// strip_accents).
class StripAccents final : public Normalizer {
 public:
  explicit StripAccents(bool nonspacing_only = false) : nonspacing_only_(nonspacing_only) {}
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
      char32_t c;
      const std::size_t n = unicode::decode(s, i, c);
      const bool drop = nonspacing_only_ ? unicode::is_nonspacing_mark(c) : unicode::is_mark(c);
      if (!drop) out.append(s, i, n);
      i += n;
    }
    s = std::move(out);
  }

 private:
  bool nonspacing_only_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

class Replace final : public Normalizer {
 public:
  Replace(std::shared_ptr<const Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void normalize(std::string& s) const override {
    const auto matches = re_->find_all(s);
    if (matches.empty()) return;
    std::string out;
    out.reserve(s.size() + matches.size() * content_.size());
    std::size_t prev = 0;
    for (const auto& [b, e] : matches) {
      out.append(s, prev, b - prev);
      out += content_;
      prev = e;
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }

 private:
  std::shared_ptr<const Regex> re_;
  std::string content_;
};

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean, bool chinese, bool strip_accents, bool lower)
      : clean_(clean), chinese_(chinese), strip_(strip_accents), lower_(lower) {}
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
      char32_t c;
      const std::size_t n = unicode::decode(s, i, c);
      i += n;
      if (clean_) {
        if (c == 0 || c == 0xFFFD || unicode::is_bert_control(c)) continue;
        if (unicode::is_whitespace(c)) c = ' ';
      }
      if (chinese_ && unicode::is_cjk(c)) {
        out += ' ';
        unicode::append(out, c);
        out += ' ';
      } else {
        unicode::append(out, c);
      }
    }
    if (strip_) {
      out = unicode::normalize(out, unicode::NormForm::NFD);
      StripAccents(true).normalize(out);
    }
    if (lower_) out = unicode::lowercase(out);
    s = std::move(out);
  }

 private:
  bool clean_, chinese_, strip_, lower_;
};

class SequenceNorm final : public Normalizer {
 public:
  explicit SequenceNorm(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(std::string& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& at) {
  const std::string type = get_string(j, "type", at);
  using unicode::NormForm;
  if (type == "NFC") return std::make_unique<UnicodeNorm>(NormForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNorm>(NormForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNorm>(NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNorm>(NormForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Strip") {
    return std::make_unique<Strip>(get_bool(j, "strip_left", at, false),
                                   get_bool(j, "strip_right", at, false));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(get_string(j, "prepend", at));
  if (type == "Replace") {
    return std::make_unique<Replace>(make_pattern(require(j, "pattern", at), at / "pattern"),
                                     get_string(j, "content", at));
  }
  if (type == "BertNormalizer") {
    const bool lower = get_bool(j, "lowercase", at, true);
    // strip_accents: null means "follow lowercase", as in BERT.
    const bool strip = get_bool(j, "strip_accents", at, lower);
    return std::make_unique<BertNormalizer>(get_bool(j, "clean_text", at, true),
                                            get_bool(j, "handle_chinese_chars", at, true), strip,
                                            lower);
  }
  if (type == "Precompiled") return make_precompiled(j, at);
  if (type == "SentencePieceNormalizer") return make_sentencepiece_normalizer(j, at);
  if (type == "Sequence") {
    const Json& arr = require_array(j, "normalizers", at);
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      parts.push_back(make_normalizer(arr[i], (at / "normalizers")[i]));
    }
    return std::make_unique<SequenceNorm>(std::move(parts));
  }
  (at / "type").fail("unsupported normalizer type '" + type + "'");
}

}  // namespace lazarus::tokenizers
