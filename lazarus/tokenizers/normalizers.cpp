// Normalizer implementations (see normalizers.h). Semantics follow HF tokenizers' normalizers/*.rs.
#include "lazarus/tokenizers/normalizers.h"

#include <algorithm>
#include <vector>

#include <utf8proc.h>

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

AlignedText AlignedText::identity(std::string_view s, std::size_t origin) {
  AlignedText t;
  t.origin = origin;
  t.text.assign(s);
  t.align.resize(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n =
        std::min(s.size() - i, unicode::char_len(static_cast<unsigned char>(s[i])));
    const Span sp{static_cast<std::uint32_t>(origin + i),
                  static_cast<std::uint32_t>(origin + i + n)};
    for (std::size_t k = 0; k < n; ++k) t.align[i + k] = sp;
    i += n;
  }
  return t;
}

AlignedBuilder::AlignedBuilder(const AlignedText& src, std::size_t removed_chars) : src_(src) {
  out_.text.reserve(src.text.size());
  out_.align.reserve(src.text.size());
  for (std::size_t k = 0; k < removed_chars && offset_ < src_.text.size(); ++k)
    offset_ = skip_char(offset_);
}

std::size_t AlignedBuilder::skip_char(std::size_t at) const {
  if (at >= src_.text.size()) return at;
  return std::min(src_.text.size(),
                  at + unicode::char_len(static_cast<unsigned char>(src_.text[at])));
}

void AlignedBuilder::push(char32_t c, int change) {
  Span a;
  if (change > 0) {
    if (offset_ > 0)
      a = src_.align[offset_ - 1];
    else if (!src_.align.empty())
      a = {src_.align[0].b, src_.align[0].b};
  } else {
    if (offset_ < src_.align.size())
      a = src_.align[offset_];
    else if (!src_.align.empty())
      a = {src_.align.back().e, src_.align.back().e};
    offset_ = skip_char(offset_);
    for (int k = 0; k < -change; ++k) offset_ = skip_char(offset_);
  }
  const std::size_t before = out_.text.size();
  unicode::append(out_.text, c);
  out_.align.insert(out_.align.end(), out_.text.size() - before, a);
}

void Normalizer::normalize_aligned(AlignedText& t) const {
  std::string s = t.text;
  normalize(s);
  if (s == t.text) return;
  t.materialize();
  Span all;
  if (!t.align.empty()) all = {t.align.front().b, t.align.back().e};
  t.text = std::move(s);
  t.align.assign(t.text.size(), all);
}

namespace {

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// The characters of `s`.
std::vector<char32_t> chars_of(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    char32_t c;
    i += unicode::decode(s, i, c);
    out.push_back(c);
  }
  return out;
}

int ccc(char32_t c) {
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// The canonical composite of a + b, or 0 (by asking utf8proc to compose the pair).
char32_t compose_pair(char32_t a, char32_t b) {
  std::string s;
  unicode::append(s, a);
  unicode::append(s, b);
  const std::string c = unicode::normalize(s, unicode::NormForm::NFC);
  char32_t r;
  if (c.empty() || unicode::decode(c, 0, r) != c.size()) return 0;
  return r;
}

// Unicode normalization with HF's (unicode-normalization-alignments) changes: each character's
// decomposition is (first, 0), (rest, +1); canonical ordering moves changes with their characters;
// a composition adds the absorbed character's change minus one to the starter's.
class UnicodeNorm final : public Normalizer {
 public:
  explicit UnicodeNorm(unicode::NormForm f) : form_(f) {}
  void normalize(std::string& s) const override { s = unicode::normalize(s, form_); }
  void normalize_aligned(AlignedText& t) const override {
    if (is_ascii(t.text)) return;
    t.materialize();
    const bool compat = form_ == unicode::NormForm::NFKC || form_ == unicode::NormForm::NFKD;
    const bool compose = form_ == unicode::NormForm::NFC || form_ == unicode::NormForm::NFKC;
    struct C {
      char32_t c;
      int change, cls;
    };
    std::vector<C> seq;
    seq.reserve(t.text.size());
    utf8proc_int32_t buf[32];
    for (std::size_t i = 0; i < t.text.size();) {
      char32_t c;
      i += unicode::decode(t.text, i, c);
      int last_bound = 0;
      const int opts = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
      const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32,
                                             static_cast<utf8proc_option_t>(opts), &last_bound);
      if (n <= 0 || n > 32) {
        seq.push_back({c, 0, ccc(c)});
        continue;
      }
      for (int k = 0; k < n; ++k) {
        const auto d = static_cast<char32_t>(buf[k]);
        seq.push_back({d, k > 0 ? 1 : 0, ccc(d)});
      }
    }
    // Canonical ordering: stable sort of each run of non-starters by combining class.
    for (std::size_t i = 0; i < seq.size();) {
      if (seq[i].cls == 0) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < seq.size() && seq[j].cls != 0) ++j;
      std::stable_sort(seq.begin() + static_cast<std::ptrdiff_t>(i),
                       seq.begin() + static_cast<std::ptrdiff_t>(j),
                       [](const C& a, const C& b) { return a.cls < b.cls; });
      i = j;
    }
    if (compose) {
      std::vector<C> out;
      out.reserve(seq.size());
      std::ptrdiff_t starter = -1;  // index in `out`
      int last_cls = -1;            // class of the last character after the starter (-1: none)
      for (const C& x : seq) {
        if (starter >= 0 && (last_cls < 0 || last_cls < x.cls)) {
          if (const char32_t k = compose_pair(out[static_cast<std::size_t>(starter)].c, x.c)) {
            C& s = out[static_cast<std::size_t>(starter)];
            s.c = k;
            s.change += x.change - 1;
            continue;
          }
        }
        if (x.cls == 0) {
          starter = static_cast<std::ptrdiff_t>(out.size());
          last_cls = -1;
        } else {
          last_cls = x.cls;
        }
        out.push_back(x);
      }
      seq = std::move(out);
    }
    AlignedBuilder b(t);
    for (const C& x : seq) b.push(x.c, x.change);
    AlignedText r = b.finish();
    const std::string want = unicode::normalize(t.text, form_);
    if (r.text != want) {  // not expected; keep the text exact, align coarsely
      r.text = want;
      r.align.assign(want.size(),
                     t.align.empty() ? Span{} : Span{t.align.front().b, t.align.back().e});
    }
    t = std::move(r);
  }

 private:
  unicode::NormForm form_;
};

// Per character: the first character of its lowercase mapping replaces it, the rest are inserted.
void lowercase_aligned(AlignedText& t) {
  if (is_ascii(t.text)) {
    for (char& c : t.text)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return;
  }
  t.materialize();
  AlignedBuilder b(t);
  for (std::size_t i = 0; i < t.text.size();) {
    const std::size_t n = unicode::char_len(static_cast<unsigned char>(t.text[i]));
    const std::string low = unicode::lowercase(std::string_view(t.text).substr(i, n));
    int k = 0;
    for (char32_t c : chars_of(low)) b.push(c, k++ > 0 ? 1 : 0);
    i += n;
  }
  t = b.finish();
}

// Keeps the characters `keep` accepts, each with its own alignment (HF NormalizedString::filter).
template <class Keep>
void filter_aligned(AlignedText& t, Keep keep) {
  t.materialize();
  AlignedText out;
  out.text.reserve(t.text.size());
  out.align.reserve(t.text.size());
  for (std::size_t i = 0; i < t.text.size();) {
    char32_t c;
    const std::size_t n = unicode::decode(t.text, i, c);
    if (keep(c)) {
      out.text.append(t.text, i, n);
      out.align.insert(out.align.end(), t.align.begin() + static_cast<std::ptrdiff_t>(i),
                       t.align.begin() + static_cast<std::ptrdiff_t>(i + n));
    }
    i += n;
  }
  t = std::move(out);
}

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& s) const override { s = unicode::lowercase(s); }
  void normalize_aligned(AlignedText& t) const override { lowercase_aligned(t); }
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
  void normalize_aligned(AlignedText& t) const override {
    std::string s = t.text;
    const std::size_t before = s.size();
    // The kept part is a slice: find where it starts by stripping the left side only.
    std::string left = t.text;
    Strip(left_, false).normalize(left);
    normalize(s);
    if (s.size() == before) return;
    const std::size_t b = before - left.size();
    t.materialize();
    t.text = std::move(s);
    t.align.erase(t.align.begin() + static_cast<std::ptrdiff_t>(b + t.text.size()), t.align.end());
    t.align.erase(t.align.begin(), t.align.begin() + static_cast<std::ptrdiff_t>(b));
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
  void normalize_aligned(AlignedText& t) const override {
    filter_aligned(t, [&](char32_t c) {
      return !(nonspacing_only_ ? unicode::is_nonspacing_mark(c) : unicode::is_mark(c));
    });
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
  // HF NormalizedString::prepend: the new characters take the first character's alignment.
  void normalize_aligned(AlignedText& t) const override {
    if (t.text.empty()) return;
    t.materialize();
    t.text.insert(0, prepend_);
    t.align.insert(t.align.begin(), prepend_.size(), t.align.front());
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
  // HF NormalizedString::replace: the match is removed and the content inserted after it, every
  // inserted character aligned with the match's last byte.
  void normalize_aligned(AlignedText& t) const override {
    const auto matches = re_->find_all(t.text);
    if (matches.empty()) return;
    t.materialize();
    AlignedText out;
    out.text.reserve(t.text.size());
    out.align.reserve(t.text.size());
    std::size_t prev = 0;
    for (const auto& [b, e] : matches) {
      out.text.append(t.text, prev, b - prev);
      out.align.insert(out.align.end(), t.align.begin() + static_cast<std::ptrdiff_t>(prev),
                       t.align.begin() + static_cast<std::ptrdiff_t>(b));
      Span a;
      if (e > 0)
        a = t.align[e - 1];
      else if (!t.align.empty())
        a = {t.align[0].b, t.align[0].b};
      out.text += content_;
      out.align.insert(out.align.end(), content_.size(), a);
      prev = e;
    }
    out.text.append(t.text, prev, std::string::npos);
    out.align.insert(out.align.end(), t.align.begin() + static_cast<std::ptrdiff_t>(prev),
                     t.align.end());
    t = std::move(out);
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
  void normalize_aligned(AlignedText& t) const override {
    t.materialize();
    if (clean_) {
      filter_aligned(
          t, [](char32_t c) { return !(c == 0 || c == 0xFFFD || unicode::is_bert_control(c)); });
      AlignedBuilder b(t);
      for (std::size_t i = 0; i < t.text.size();) {
        char32_t c;
        i += unicode::decode(t.text, i, c);
        b.push(unicode::is_whitespace(c) ? U' ' : c, 0);
      }
      t = b.finish();
    }
    if (chinese_) {
      AlignedBuilder b(t);
      for (std::size_t i = 0; i < t.text.size();) {
        char32_t c;
        i += unicode::decode(t.text, i, c);
        if (unicode::is_cjk(c)) {
          b.push(U' ', 0);
          b.push(c, 1);
          b.push(U' ', 1);
        } else {
          b.push(c, 0);
        }
      }
      t = b.finish();
    }
    if (strip_) {
      UnicodeNorm(unicode::NormForm::NFD).normalize_aligned(t);
      filter_aligned(t, [](char32_t c) { return !unicode::is_nonspacing_mark(c); });
    }
    if (lower_) lowercase_aligned(t);
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
  void normalize_aligned(AlignedText& t) const override {
    for (const auto& p : parts_) p->normalize_aligned(t);
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
