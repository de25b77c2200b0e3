// Precompiled character maps (see precompiled.h).
#include "lazarus/tokenizers/precompiled.h"

#include <utf8proc.h>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/normalizers.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

// darts-clone unit layout.
bool has_leaf(std::uint32_t u) { return (u >> 8) & 1u; }
std::uint32_t value(std::uint32_t u) { return u & 0x7FFFFFFFu; }
std::uint32_t label(std::uint32_t u) { return u & 0x800000FFu; }
std::uint32_t offset(std::uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁"

}  // namespace

Charsmap::Charsmap(std::string_view blob, const std::string& where) {
  if (blob.empty()) return;
  if (blob.size() < 4)
    throw LoadError(where + ": charsmap of " + std::to_string(blob.size()) + " bytes is truncated");
  const auto* b = reinterpret_cast<const unsigned char*>(blob.data());
  const std::uint64_t trie_bytes = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint64_t{b[3]} << 24);
  if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) {
    throw LoadError(where + ": charsmap trie size " + std::to_string(trie_bytes) +
                    " does not fit the " + std::to_string(blob.size()) + "-byte blob");
  }
  units_.resize(trie_bytes / 4);
  for (std::size_t i = 0; i < units_.size(); ++i) {
    const unsigned char* p = b + 4 + 4 * i;
    units_[i] = p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24);
  }
  strings_ = std::string(blob.substr(4 + trie_bytes));
}

std::pair<std::string_view, std::size_t> Charsmap::match(std::string_view s, bool longest) const {
  std::pair<std::string_view, std::size_t> best{{}, 0};
  if (units_.empty()) return best;
  std::size_t pos = offset(units_[0]);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    pos ^= c;
    if (pos >= units_.size()) break;
    const std::uint32_t u = units_[pos];
    if (label(u) != c) break;
    pos ^= offset(u);
    if (pos >= units_.size()) break;
    if (has_leaf(u)) {
      const std::uint32_t v = value(units_[pos]);
      if (v >= strings_.size()) continue;  // corrupt leaf: ignore it
      std::size_t end = strings_.find('\0', v);
      if (end == std::string::npos) end = strings_.size();
      best = {std::string_view(strings_).substr(v, end - v), i + 1};
      if (!longest) break;
    }
  }
  return best;
}

template <class Emit>
void Charsmap::for_each_part(std::string_view sv, Emit emit) const {
  auto emit_chars = [&](std::string_view g) {
    for (std::size_t i = 0; i < g.size();) {
      char32_t c;
      const std::size_t n = unicode::decode(g, i, c);
      const std::string_view ch = g.substr(i, n);
      const auto [rep, len] = match(ch, false);
      emit(ch, len ? rep : ch, len != 0);
      i += n;
    }
  };
  auto flush = [&](std::string_view g) {
    const auto m = g.size() < 6 ? match(g, false) : std::pair<std::string_view, std::size_t>{};
    if (m.second)
      emit(g, m.first, true);
    else
      emit_chars(g);
  };
  std::size_t start = 0;
  utf8proc_int32_t state = 0;
  char32_t prev = 0;
  for (std::size_t i = 0; i < sv.size();) {
    char32_t c;
    const std::size_t n = unicode::decode(sv, i, c);
    if (i > 0 && utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(prev),
                                                  static_cast<utf8proc_int32_t>(c), &state)) {
      flush(sv.substr(start, i - start));
      start = i;
    }
    prev = c;
    i += n;
  }
  if (start < sv.size()) flush(sv.substr(start));
}

void Charsmap::normalize_graphemes(std::string& s) const {
  if (units_.empty()) return;
  std::string out;
  out.reserve(s.size());
  for_each_part(s, [&](std::string_view, std::string_view rep, bool) { out += rep; });
  s = std::move(out);
}

void Charsmap::normalize_graphemes_aligned(AlignedText& t) const {
  if (units_.empty()) return;
  // HF replace(): the new characters replace the old ones one for one (change 0); extra new ones
  // are inserted (+1); when fewer, the last character pushed so far absorbs the difference.
  struct C {
    char32_t c;
    int change;
  };
  std::vector<C> seq;
  bool modified = false;
  auto count = [](std::string_view s) {
    int n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
    return n;
  };
  for_each_part(t.text, [&](std::string_view part, std::string_view rep, bool replaced) {
    modified = modified || replaced;
    for (std::size_t i = 0; i < rep.size();) {
      char32_t c;
      i += unicode::decode(rep, i, c);
      seq.push_back({c, 0});
    }
    const int diff = count(rep) - count(part);
    if (diff > 0) {
      for (std::size_t k = seq.size() - static_cast<std::size_t>(diff); k < seq.size(); ++k)
        seq[k].change = 1;
    } else if (diff < 0 && !seq.empty()) {
      seq.back().change += diff;
    }
  });
  if (!modified) return;
  t.materialize();
  AlignedBuilder b(t);
  for (const C& x : seq) b.push(x.c, x.change);
  t = b.finish();
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::uint32_t b0 = static_cast<unsigned char>(in[i]);
    const std::uint32_t b1 = i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) : 0;
    const std::uint32_t b2 = i + 2 < in.size() ? static_cast<unsigned char>(in[i + 2]) : 0;
    const std::uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string base64_decode(std::string_view in, const JsonPath& at) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char ch = in[i];
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+')
      v = 62;
    else if (ch == '/')
      v = 63;
    else if (ch == '=') {
      ++pad;
      continue;
    } else {
      at.fail("not base64: byte " + std::to_string(i) + " is '" + std::string(1, ch) + "'");
    }
    if (pad) at.fail("not base64: data after '=' padding at byte " + std::to_string(i));
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

namespace {

class Precompiled final : public Normalizer {
 public:
  explicit Precompiled(Charsmap map) : map_(std::move(map)) {}
  void normalize(std::string& s) const override { map_.normalize_graphemes(s); }
  void normalize_aligned(AlignedText& t) const override { map_.normalize_graphemes_aligned(t); }

 private:
  Charsmap map_;
};

// sentencepiece/src/normalizer.cc's Normalize (without user-defined symbols, which the converter
// turns into added tokens).
class SentencePieceNormalizer final : public Normalizer {
 public:
  SentencePieceNormalizer(Charsmap map, bool dummy, bool remove_ws, bool escape)
      : map_(std::move(map)), dummy_(dummy), remove_ws_(remove_ws), escape_(escape) {}

  void normalize(std::string& s) const override { run(s, nullptr); }
  // Not an HF normalizer: each output byte is aligned with the input character(s) it came from,
  // the dummy prefix with the first kept character.
  void normalize_aligned(AlignedText& t) const override {
    t.materialize();
    std::vector<Span> align;
    run(t.text, &t.align, &align);
    t.align = std::move(align);
  }

 private:
  void run(std::string& s, const std::vector<Span>* src, std::vector<Span>* dst = nullptr) const {
    std::string_view in = s;
    std::size_t pos = 0;  // bytes of `s` consumed
    auto span_of = [&](std::size_t b, std::size_t n) {
      return Span{(*src)[b].b, (*src)[b + n - 1].e};
    };
    auto prefix = [&](std::string_view x) -> std::pair<std::string_view, std::size_t> {
      auto m = map_.match(x, true);
      if (m.second) return m;
      char32_t c;
      const std::size_t n = unicode::decode(x, 0, c);
      return {x.substr(0, n), n};
    };
    if (remove_ws_) {
      while (!in.empty()) {
        const auto p = prefix(in);
        if (p.first != " ") break;
        in.remove_prefix(p.second);
        pos += p.second;
      }
    }
    std::string out;
    if (in.empty()) {
      s.clear();
      return;
    }
    out.reserve(in.size() + 8);
    if (dummy_) {
      out += escape_ ? kSpaceSymbol : std::string_view(" ");
      if (dst)
        dst->insert(dst->end(), out.size(),
                    span_of(pos, unicode::char_len(static_cast<unsigned char>(in[0]))));
    }
    bool prev_space = remove_ws_;
    while (!in.empty()) {
      const auto p = prefix(in);
      std::string_view sp = p.first;
      if (prev_space) {
        while (!sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
      }
      if (!sp.empty()) {
        const std::size_t before = out.size();
        for (char ch : sp) {
          if (escape_ && ch == ' ')
            out += kSpaceSymbol;
          else
            out += ch;
        }
        if (dst) dst->insert(dst->end(), out.size() - before, span_of(pos, p.second));
        prev_space = sp.back() == ' ';
      }
      in.remove_prefix(p.second);
      pos += p.second;
      if (!remove_ws_) prev_space = false;
    }
    if (remove_ws_) {
      const std::string_view space = escape_ ? kSpaceSymbol : std::string_view(" ");
      while (out.size() >= space.size() &&
             std::string_view(out).substr(out.size() - space.size()) == space) {
        out.resize(out.size() - space.size());
      }
      if (dst) dst->resize(out.size());
    }
    s = std::move(out);
  }

  Charsmap map_;
  bool dummy_, remove_ws_, escape_;
};

}  // namespace

std::unique_ptr<Normalizer> make_precompiled(const Json& j, const JsonPath& at) {
  const JsonPath here = at / "precompiled_charsmap";
  const std::string blob = base64_decode(get_string(j, "precompiled_charsmap", at), here);
  return std::make_unique<Precompiled>(Charsmap(blob, *here.file + ": " + here.path));
}

std::unique_ptr<Normalizer> make_sentencepiece_normalizer(const Json& j, const JsonPath& at) {
  const JsonPath here = at / "precompiled_charsmap";
  const std::string blob = base64_decode(get_string(j, "precompiled_charsmap", at), here);
  return std::make_unique<SentencePieceNormalizer>(
      Charsmap(blob, *here.file + ": " + here.path), get_bool(j, "add_dummy_prefix", at, true),
      get_bool(j, "remove_extra_whitespaces", at, true),
      get_bool(j, "escape_whitespaces", at, true));
}

}  // namespace lazarus::tokenizers
