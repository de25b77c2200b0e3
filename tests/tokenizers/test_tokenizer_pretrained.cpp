// A model folder loaded with its tokenizer_config.json (Tokenizer::from_file on a folder) against
// HF tokenizers (npm) set up the way transformers does it from the same config: special tokens
// added when missing, add_bos_token / add_eos_token rewriting the post-processor into
// TemplateProcessing. The real configs as shipped plus edited variants.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "lazarus/tokenizers/tokenizer.h"
#include "lazarus/tokenizers/tokenizer_config.h"
#include "oracle_util.h"

namespace lazarus::tokenizers {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

struct ConfigCase {
  std::string name, source;  // source: folder in tests/data/tokenizers
  json edits;                // merged into its tokenizer_config.json
};

// A folder with the source's tokenizer.json and an edited tokenizer_config.json.
fs::path make_folder(const ConfigCase& c) {
  const fs::path src = fs::path(LAZARUS_TOKENIZER_DATA) / c.source;
  const fs::path dir =
      fs::temp_directory_path() / ("lazarus_cfg_" + c.name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(src / "tokenizer.json", dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  json cfg = read_json(src / "tokenizer_config.json");
  for (auto it = c.edits.begin(); it != c.edits.end(); ++it) {
    if (it.value().is_string() && it.value() == "<remove>")
      cfg.erase(it.key());
    else
      cfg[it.key()] = it.value();
  }
  std::ofstream(dir / "tokenizer_config.json") << cfg.dump();
  return dir;
}

// A short corpus (the oracle adds its generated cases and the file's added tokens).
fs::path short_corpus() {
  const fs::path p =
      fs::temp_directory_path() / ("lazarus_cfg_corpus_" + std::to_string(::getpid()) + ".json");
  std::ofstream(p) << json{"Hello world",
                           "",
                           " ",
                           "It's 2024, caf\xC3\xA9!",
                           "<s> and </s> inside",
                           "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E text"}
                          .dump();
  return p;
}

class ConfigParity : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(ConfigParity, MatchesTransformersSetup) {
  const ConfigCase& c = GetParam();
  const fs::path dir = make_folder(c);
  const Tokenizer tok = Tokenizer::from_file(dir.string());
  ASSERT_NE(tok.config(), nullptr);
  json ref;
  ASSERT_NO_THROW(ref = testing::run_oracle((dir / "tokenizer.json").string(),
                                            short_corpus().string(),
                                            (dir / "tokenizer_config.json").string()));
  // The named special tokens and their ids (including ones transformers had to add).
  const std::pair<const char*, std::optional<NamedToken>> named[] = {
      {"bos_token", tok.bos_token()},
      {"eos_token", tok.eos_token()},
      {"unk_token", tok.unk_token()},
      {"pad_token", tok.pad_token()}};
  for (const auto& [key, got] : named) {
    const json* want = ref.at("named").contains(key) ? &ref.at("named").at(key) : nullptr;
    ASSERT_EQ(got.has_value(), want != nullptr) << key;
    if (want) {
      EXPECT_EQ(got->token, want->at(0).get<std::string>()) << key;
      EXPECT_EQ(got->id, want->at(1).get<std::uint32_t>()) << key;
    }
  }
  int mismatches = 0;
  std::ostringstream log;
  for (const json& e : ref.at("cases")) {
    const std::string text = e.at("text");
    for (const bool special : {true, false}) {
      const auto want = e.at(special ? "with_special" : "without_special")
                            .at("ids")
                            .get<std::vector<std::uint32_t>>();
      if (tok.encode(text, special).ids != want || tok.encode_ids(text, special) != want) {
        if (++mismatches <= 8)
          log << "encode(special=" << special << ") '" << text.substr(0, 60) << "'\n";
      }
    }
    const auto ids = e.at("with_special").at("ids").get<std::vector<std::uint32_t>>();
    if (tok.decode(ids, true) != e.at("decode_skip").get<std::string>()) {
      if (++mismatches <= 8) log << "decode(skip) '" << text.substr(0, 60) << "'\n";
    }
  }
  EXPECT_EQ(mismatches, 0) << log.str();
  std::printf("[config] %s: %zu texts, %d mismatches vs %s set up from the config\n",
              c.name.c_str(), ref.at("cases").size(), mismatches,
              ref.at("reference").get<std::string>().c_str());
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, ConfigParity,
    ::testing::Values(ConfigCase{"llama3_1_as_shipped", "llama3_1", json::object()},
                      ConfigCase{"mistral_as_shipped", "mistral", json::object()},
                      ConfigCase{"qwen3_as_shipped", "qwen3", json::object()},
                      ConfigCase{"mistral_add_eos", "mistral", json{{"add_eos_token", true}}},
                      ConfigCase{"mistral_no_bos", "mistral", json{{"add_bos_token", false}}},
                      ConfigCase{"llama3_bos_and_eos", "llama3",
                                 json{{"add_bos_token", true}, {"add_eos_token", true}}},
                      ConfigCase{"qwen3_bos_unset_new_pad", "qwen3",
                                 json{{"add_bos_token", true},
                                      {"add_eos_token", true},
                                      {"pad_token", "<|my_new_pad|>"}}},
                      ConfigCase{
                          "llama3_eos_object", "llama3",
                          json{{"add_eos_token", true},
                               {"eos_token", {{"content", "<|eot_id|>"}, {"lstrip", false}}}}}),
    [](const auto& info) { return info.param.name; });

TEST(Pretrained, ModelMaxLengthAndConfigAccessors) {
  const Tokenizer qwen = Tokenizer::from_file(std::string(LAZARUS_TOKENIZER_DATA) + "/qwen3");
  EXPECT_EQ(qwen.model_max_length(), 131072);
  ASSERT_TRUE(qwen.eos_token());
  EXPECT_EQ(qwen.eos_token()->id, qwen.token_to_id("<|im_end|>"));
  EXPECT_FALSE(qwen.bos_token());
  const Tokenizer llama = Tokenizer::from_file(std::string(LAZARUS_TOKENIZER_DATA) + "/llama3");
  EXPECT_EQ(llama.model_max_length(), INT64_MAX);  // 1e30 in the file
  // A tokenizer.json path alone applies no config.
  const Tokenizer bare =
      Tokenizer::from_file(std::string(LAZARUS_TOKENIZER_DATA) + "/qwen3/tokenizer.json");
  EXPECT_EQ(bare.config(), nullptr);
  EXPECT_FALSE(bare.eos_token());
  EXPECT_FALSE(bare.model_max_length());
}

TEST(Pretrained, FolderWithoutTokenizerSaysWhatIsMissing) {
  const fs::path dir = fs::temp_directory_path() / ("lazarus_empty_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  try {
    (void)Tokenizer::from_file(dir.string());
    ADD_FAILURE() << "no error";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lazarus::tokenizers
