// Test helper: runs the Hugging Face reference oracle (tests/reference/tokenizers_oracle.mjs, the
// npm `tokenizers` binding) on a tokenizer.json and returns its JSON output. The reference must be
// installed (`scripts/install-deps.sh --test` runs `npm ci` in tests/reference); a missing
// reference fails the test rather than skipping it.
#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace lazarus::tokenizers::testing {

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

/// Runs the oracle; throws std::runtime_error with a hint when the reference cannot run.
inline nlohmann::json run_oracle(const std::string& tokenizer_json, const std::string& corpus_json,
                                 const std::string& config_json = "") {
  const std::string ref_dir = LAZARUS_REFERENCE_DIR;
  if (!std::filesystem::exists(ref_dir + "/node_modules/tokenizers/package.json")) {
    throw std::runtime_error("the reference is not installed: run `npm ci` in " + ref_dir +
                             " (scripts/install-deps.sh --test does it)");
  }
  const std::string cmd = shell_quote(LAZARUS_NODE) + " " +
                          shell_quote(ref_dir + "/tokenizers_oracle.mjs") + " " +
                          shell_quote(tokenizer_json) + " " + shell_quote(corpus_json) +
                          (config_json.empty() ? "" : " " + shell_quote(config_json));
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run: " + cmd);
  std::string out;
  std::array<char, 65536> buf;
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;)
    out.append(buf.data(), n);
  const int rc = pclose(p);
  if (rc != 0)
    throw std::runtime_error("oracle failed (status " + std::to_string(rc) + "): " + cmd);
  return nlohmann::json::parse(out);
}

}  // namespace lazarus::tokenizers::testing
