// Lexer of the chat-template Jinja subset. The preprocessing passes mirror what @huggingface/jinja
// applies to every template (it renders with lstrip_blocks and trim_blocks on), and keep a map from
// each output byte to its source offset so errors can name the original line and column.
#include "lazarus/tokenizers/jinja_lexer.h"

#include <algorithm>
#include <cctype>

#include <utf8proc.h>

#include "lazarus/tokenizers/jinja_value.h"

namespace lazarus::tokenizers::jinja {

namespace {

// Text with the source offset of each byte.
struct Mapped {
  std::string text;
  std::vector<size_t> src;
};

Mapped compact(const Mapped& in, const std::vector<bool>& keep) {
  Mapped out;
  out.text.reserve(in.text.size());
  out.src.reserve(in.text.size());
  for (size_t k = 0; k < in.text.size(); ++k) {
    if (!keep[k]) continue;
    out.text += in.text[k];
    out.src.push_back(in.src[k]);
  }
  return out;
}

// lstrip_blocks: spaces/tabs at the start of a line before "{%", "{#" or "{-" are dropped.
// trim_blocks: a newline right after "%}", "#}" or "-}" is dropped.
Mapped strip_blocks(const Mapped& in) {
  const std::string& s = in.text;
  std::vector<bool> keep(s.size(), true);
  for (size_t k = 0; k < s.size(); ++k) {
    bool line_start = k == 0 || s[k - 1] == '\n' || s[k - 1] == '\r';
    if (!line_start) continue;
    size_t e = k;
    while (e < s.size() && (s[e] == ' ' || s[e] == '\t')) ++e;
    if (e > k && e + 1 < s.size() && s[e] == '{' &&
        (s[e + 1] == '%' || s[e + 1] == '#' || s[e + 1] == '-'))
      std::fill(keep.begin() + static_cast<long>(k), keep.begin() + static_cast<long>(e), false);
  }
  Mapped mid = compact(in, keep);
  const std::string& t = mid.text;
  std::vector<bool> keep2(t.size(), true);
  for (size_t k = 2; k < t.size(); ++k) {
    if (t[k] == '\n' && t[k - 1] == '}' && (t[k - 2] == '%' || t[k - 2] == '#' || t[k - 2] == '-'))
      keep2[k] = false;
  }
  return compact(mid, keep2);
}

bool ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Removes "{% generation %}" / "{% endgeneration %}" tags (with their "-" trimming), which only
// mark assistant spans for training masks.
Mapped drop_generation_tags(const Mapped& in) {
  const std::string& s = in.text;
  std::vector<bool> keep(s.size(), true);
  size_t k = 0;
  while ((k = s.find("{%", k)) != std::string::npos) {
    size_t p = k + 2;
    bool lstrip = p < s.size() && s[p] == '-';
    if (lstrip) ++p;
    while (p < s.size() && ascii_space(s[p])) ++p;
    if (s.compare(p, 3, "end") == 0) p += 3;
    if (s.compare(p, 10, "generation") != 0) {
      k += 2;
      continue;
    }
    p += 10;
    while (p < s.size() && ascii_space(s[p])) ++p;
    bool rstrip = p < s.size() && s[p] == '-';
    if (rstrip) ++p;
    if (s.compare(p, 2, "%}") != 0) {
      k += 2;
      continue;
    }
    size_t end = p + 2;
    size_t before = k;
    while (before > 0 && ascii_space(s[before - 1]) && keep[before - 1]) --before;
    size_t after = end;
    while (after < s.size() && ascii_space(s[after])) ++after;
    // Plain tags keep the surrounding whitespace; "-" drops the side it points to.
    size_t from = lstrip ? before : k;
    size_t to = rstrip ? after : end;
    std::fill(keep.begin() + static_cast<long>(from), keep.begin() + static_cast<long>(to), false);
    k = to;
  }
  return compact(in, keep);
}

class Lexer {
 public:
  Lexer(std::string_view source, Mapped m) : source_(source), m_(std::move(m)) {
    line_starts_.push_back(0);
    for (size_t k = 0; k < source_.size(); ++k)
      if (source_[k] == '\n') line_starts_.push_back(k + 1);
  }

  std::vector<Token> run() {
    const std::string& s = m_.text;
    while (pos_ < s.size()) {
      lex_text();
      if (pos_ >= s.size()) break;
      if (s.compare(pos_, 2, "{#") == 0) {
        lex_comment();
      } else {
        lex_tag();
      }
    }
    push(TokenType::End, "", s.size());
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& msg) const {
    auto [line, col] = line_col(at);
    throw TemplateError("chat template: line " + std::to_string(line) + ", column " +
                        std::to_string(col) + ": syntax error: " + msg);
  }

  std::pair<int, int> line_col(size_t at) const {
    size_t off = at < m_.src.size() ? m_.src[at] : source_.size();
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    return {static_cast<int>(line), static_cast<int>(off - line_starts_[line - 1] + 1)};
  }

  void push(TokenType type, std::string text, size_t at) {
    auto [line, col] = line_col(at);
    tokens_.push_back(Token{type, std::move(text), line, col});
  }

  bool at_tag_start(size_t p) const {
    const std::string& s = m_.text;
    return p + 1 < s.size() && s[p] == '{' &&
           (s[p + 1] == '%' || s[p + 1] == '{' || s[p + 1] == '#');
  }

  void lex_text() {
    size_t start = pos_;
    while (pos_ < m_.text.size() && !at_tag_start(pos_)) ++pos_;
    if (pos_ > start) push(TokenType::Text, m_.text.substr(start, pos_ - start), start);
  }

  // "{%-" / "{{-" / "{#-": trailing whitespace of the text before goes.
  void strip_previous_text() {
    if (tokens_.empty() || tokens_.back().type != TokenType::Text) return;
    tokens_.back().text = js_trim(tokens_.back().text, false, true);
    if (tokens_.back().text.empty()) tokens_.pop_back();
  }

  // "-%}" / "-}}" / "-#}": leading whitespace of the text after goes.
  void skip_following_space() {
    const std::string& s = m_.text;
    while (pos_ < s.size()) {
      utf8proc_int32_t cp = 0;
      auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + pos_),
                                static_cast<utf8proc_ssize_t>(s.size() - pos_), &cp);
      if (n <= 0 || !is_js_space(static_cast<uint32_t>(cp))) break;
      pos_ += static_cast<size_t>(n);
    }
  }

  void lex_comment() {
    const std::string& s = m_.text;
    size_t open = pos_;
    pos_ += 2;
    if (pos_ < s.size() && s[pos_] == '-') strip_previous_text();
    size_t close = s.find("#}", pos_);
    if (close == std::string::npos) fail(open, "comment '{#' is never closed with '#}'");
    bool strip_after = close > pos_ && s[close - 1] == '-';
    pos_ = close + 2;
    if (strip_after) skip_following_space();
  }

  void lex_tag() {
    const std::string& s = m_.text;
    size_t open = pos_;
    bool is_stmt = s[pos_ + 1] == '%';
    pos_ += 2;
    if (pos_ < s.size() && s[pos_] == '-') {
      strip_previous_text();
      ++pos_;
    }
    push(is_stmt ? TokenType::OpenStmt : TokenType::OpenExpr, is_stmt ? "{%" : "{{", open);
    int curly_depth = 0;
    const char* close = is_stmt ? "%}" : "}}";
    while (true) {
      while (pos_ < s.size() && ascii_space(s[pos_])) ++pos_;
      if (pos_ >= s.size())
        fail(open, std::string("tag '") + (is_stmt ? "{%" : "{{") + "' is never closed with '" +
                       close + "'");
      if (s[pos_] == '-' && s.compare(pos_ + 1, 2, close) == 0 && curly_depth == 0) {
        push(is_stmt ? TokenType::CloseStmt : TokenType::CloseExpr, close, pos_);
        pos_ += 3;
        skip_following_space();
        return;
      }
      if (s.compare(pos_, 2, close) == 0 && (is_stmt || curly_depth == 0)) {
        push(is_stmt ? TokenType::CloseStmt : TokenType::CloseExpr, close, pos_);
        pos_ += 2;
        return;
      }
      lex_one(curly_depth);
    }
  }

  void lex_one(int& curly_depth) {
    const std::string& s = m_.text;
    size_t start = pos_;
    char c = s[pos_];
    if (c == '\'' || c == '"') {
      push(TokenType::String, lex_string(c), start);
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      while (pos_ < s.size() && std::isdigit(static_cast<unsigned char>(s[pos_]))) ++pos_;
      bool after_dot =
          !tokens_.empty() && tokens_.back().type == TokenType::Op && tokens_.back().text == ".";
      if (!after_dot && pos_ + 1 < s.size() && s[pos_] == '.' &&
          std::isdigit(static_cast<unsigned char>(s[pos_ + 1]))) {
        ++pos_;
        while (pos_ < s.size() && std::isdigit(static_cast<unsigned char>(s[pos_]))) ++pos_;
        push(TokenType::Float, s.substr(start, pos_ - start), start);
      } else {
        push(TokenType::Integer, s.substr(start, pos_ - start), start);
      }
      return;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[pos_])) || s[pos_] == '_'))
        ++pos_;
      push(TokenType::Name, s.substr(start, pos_ - start), start);
      return;
    }
    static const char* kOps[] = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[",
                                 "]",  "{",  "}",  ",",  ".",  ":",  "|", "<", ">",
                                 "+",  "-",  "*",  "/",  "%",  "~",  "="};
    for (const char* op : kOps) {
      size_t n = std::char_traits<char>::length(op);
      if (s.compare(pos_, n, op) == 0) {
        if (op[0] == '{' && n == 1) ++curly_depth;
        if (op[0] == '}' && n == 1) --curly_depth;
        push(TokenType::Op, op, start);
        pos_ += n;
        return;
      }
    }
    fail(start, std::string("unexpected character '") + c + "'");
  }

  std::string lex_string(char quote) {
    const std::string& s = m_.text;
    size_t open = pos_++;
    std::string out;
    while (true) {
      if (pos_ >= s.size()) fail(open, "string literal is never closed");
      char c = s[pos_++];
      if (c == quote) return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s.size()) fail(open, "string literal is never closed");
      char e = s[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case 'x':
        case 'u': {
          size_t len = e == 'x' ? 2 : 4;
          if (pos_ + len > s.size()) fail(pos_ - 2, std::string("invalid escape \\") + e);
          uint32_t cp = 0;
          for (size_t k = 0; k < len; ++k) {
            char h = s[pos_ + k];
            if (!std::isxdigit(static_cast<unsigned char>(h)))
              fail(pos_ - 2, std::string("invalid escape \\") + e);
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                     ? h - '0'
                                                     : (std::tolower(h) - 'a' + 10));
          }
          pos_ += len;
          utf8proc_uint8_t buf[4];
          auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
          out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
          break;
        }
        default:  // Python keeps unknown escapes as written
          out += '\\';
          out += e;
      }
    }
  }

  std::string_view source_;
  Mapped m_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  Mapped m;
  m.text.assign(source);
  m.src.resize(source.size());
  for (size_t k = 0; k < source.size(); ++k) m.src[k] = k;
  if (!m.text.empty() && m.text.back() == '\n') {
    m.text.pop_back();
    m.src.pop_back();
  }
  m = drop_generation_tags(strip_blocks(m));
  return Lexer(source, std::move(m)).run();
}

}  // namespace lazarus::tokenizers::jinja
