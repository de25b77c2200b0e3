// tokenizer_config.json reading: the real configs in tests/data/chat_templates/, AddedToken
// objects, named template lists, and clear LoadErrors on malformed input.
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lt = lazarus::tokenizers;
using nlohmann::json;

namespace {
const std::string kData = LAZARUS_CHAT_TEMPLATE_DATA;

std::string load_error(const json& j) {
  try {
    lt::TokenizerConfig::from_json(j, "cfg.json");
  } catch (const lazarus::LoadError& e) {
    return e.what();
  }
  return "NO EXCEPTION";
}
}  // namespace

TEST(TokenizerConfig, RealConfigs) {
  auto llama = lt::TokenizerConfig::load(kData + "/llama3_1");
  EXPECT_EQ(llama.bos_token, "<|begin_of_text|>");
  EXPECT_EQ(llama.eos_token, "<|eot_id|>");
  EXPECT_EQ(llama.clean_up_tokenization_spaces, true);
  EXPECT_EQ(llama.model_max_length, INT64_MAX);  // 1e30 in the file
  EXPECT_EQ(llama.tokenizer_class, "PreTrainedTokenizerFast");
  EXPECT_TRUE(llama.has_chat_template());
  EXPECT_NE(llama.chat_template().find("add_generation_prompt"), std::string::npos);

  auto qwen = lt::TokenizerConfig::load(kData + "/qwen3/tokenizer_config.json");
  EXPECT_FALSE(qwen.bos_token.has_value());
  EXPECT_EQ(qwen.eos_token, "<|im_end|>");
  EXPECT_EQ(qwen.pad_token, "<|endoftext|>");
  EXPECT_EQ(qwen.add_bos_token, false);
  EXPECT_EQ(qwen.model_max_length, 131072);

  auto mistral = lt::TokenizerConfig::load(kData + "/mistral");
  EXPECT_EQ(mistral.unk_token, "<unk>");
  EXPECT_EQ(mistral.add_bos_token, true);
  EXPECT_EQ(mistral.add_eos_token, false);
  EXPECT_FALSE(mistral.has_chat_template());
  EXPECT_THROW(mistral.chat_template(), lazarus::ConfigError);

  auto gemma = lt::TokenizerConfig::load(kData + "/gemma3");
  EXPECT_EQ(gemma.bos_token, "<bos>");
  EXPECT_EQ(gemma.eos_token, "<end_of_turn>");
  EXPECT_EQ(gemma.model_max_length, 32768);
}

TEST(TokenizerConfig, AddedTokenObjectsAndNamedTemplates) {
  json j = json::parse(R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>", "pad_token": null,
    "chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]
  })");
  auto c = lt::TokenizerConfig::from_json(j);
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_FALSE(c.pad_token.has_value());
  EXPECT_EQ(c.chat_template(), "D");
  EXPECT_EQ(c.chat_template("tool_use"), "T");
  try {
    c.chat_template("rag");
    FAIL() << "expected ConfigError";
  } catch (const lazarus::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("available: default, tool_use"), std::string::npos)
        << e.what();
  }
  auto single = lt::TokenizerConfig::from_json(
      json::parse(R"({"chat_template": [{"name": "rag", "template": "R"}]})"));
  EXPECT_EQ(single.chat_template(), "R");  // the only template is the default
}

TEST(TokenizerConfig, MalformedInputNamesFieldAndValue) {
  EXPECT_NE(load_error(json::array()).find("cfg.json: expected a JSON object"), std::string::npos);
  std::string e = load_error({{"bos_token", 5}});
  EXPECT_NE(e.find("cfg.json: field 'bos_token'"), std::string::npos) << e;
  EXPECT_NE(e.find("number 5"), std::string::npos) << e;
  e = load_error({{"eos_token", {{"lstrip", true}}}});
  EXPECT_NE(e.find("eos_token.content"), std::string::npos) << e;
  e = load_error({{"add_bos_token", "yes"}});
  EXPECT_NE(e.find("field 'add_bos_token'"), std::string::npos) << e;
  e = load_error({{"model_max_length", -1}});
  EXPECT_NE(e.find("model_max_length"), std::string::npos) << e;
  e = load_error({{"chat_template", 3}});
  EXPECT_NE(e.find("field 'chat_template'"), std::string::npos) << e;
  e = load_error({{"chat_template", json::array({{{"name", "x"}}})}});
  EXPECT_NE(e.find("chat_template[0].template"), std::string::npos) << e;
  e = load_error({{"chat_template", json::array({{{"name", "x"}, {"template", "a"}},
                                                 {{"name", "x"}, {"template", "b"}}})}});
  EXPECT_NE(e.find("duplicate template name 'x'"), std::string::npos) << e;
}

TEST(TokenizerConfig, FilesAndFolders) {
  auto dir =
      std::filesystem::temp_directory_path() / ("lazarus_tokcfg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_THROW(lt::TokenizerConfig::load(dir), lazarus::LoadError);  // no tokenizer_config.json
  std::ofstream(dir / "tokenizer_config.json") << "{\"eos_token\": \"</s>\",";  // truncated
  try {
    lt::TokenizerConfig::load(dir);
    FAIL() << "expected LoadError";
  } catch (const lazarus::LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"eos_token": "</s>", "chat_template": "old"})";
  EXPECT_EQ(lt::TokenizerConfig::load(dir).chat_template(), "old");
  std::ofstream(dir / "chat_template.jinja") << "new {{ x }}";
  EXPECT_EQ(lt::TokenizerConfig::load(dir).chat_template(), "new {{ x }}");
  std::filesystem::remove_all(dir);
}
