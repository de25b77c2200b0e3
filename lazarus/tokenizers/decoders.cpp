// Decoder implementations (see decoders.h); semantics follow HF tokenizers' decoders/*.rs.
#include "lazarus/tokenizers/decoders.h"

#include "lazarus/tokenizers/pattern.h"
#include "lazarus/tokenizers/unicode.h"

namespace lazarus::tokenizers {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  std::size_t prev = 0;
  for (std::size_t pos; (pos = s.find(from, prev)) != std::string::npos; prev = pos + from.size()) {
    out.append(s, prev, pos - prev);
    out += to;
  }
  if (prev == 0) return;
  out.append(s, prev, std::string::npos);
  s = std::move(out);
}

class ByteLevelDec final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      // A token whose characters are all byte stand-ins becomes those bytes; any other token
      // (an added token such as "<|eot_id|>" with non-stand-in characters) is kept as is.
      const std::size_t mark = bytes.size();
      bool all = true;
      for (std::size_t i = 0; i < t.size();) {
        char32_t c;
        i += unicode::decode(t, i, c);
        const int b = unicode::unicode_to_byte(c);
        if (b < 0) {
          all = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!all) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, unicode::from_bytes_lossy(bytes));
  }
};

class MetaspaceDec final : public Decoder {
 public:
  MetaspaceDec(std::string repl, bool prepend) : repl_(std::move(repl)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      std::string out;
      out.reserve(t.size());
      for (std::size_t k = 0; k < t.size();) {
        if (t.compare(k, repl_.size(), repl_) == 0) {
          if (!(i == 0 && prepend_)) out += ' ';
          k += repl_.size();
        } else {
          out += t[k++];
        }
      }
      t = std::move(out);
    }
  }

 private:
  std::string repl_;
  bool prepend_;
};

class ByteFallbackDec final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::find_invalid(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (std::size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex(t[3], t[4]);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int parse_hex(char a, char b) {
    const int h = hex(a), l = hex(b);
    return (h < 0 || l < 0) ? -1 : h * 16 + l;
  }
};

class FuseDec final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDec final : public Decoder {
 public:
  StripDec(char32_t content, std::size_t start, std::size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::size_t b = 0;
      for (std::size_t k = 0; k < start_ && b < t.size(); ++k) {
        char32_t c;
        const std::size_t n = unicode::decode(t, b, c);
        if (c != content_) break;
        b += n;
      }
      std::size_t e = t.size();
      for (std::size_t k = 0; k < stop_ && e > b; ++k) {
        std::size_t p = e - 1;
        while (p > b && (static_cast<unsigned char>(t[p]) & 0xC0) == 0x80) --p;
        char32_t c;
        unicode::decode(t, p, c);
        if (c != content_) break;
        e = p;
      }
      t = t.substr(b, e - b);
    }
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class ReplaceDec final : public Decoder {
 public:
  ReplaceDec(std::shared_ptr<const Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      const auto m = re_->find_all(t);
      if (m.empty()) continue;
      std::string out;
      std::size_t prev = 0;
      for (const auto& [b, e] : m) {
        out.append(t, prev, b - prev);
        out += content_;
        prev = e;
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::shared_ptr<const Regex> re_;
  std::string content_;
};

class WordPieceDec final : public Decoder {
 public:
  WordPieceDec(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0)
          t.erase(0, prefix_.size());
        else
          t.insert(0, 1, ' ');
      }
      if (cleanup_) t = clean_up_tokenization(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class BpeDec final : public Decoder {
 public:
  explicit BpeDec(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

class SequenceDec final : public Decoder {
 public:
  explicit SequenceDec(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::string clean_up_tokenization(std::string s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
  return s;
}

std::unique_ptr<Decoder> make_decoder(const Json& j, const JsonPath& at) {
  const std::string type = get_string(j, "type", at);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (type == "Metaspace") {
    const std::string repl = get_string(j, "replacement", at);
    if (repl.empty()) (at / "replacement").fail("must not be empty");
    bool prepend = get_bool(j, "add_prefix_space", at, true);
    if (auto scheme = get_opt_string(j, "prepend_scheme", at)) {
      if (*scheme != "always" && *scheme != "first" && *scheme != "never") {
        (at / "prepend_scheme").fail("unknown prepend_scheme '" + *scheme + "'");
      }
      prepend = *scheme != "never";
    }
    return std::make_unique<MetaspaceDec>(repl, prepend);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (type == "Fuse") return std::make_unique<FuseDec>();
  if (type == "Strip") {
    const std::string content = get_string(j, "content", at);
    char32_t c = 0;
    if (content.empty() || unicode::decode(content, 0, c) != content.size()) {
      (at / "content").fail("expected one character, got '" + content + "'");
    }
    const auto start = get_int(j, "start", at, 0), stop = get_int(j, "stop", at, 0);
    if (start < 0 || stop < 0) at.fail("start/stop must be >= 0");
    return std::make_unique<StripDec>(c, static_cast<std::size_t>(start),
                                      static_cast<std::size_t>(stop));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDec>(make_pattern(require(j, "pattern", at), at / "pattern"),
                                        get_string(j, "content", at));
  }
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDec>(get_opt_string(j, "prefix", at).value_or("##"),
                                          get_bool(j, "cleanup", at, true));
  }
  if (type == "BPEDecoder") {
    return std::make_unique<BpeDec>(get_opt_string(j, "suffix", at).value_or("</w>"));
  }
  if (type == "Sequence") {
    const Json& arr = require_array(j, "decoders", at);
    std::vector<std::unique_ptr<Decoder>> parts;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      parts.push_back(make_decoder(arr[i], (at / "decoders")[i]));
    }
    return std::make_unique<SequenceDec>(std::move(parts));
  }
  (at / "type").fail("unsupported decoder type '" + type + "'");
}

}  // namespace lazarus::tokenizers
