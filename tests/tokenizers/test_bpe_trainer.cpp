// The byte-level BPE trainer against Hugging Face's BpeTrainer (npm `tokenizers`, run at test
// time): on the same text, HF's default options give the same vocabulary and merges, the other
// options give HF's merge sequence cut where they say, and the trained tokenizer encodes and
// decodes exactly as HF does with that tokenizer.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/bpe_trainer.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "oracle_util.h"

namespace lazarus::tokenizers {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Training text: the stress corpus (every script, emoji, whitespace runs, code) and the project's
// own docs (plenty of English prose and code to make long merges from).
class BpeTrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("lazarus_bpe_trainer_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    std::ofstream out(*dir_ / "corpus.txt", std::ios::binary);
    for (const json& t : json::parse(read(LAZARUS_TOKENIZER_CORPUS))) {
      const std::string s = t.get<std::string>();
      if (s.size() < 5000) out << s << "\n";  // the 10k-character word would dominate nothing
    }
    for (const auto& e : fs::directory_iterator(fs::path(LAZARUS_SOURCE_DIR) / "docs"))
      if (e.path().extension() == ".md") out << read(e.path());
    out << read(fs::path(LAZARUS_SOURCE_DIR) / "README.md");
    out.close();
    const std::string cmd =
        testing::shell_quote(LAZARUS_NODE) + " " +
        testing::shell_quote(std::string(LAZARUS_REFERENCE_DIR) + "/bpe_train_oracle.mjs") + " " +
        testing::shell_quote((*dir_ / "corpus.txt").string()) + " " +
        testing::shell_quote((*dir_ / "hf.json").string());
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    hf_ = new json(json::parse(read(*dir_ / "hf.json")));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
    delete hf_;
  }
  static json train(const BpeTrainerOptions& o) {
    BpeTrainer t(o);
    t.feed_file((*dir_ / "corpus.txt").string());
    return json::parse(t.train());
  }
  static std::vector<std::vector<std::string>> merges(const json& tok) {
    std::vector<std::vector<std::string>> out;
    for (const json& m : tok.at("model").at("merges")) {
      if (m.is_string()) {  // "a b" (older layout)
        const std::string s = m;
        const auto sp = s.find(' ');
        out.push_back({s.substr(0, sp), s.substr(sp + 1)});
      } else {
        out.push_back(m.get<std::vector<std::string>>());
      }
    }
    return out;
  }
  static fs::path* dir_;
  static json* hf_;
};
fs::path* BpeTrainerTest::dir_ = nullptr;
json* BpeTrainerTest::hf_ = nullptr;

TEST_F(BpeTrainerTest, HfDefaultsGiveHfVocabularyAndMerges) {
  BpeTrainerOptions o;
  o.vocab_size = 30000;
  o.min_frequency = 0;
  o.full_byte_alphabet = false;
  const json ours = train(o);
  const auto hf_merges = merges(*hf_);
  ASSERT_GT(hf_merges.size(), 2000u) << "corpus too small to be a real check";
  EXPECT_EQ(merges(ours), hf_merges);
  EXPECT_EQ(ours.at("model").at("vocab"), hf_->at("model").at("vocab"));
  EXPECT_EQ(ours.at("pre_tokenizer"), hf_->at("pre_tokenizer"));
}

// Special tokens shift every id by the same amount and the full byte alphabet adds symbols without
// reordering the seen ones, so merge ties break the same way: the merges are HF's, cut by the
// vocabulary size. Ids: special tokens, the 256 byte symbols sorted by code point, merged tokens.
TEST_F(BpeTrainerTest, SmallVocabWithSpecialsIsHfMergePrefix) {
  BpeTrainerOptions o;
  o.vocab_size = 1000;
  o.min_frequency = 0;
  o.special_tokens = {"<|endoftext|>", "<|pad|>"};
  o.full_byte_alphabet = true;
  const json ours = train(o);
  const auto got = merges(ours);
  const auto hf = merges(*hf_);
  ASSERT_EQ(got.size(), 1000u - 2 - 256);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), hf.begin()));
  const json& vocab = ours.at("model").at("vocab");
  EXPECT_EQ(vocab.size(), 1000u);
  EXPECT_EQ(vocab.at("<|endoftext|>"), 0);
  EXPECT_EQ(vocab.at("<|pad|>"), 1);
  EXPECT_EQ(vocab.at("!"), 2);  // U+0021, the smallest byte-level symbol
  EXPECT_EQ(vocab.at(got.front()[0] + got.front()[1]), 258);
  EXPECT_EQ(vocab.at(got.back()[0] + got.back()[1]), 999);
  ASSERT_EQ(ours.at("added_tokens").size(), 2u);
  EXPECT_TRUE(ours.at("added_tokens")[0].at("special").get<bool>());
}

TEST_F(BpeTrainerTest, MinFrequencyStopsEarlierOnHfSequence) {
  BpeTrainerOptions o;
  o.vocab_size = 30000;
  o.min_frequency = 20;
  o.full_byte_alphabet = false;
  const auto got = merges(train(o));
  const auto hf = merges(*hf_);
  EXPECT_GT(got.size(), 50u);
  EXPECT_LT(got.size(), hf.size());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), hf.begin()));
}

// The trained tokenizer.json, loaded by HF and by us, encodes and decodes the stress corpus the
// same way; byte-level with the full alphabet round-trips every valid text.
TEST_F(BpeTrainerTest, TrainedTokenizerEncodesLikeHf) {
  BpeTrainerOptions o;
  o.vocab_size = 2000;
  o.special_tokens = {"<|endoftext|>"};
  BpeTrainer t(o);
  t.feed_file((*dir_ / "corpus.txt").string());
  const fs::path path = *dir_ / "trained.json";
  std::ofstream(path, std::ios::binary) << t.train();
  const Tokenizer tok = Tokenizer::from_file(path.string());
  json ref;
  ASSERT_NO_THROW(ref = testing::run_oracle(path.string(), LAZARUS_TOKENIZER_CORPUS));
  int mismatches = 0;
  for (const json& c : ref.at("cases")) {
    const std::string text = c.at("text");
    const auto want = c.at("with_special").at("ids").get<std::vector<std::uint32_t>>();
    const auto got = tok.encode_ids(text, true);
    if (got != want) ++mismatches;
    if (tok.decode(got, false) != c.at("decode").get<std::string>()) ++mismatches;
    if (tok.decode(got, false) != text) ++mismatches;
  }
  EXPECT_GT(ref.at("cases").size(), 100u);
  EXPECT_EQ(mismatches, 0);
}

TEST(BpeTrainerErrors, BadInputIsAClearError) {
  BpeTrainerOptions o;
  o.special_tokens = {"<s>", "<s>"};
  EXPECT_THROW(BpeTrainer{o}, Error);
  o.special_tokens = {""};
  EXPECT_THROW(BpeTrainer{o}, Error);
  o.special_tokens = {};
  o.vocab_size = 0;
  EXPECT_THROW(BpeTrainer{o}, Error);
  o.vocab_size = 100;
  BpeTrainer t(o);
  try {
    t.feed("ok \xff\xfe");
    FAIL() << "invalid UTF-8 accepted";
  } catch (const EncodeError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
  try {
    t.feed_file("/nonexistent/corpus.txt");
    FAIL() << "missing file accepted";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/corpus.txt"), std::string::npos);
  }
  // Nothing fed: a vocabulary of the special tokens and alphabet only, still a valid tokenizer.
  const json empty = json::parse(BpeTrainer(o).train());
  EXPECT_EQ(empty.at("model").at("merges").size(), 0u);
  EXPECT_EQ(empty.at("model").at("vocab").size(), 256u);
}

}  // namespace
}  // namespace lazarus::tokenizers
