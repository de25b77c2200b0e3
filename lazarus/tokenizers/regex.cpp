// PCRE2 wrapper for tokenizer regexes (see regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lazarus/tokenizers/regex.h"

#include <pcre2.h>

#include "lazarus/core/error.h"

namespace lazarus::tokenizers {

namespace {

// White_Space as a class body (Rust `char::is_whitespace`, Oniguruma's Unicode `\s`). PCRE2's UCP
// `\s` would also take U+180E, which Unicode dropped from White_Space in 6.3.
constexpr std::string_view kSpaceBody =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

std::string pcre_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

struct ThreadMatcher {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatcher() {
    data = pcre2_match_data_create(1, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    if (ctx && stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~ThreadMatcher() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
  }
};

ThreadMatcher& thread_matcher() {
  thread_local ThreadMatcher m;
  return m;
}

}  // namespace

std::string rewrite_onig_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 64);
  int class_depth = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's' || n == 'S') {
        if (class_depth == 0) {
          out += (n == 's') ? "[" : "[^";
          out += kSpaceBody;
          out += "]";
        } else if (n == 's') {
          out += kSpaceBody;
        } else {
          out += "\\S";
        }
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[') {
      // A POSIX class like [:alpha:] inside a class does not open a new class.
      if (class_depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {
        const auto close = p.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(p.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += ']';
        ++i;
      }
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

std::string regex_escape(std::string_view literal) {
  std::string out = "\\Q";
  std::size_t start = 0;
  // \Q...\E cannot contain "\E"; split around it.
  for (std::size_t pos; (pos = literal.find("\\E", start)) != std::string_view::npos;) {
    out.append(literal.substr(start, pos - start));
    out += "\\E\\\\E\\Q";
    start = pos + 2;
  }
  out.append(literal.substr(start));
  out += "\\E";
  return out;
}

Regex::Regex(const std::string& pattern, const std::string& where) : pattern_(pattern) {
  const std::string rewritten = rewrite_onig_pattern(pattern);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NO_UTF_CHECK, &err,
                             &err_off, nullptr);
  if (!code) {
    throw LoadError(where + ": invalid regex '" + pattern + "': " + pcre_message(err) +
                    " at offset " + std::to_string(err_off));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is absent
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  auto& m = thread_matcher();
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, m.data, m.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("[regex] matching '" + pattern_ + "' failed: " + pcre_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.data);
    const std::size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {
      // Empty match: step over one character, as Rust's and Oniguruma's iterators do.
      if (b >= text.size()) break;
      pos = b + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
    }
  }
  return out;
}

}  // namespace lazarus::tokenizers
