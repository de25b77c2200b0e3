// Pre-tokenizer implementations (see pre_tokenizers.h). Semantics follow HF tokenizers'
// pre_tokenizers/*.rs; character classes follow Rust's `char` methods.
#include "lazarus/tokenizers/pre_tokenizers.h"

#include <functional>

#include "lazarus/tokenizers/pattern.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

using Ranges = std::vector<std::pair<std::size_t, std::size_t>>;

Ranges split_by_matches(std::size_t n, const Ranges& matches, SplitBehavior behavior, bool invert) {
  // Every byte of the text lands in exactly one span, flagged match / non-match.
  struct Span {
    std::size_t b, e;
    bool is_match;
  };
  std::vector<Span> spans;
  std::size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (b > prev) spans.push_back({prev, b, invert});
    spans.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < n) spans.push_back({prev, n, invert});

  Ranges out;
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const auto& s : spans)
        if (!s.is_match) out.emplace_back(s.b, s.e);
      break;
    case SplitBehavior::Isolated:
      for (const auto& s : spans) out.emplace_back(s.b, s.e);
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool prev_match = false;
      for (const auto& s : spans) {
        if (s.is_match && !prev_match && !out.empty())
          out.back().second = s.e;
        else
          out.emplace_back(s.b, s.e);
        prev_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev_match = false;
      Ranges rev;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !prev_match && !rev.empty())
          rev.back().first = it->b;
        else
          rev.emplace_back(it->b, it->e);
        prev_match = it->is_match;
      }
      out.assign(rev.rbegin(), rev.rend());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool prev_match = false;
      for (const auto& s : spans) {
        if (s.is_match == prev_match && !out.empty())
          out.back().second = s.e;
        else
          out.emplace_back(s.b, s.e);
        prev_match = s.is_match;
      }
      break;
    }
  }
  Ranges nonempty;
  for (const auto& r : out)
    if (r.second > r.first) nonempty.push_back(r);
  return nonempty;
}

namespace {
// The bytes a ByteLevel-mapped text stands for.
std::string byte_level_decode(std::string_view mapped) {
  std::string out;
  out.reserve(mapped.size());
  for (std::size_t i = 0; i < mapped.size();) {
    char32_t c;
    i += unicode::decode(mapped, i, c);
    const int b = unicode::unicode_to_byte(c);
    out += static_cast<char>(b < 0 ? '?' : b);
  }
  return out;
}
}  // namespace

void Piece::materialize() {
  if (!tracked) return;
  if (align.empty() && !byte_mapped) {
    align = AlignedText::identity(text, origin).align;
    return;
  }
  if (!byte_mapped) return;
  // One character of `text` per byte underneath, aligned as that byte.
  std::vector<Span> under = align.empty()
                                ? AlignedText::identity(byte_level_decode(text), origin).align
                                : std::move(align);
  align.clear();
  align.reserve(text.size());
  std::size_t k = 0;
  for (std::size_t i = 0; i < text.size(); ++k) {
    const std::size_t n = unicode::char_len(static_cast<unsigned char>(text[i]));
    align.insert(align.end(), n, under[std::min(k, under.size() - 1)]);
    i += n;
  }
  byte_mapped = false;
}

namespace {

// Replaces each piece by the ranges `fn` returns for it.
void split_each(std::vector<Piece>& pieces, const std::function<Ranges(const std::string&)>& fn) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (auto& p : pieces) {
    const Ranges rs = fn(p.text);
    if (rs.size() == 1 && rs[0].first == 0 && rs[0].second == p.text.size()) {
      out.push_back(std::move(p));
      continue;
    }
    if (p.byte_mapped) p.materialize();
    for (const auto& [b, e] : rs) {
      if (e <= b) continue;
      Piece& q = out.emplace_back();
      q.text = p.text.substr(b, e - b);
      q.at_origin = p.at_origin && b == 0;
      q.tracked = p.tracked;
      q.origin = p.origin + b;
      if (!p.align.empty())
        q.align.assign(p.align.begin() + static_cast<std::ptrdiff_t>(b),
                       p.align.begin() + static_cast<std::ptrdiff_t>(e));
    }
  }
  pieces = std::move(out);
}

// Matches produced by a character predicate: maximal runs (contiguous=true) or single characters.
Ranges char_matches(const std::string& s, const std::function<bool(char32_t)>& pred, bool runs) {
  Ranges m;
  for (std::size_t i = 0; i < s.size();) {
    char32_t c;
    const std::size_t n = unicode::decode(s, i, c);
    if (pred(c)) {
      if (runs && !m.empty() && m.back().second == i)
        m.back().second = i + n;
      else
        m.emplace_back(i, i + n);
    }
    i += n;
  }
  return m;
}

SplitBehavior parse_behavior(const Json& j, const JsonPath& at) {
  const std::string b = get_string(j, "behavior", at);
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  (at / "behavior").fail("unknown split behavior '" + b + "'");
}

// GPT-2's pre-tokenization regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        regex_(use_regex ? std::make_shared<Regex>(kGpt2Pattern, "ByteLevel") : nullptr) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces) {
        if (p.text.empty() || p.text[0] != ' ') {
          p.materialize();
          p.text.insert(0, 1, ' ');
          // HF prepend: the space takes the first character's alignment.
          if (!p.align.empty()) p.align.insert(p.align.begin(), p.align.front());
        }
      }
    }
    if (regex_) {
      split_each(pieces, [&](const std::string& s) {
        return split_by_matches(s.size(), regex_->find_all(s), SplitBehavior::Isolated, false);
      });
    }
    const auto& table = unicode::byte_to_unicode();
    for (auto& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      // Each byte's stand-in keeps that byte's alignment (the whole original character): recorded
      // by `byte_mapped`, spelled out only if a later step needs it.
      if (p.byte_mapped) p.materialize();
      for (unsigned char b : p.text) mapped += table[b];
      p.text = std::move(mapped);
      p.byte_mapped = p.tracked;
    }
  }

 private:
  bool add_prefix_space_;
  std::shared_ptr<const Regex> regex_;
};

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(std::shared_ptr<const Regex> re, SplitBehavior b, bool invert)
      : re_(std::move(re)), behavior_(b), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [&](const std::string& s) {
      return split_by_matches(s.size(), re_->find_all(s), behavior_, invert_);
    });
  }

 private:
  std::shared_ptr<const Regex> re_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePre final : public PreTokenizer {
 public:
  MetaspacePre(std::string replacement, PrependScheme scheme, bool split)
      : repl_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (auto& p : pieces) {
      std::string t;
      t.reserve(p.text.size() + repl_.size());
      p.materialize();
      const bool tracked = p.tracked;
      std::vector<Span> align;
      if (tracked) align.reserve(p.text.size() + repl_.size());
      for (std::size_t i = 0; i < p.text.size(); ++i) {
        const char c = p.text[i];
        if (c == ' ') {
          t += repl_;
          if (tracked) align.insert(align.end(), repl_.size(), p.align[i]);
        } else {
          t += c;
          if (tracked) align.push_back(p.align[i]);
        }
      }
      const bool starts = t.compare(0, repl_.size(), repl_) == 0;
      if (!starts &&
          (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.at_origin))) {
        t.insert(0, repl_);
        if (tracked && !align.empty()) align.insert(align.begin(), repl_.size(), align.front());
      }
      p.text = std::move(t);
      if (tracked) p.align = std::move(align);
    }
    if (!split_) return;
    split_each(pieces, [&](const std::string& s) {
      Ranges m;
      for (std::size_t pos = 0; (pos = s.find(repl_, pos)) != std::string::npos;
           pos += repl_.size())
        m.emplace_back(pos, pos + repl_.size());
      return split_by_matches(s.size(), m, SplitBehavior::MergedWithNext, false);
    });
  }

 private:
  std::string repl_;
  PrependScheme scheme_;
  bool split_;
};

// Predicate-driven splitters: Digits, Punctuation, WhitespaceSplit, CharDelimiterSplit.
class PredicatePre final : public PreTokenizer {
 public:
  PredicatePre(std::function<bool(char32_t)> pred, bool runs, SplitBehavior b)
      : pred_(std::move(pred)), runs_(runs), behavior_(b) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [&](const std::string& s) {
      return split_by_matches(s.size(), char_matches(s, pred_, runs_), behavior_, false);
    });
  }

 private:
  std::function<bool(char32_t)> pred_;
  bool runs_;
  SplitBehavior behavior_;
};

// Whitespace: the regex \w+|[^\w\s]+ with everything else removed.
class WhitespacePre final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [](const std::string& s) {
      Ranges m;
      int prev_kind = -1;  // 0: word, 1: other non-space
      for (std::size_t i = 0; i < s.size();) {
        char32_t c;
        const std::size_t n = unicode::decode(s, i, c);
        const int kind = unicode::is_word_char(c) ? 0 : unicode::is_whitespace(c) ? -1 : 1;
        if (kind >= 0) {
          if (kind == prev_kind && !m.empty() && m.back().second == i)
            m.back().second = i + n;
          else
            m.emplace_back(i, i + n);
        }
        prev_kind = kind;
        i += n;
      }
      return m;
    });
  }
};

class BertPre final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [](const std::string& s) {
      return split_by_matches(s.size(), char_matches(s, unicode::is_whitespace, true),
                              SplitBehavior::Removed, false);
    });
    split_each(pieces, [](const std::string& s) {
      return split_by_matches(s.size(), char_matches(s, is_bert_punct, false),
                              SplitBehavior::Isolated, false);
    });
  }
  static bool is_bert_punct(char32_t c) {
    return (c < 0x80 && c > 0x20 && c != 0x7F && !(c >= '0' && c <= '9') &&
            !((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) ||
           unicode::is_punctuation(c);
  }
};

class SequencePre final : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

PrependScheme parse_scheme(const Json& j, const JsonPath& at) {
  if (const Json* s = optional_field(j, "prepend_scheme")) {
    const std::string v = as_string(*s, at / "prepend_scheme");
    if (v == "always") return PrependScheme::Always;
    if (v == "first") return PrependScheme::First;
    if (v == "never") return PrependScheme::Never;
    (at / "prepend_scheme").fail("unknown prepend_scheme '" + v + "'");
  }
  // Older files: add_prefix_space true/false.
  return get_bool(j, "add_prefix_space", at, true) ? PrependScheme::Always : PrependScheme::Never;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonPath& at) {
  const std::string type = get_string(j, "type", at);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPre>(get_bool(j, "add_prefix_space", at, true),
                                          get_bool(j, "use_regex", at, true));
  }
  if (type == "Split") {
    return std::make_unique<SplitPre>(make_pattern(require(j, "pattern", at), at / "pattern"),
                                      parse_behavior(j, at), get_bool(j, "invert", at, false));
  }
  if (type == "Metaspace") {
    const std::string repl = get_string(j, "replacement", at);
    if (repl.empty() || unicode::char_len(static_cast<unsigned char>(repl[0])) != repl.size()) {
      (at / "replacement").fail("expected one character, got '" + repl + "'");
    }
    return std::make_unique<MetaspacePre>(repl, parse_scheme(j, at),
                                          get_bool(j, "split", at, true));
  }
  if (type == "Digits") {
    const bool individual = get_bool(j, "individual_digits", at, false);
    return std::make_unique<PredicatePre>(
        unicode::is_numeric, !individual,
        individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (type == "Punctuation") {
    SplitBehavior b = SplitBehavior::Isolated;
    if (optional_field(j, "behavior")) b = parse_behavior(j, at);
    return std::make_unique<PredicatePre>([](char32_t c) { return BertPre::is_bert_punct(c); },
                                          false, b);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<PredicatePre>(unicode::is_whitespace, true, SplitBehavior::Removed);
  }
  if (type == "CharDelimiterSplit") {
    const std::string d = get_string(j, "delimiter", at);
    char32_t dc = 0;
    if (d.empty() || unicode::decode(d, 0, dc) != d.size()) {
      (at / "delimiter").fail("expected one character, got '" + d + "'");
    }
    return std::make_unique<PredicatePre>([dc](char32_t c) { return c == dc; }, false,
                                          SplitBehavior::Removed);
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePre>();
  if (type == "BertPreTokenizer") return std::make_unique<BertPre>();
  if (type == "Sequence") {
    const Json& arr = require_array(j, "pretokenizers", at);
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      parts.push_back(make_pre_tokenizer(arr[i], (at / "pretokenizers")[i]));
    }
    return std::make_unique<SequencePre>(std::move(parts));
  }
  (at / "type").fail("unsupported pre_tokenizer type '" + type + "'");
}

}  // namespace lazarus::tokenizers
