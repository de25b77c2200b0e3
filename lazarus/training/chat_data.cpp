// Chat / instruction data rendering with prompt masking (see chat_data.h).
#include "lazarus/training/chat_data.h"

#include <fstream>

#include <fmt/format.h>

#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"

namespace lazarus::training {

using ojson = nlohmann::ordered_json;

ChatRenderer::ChatRenderer(const tokenizers::Tokenizer& tok,
                           std::optional<tokenizers::ChatTemplate> tmpl,
                           std::optional<std::string> bos, std::optional<std::string> eos)
    : tok_(tok), template_(std::move(tmpl)), bos_(std::move(bos)), eos_(std::move(eos)) {}

std::vector<int64_t> ChatRenderer::encode(const std::string& text) const {
  auto ids = tok_.encode_ids(text, /*add_special_tokens=*/false);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::string ChatRenderer::render_messages(const ojson& msgs, bool gen) const {
  tokenizers::ChatTemplateInputs in;
  in.messages = msgs;
  in.add_generation_prompt = gen;
  in.bos_token = bos_;
  in.eos_token = eos_;
  return template_->render(in);
}

namespace {
bool is_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}
}  // namespace

TokenizedExample ChatRenderer::render(const ojson& rec, const std::string& where) const {
  if (!rec.is_object()) throw ConfigError(fmt::format("{}: a record must be a JSON object", where));
  ojson msgs;
  if (rec.contains("messages")) {
    msgs = rec["messages"];
    if (!msgs.is_array() || msgs.empty())
      throw ConfigError(fmt::format("{}: 'messages' must be a non-empty list", where));
    for (size_t i = 0; i < msgs.size(); ++i) {
      const ojson& m = msgs[i];
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
          !m.contains("content") || !m["content"].is_string()) {
        throw ConfigError(
            fmt::format("{}: messages[{}] needs string 'role' and 'content'", where, i));
      }
    }
  } else if (rec.contains("prompt") && rec.contains("completion")) {
    if (!rec["prompt"].is_string() || !rec["completion"].is_string()) {
      throw ConfigError(fmt::format("{}: 'prompt' and 'completion' must be strings", where));
    }
    if (!template_) {
      // No chat template: plain text, prompt masked.
      std::string p = rec["prompt"].get<std::string>(),
                  full = p + rec["completion"].get<std::string>();
      if (eos_) full += *eos_;
      TokenizedExample ex;
      ex.ids = encode(full);
      auto pids = encode(p);
      if (!is_prefix(pids, ex.ids)) {
        throw ConfigError(fmt::format(
            "{}: the prompt's tokens are not a prefix of prompt+completion's "
            "(the boundary merges); end the prompt with a newline (a trailing space often "
            "merges with the completion's first word)",
            where));
      }
      ex.labels.assign(ex.ids.size(), -100);
      for (size_t i = pids.size(); i < ex.ids.size(); ++i) ex.labels[i] = ex.ids[i];
      return ex;
    }
    msgs = ojson::array({{{"role", "user"}, {"content", rec["prompt"]}},
                         {{"role", "assistant"}, {"content", rec["completion"]}}});
  } else {
    throw ConfigError(fmt::format("{}: expected 'messages' or 'prompt' + 'completion'", where));
  }
  if (!template_) {
    throw ConfigError(fmt::format(
        "{}: conversations need a chat template (the tokenizer_config.json has none)", where));
  }
  TokenizedExample ex;
  ex.ids = encode(render_messages(msgs, false));
  ex.labels.assign(ex.ids.size(), -100);
  bool any = false;
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (msgs[i]["role"] != "assistant") continue;
    any = true;
    ojson before = ojson::array(), upto = ojson::array();
    for (size_t j = 0; j < i; ++j) before.push_back(msgs[j]);
    upto = before;
    upto.push_back(msgs[i]);
    std::string pre_text = render_messages(before, true);
    if (pre_text == render_messages(before, false)) {
      // The template ignores add_generation_prompt (e.g. it always appends the assistant header):
      // where the reply ends cannot be told from the rendering.
      throw ConfigError(
          fmt::format("{}: the chat template ignores add_generation_prompt, so the prompt "
                      "cannot be masked exactly; use a template that honours it",
                      where));
    }
    auto pre = encode(pre_text);
    auto post = encode(render_messages(upto, false));
    if (!is_prefix(pre, post) || !is_prefix(post, ex.ids)) {
      throw ConfigError(
          fmt::format("{}: the chat template renders messages[0..{}) differently inside the "
                      "whole conversation, so the prompt cannot be masked exactly",
                      where, i));
    }
    for (size_t k = pre.size(); k < post.size(); ++k) ex.labels[k] = ex.ids[k];
  }
  if (!any) throw ConfigError(fmt::format("{}: no assistant message to learn from", where));
  return ex;
}

std::vector<TokenizedExample> ChatRenderer::render_file(const std::string& path) const {
  require_regular_file(path, "chat data file");  // not a FIFO or /dev/zero
  std::ifstream in(path);
  if (!in) throw LoadError(fmt::format("{}: cannot open", path));
  std::vector<TokenizedExample> out;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = fmt::format("{}:{}", path, n);
    ojson rec = parse_json_text<ojson, ConfigError>(line, where, 64);
    out.push_back(render(rec, where));
  }
  if (out.empty()) throw ConfigError(fmt::format("{}: no records", path));
  return out;
}

void fit_length(TokenizedExample& ex, int64_t seq_len, int64_t pad_id) {
  if (seq_len < 2) throw ConfigError(fmt::format("[data] seq_len must be >= 2, got {}", seq_len));
  ex.ids.resize(size_t(seq_len), pad_id);
  ex.labels.resize(size_t(seq_len), -100);
}

}  // namespace lazarus::training
