// Chat / instruction data: rendering with the real Llama 3.1 template and tokenizer, and the prompt
// masked out of the labels exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/tokenizer_config.h"
#include "lazarus/training/chat_data.h"

using namespace lazarus;
using ojson = nlohmann::ordered_json;

namespace {

struct Llama3 {
  explicit Llama3(const char* which = "llama3_1")
      : tok(tokenizers::Tokenizer::from_file(std::string(LAZARUS_DATA "/tokenizers/") + which +
                                             "/tokenizer.json")),
        cfg(tokenizers::TokenizerConfig::load(std::string(LAZARUS_DATA "/chat_templates/") + which +
                                              "/tokenizer_config.json")) {}
  training::ChatRenderer renderer() const {
    return training::ChatRenderer(tok, tokenizers::ChatTemplate(cfg.chat_template()), cfg.bos_token,
                                  cfg.eos_token);
  }
  tokenizers::Tokenizer tok;
  tokenizers::TokenizerConfig cfg;
};

std::string decode_labels(const tokenizers::Tokenizer& tok, const training::TokenizedExample& ex) {
  std::vector<uint32_t> kept;
  for (size_t i = 0; i < ex.labels.size(); ++i) {
    if (ex.labels[i] != -100) kept.push_back(uint32_t(ex.labels[i]));
  }
  return tok.decode(kept);
}

TEST(ChatData, OnlyAssistantRepliesAreLearned) {
  Llama3 l;
  auto r = l.renderer();
  ojson rec = ojson::parse(R"({"messages":[{"role":"system","content":"Be brief."},
    {"role":"user","content":"Capital of France?"},{"role":"assistant","content":"Paris."},
    {"role":"user","content":"And Italy?"},{"role":"assistant","content":"Rome."}]})");
  auto ex = r.render(rec, "mem:1");
  ASSERT_EQ(ex.ids.size(), ex.labels.size());
  // What is learned: both replies, each with its end-of-turn token, nothing from the prompt.
  EXPECT_EQ(decode_labels(l.tok, ex), "Paris.<|eot_id|>Rome.<|eot_id|>");
  // The whole sequence is the template's rendering.
  std::vector<uint32_t> all(ex.ids.begin(), ex.ids.end());
  EXPECT_NE(
      l.tok.decode(all).find("<|start_header_id|>user<|end_header_id|>\n\nAnd Italy?<|eot_id|>"),
      std::string::npos);
}

TEST(ChatData, TemplateThatIgnoresTheGenerationFlagIsRefused) {
  // The first Llama 3 template always appends the assistant header, so a conversation prefix does
  // not render as a prefix of the whole: masking would be guesswork, so it is an error.
  Llama3 l("llama3");
  try {
    l.renderer().render(ojson::parse(R"({"prompt":"2+2?","completion":"4"})"), "mem:5");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be masked exactly"), std::string::npos)
        << e.what();
  }
}

TEST(ChatData, PromptCompletionUsesTheTemplate) {
  Llama3 l;
  auto ex = l.renderer().render(ojson::parse(R"({"prompt":"2+2?","completion":"4"})"), "mem:2");
  EXPECT_EQ(decode_labels(l.tok, ex), "4<|eot_id|>");
  training::fit_length(ex, 8, 0);
  EXPECT_EQ(ex.ids.size(), 8u);
}

TEST(ChatData, PlainPromptCompletionWithoutTemplate) {
  Llama3 l;
  training::ChatRenderer r(l.tok, std::nullopt, std::nullopt, std::string("<|end_of_text|>"));
  auto ex = r.render(ojson::parse(R"({"prompt":"Q: 2+2?\nA:","completion":" 4"})"), "mem:3");
  EXPECT_EQ(decode_labels(l.tok, ex), " 4<|end_of_text|>");
  EXPECT_THROW(r.render(ojson::parse(R"({"messages":[{"role":"user","content":"x"}]})"), "mem:4"),
               ConfigError);
}

TEST(ChatData, BadRecordsNameTheLine) {
  Llama3 l;
  auto r = l.renderer();
  auto expect = [&](const char* json, const char* needle) {
    try {
      r.render(ojson::parse(json), "data.jsonl:7");
      FAIL() << json;
    } catch (const ConfigError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("data.jsonl:7"), std::string::npos) << m;
      EXPECT_NE(m.find(needle), std::string::npos) << m;
    }
  };
  expect(R"({"text":"x"})", "expected 'messages' or 'prompt'");
  expect(R"({"messages":[]})", "non-empty list");
  expect(R"({"messages":[{"role":"user","content":3}]})", "messages[0]");
  expect(R"({"messages":[{"role":"user","content":"hi"}]})", "no assistant message");
  auto path = std::filesystem::temp_directory_path() / "lazarus_chat_bad.jsonl";
  std::ofstream(path) << R"({"prompt":"a","completion":"b"})"
                      << "\n\n{not json\n";
  try {
    r.render_file(path.string());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lazarus_chat_bad.jsonl:3: invalid JSON"),
              std::string::npos)
        << e.what();
  }
  std::ofstream(path) << std::string(100, '[') << "\n";
  EXPECT_THROW(r.render_file(path.string()), ConfigError);
  std::filesystem::remove(path);
}

}  // namespace
