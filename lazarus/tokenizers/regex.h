// A compiled regular expression for tokenizer patterns: PCRE2 (UTF + UCP, JIT) with the pattern
// rewritten so that `\s` means what it means in Oniguruma / Rust (the White_Space property), which
// is what Hugging Face's tokenizers use. Safe to share between threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lazarus::tokenizers {

class Regex {
 public:
  /// Compiles `pattern`; throws lazarus::LoadError naming `where` and the PCRE2 message on failure.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// All non-overlapping matches in `text`, left to right, as byte ranges [begin, end).
  /// Empty matches are skipped. Throws lazarus::Error if the matcher hits a resource limit.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

/// Escapes `literal` so that PCRE2 matches it verbatim.
std::string regex_escape(std::string_view literal);
/// Rewrites `\s` / `\S` to explicit White_Space classes (exposed for tests).
std::string rewrite_onig_pattern(std::string_view pattern);

}  // namespace lazarus::tokenizers
