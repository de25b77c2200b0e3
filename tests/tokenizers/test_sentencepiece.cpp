// SentencePiece tokenizer.model files: tiny BPE and Unigram models trained at test time by the real
// SentencePiece (tests/reference/sentencepiece_oracle.py, spm_train), loaded here without
// libsentencepiece and compared with the library's own encode / decode over the stress corpus.
// The same models converted the way transformers does it (HF's Precompiled normalizer with the
// model's real nmt_nfkc charsmap, Metaspace) are compared with HF tokenizers (npm). Truncated and
// mutated model files must give a LoadError, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/sentencepiece.h"
#include "lazarus/tokenizers/tokenizer.h"
#include "oracle_util.h"

namespace lazarus::tokenizers {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kRefDir = LAZARUS_SPM_REFERENCE;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string show(const std::string& s) {
  std::string out = s.substr(0, 80);
  for (auto& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s.size() > 80 ? out + "...(" + std::to_string(s.size()) + " bytes)" : out;
}

template <class T>
std::string show_vec(const std::vector<T>& v) {
  std::ostringstream o;
  for (std::size_t i = 0; i < v.size() && i < 30; ++i) o << (i ? "," : "[") << v[i];
  return o.str() + (v.size() > 30 ? ",...]" : "]");
}

class SentencePiece : public ::testing::TestWithParam<std::string> {};

// Our tokenizer.model loader against the SentencePiece library itself.
TEST_P(SentencePiece, MatchesTheLibrary) {
  const fs::path dir = fs::path(kRefDir) / GetParam();
  ASSERT_TRUE(fs::exists(dir / "reference.json"))
      << "the reference was not produced (test sentencepiece_reference)";
  const json ref = json::parse(read(dir / "reference.json"));
  const Tokenizer tok = Tokenizer::from_file(dir.string());  // the folder has only tokenizer.model
  const auto control = ref.at("control").get<std::vector<std::string>>();
  const auto unk = ref.at("unk_id").get<std::uint32_t>();
  int compared = 0, mismatches = 0, decoded = 0;
  std::ostringstream log;
  auto fail = [&](const std::string& what) {
    if (++mismatches <= 12) log << what << "\n";
  };
  for (const json& c : ref.at("cases")) {
    const std::string text = c.at("text");
    // SentencePiece reads "<s>" in text as plain text; as transformers, we read it as the control
    // token (checked against HF below), so those texts are not comparable with the library.
    bool has_control = false;
    for (const auto& t : control) has_control |= text.find(t) != std::string::npos;
    if (has_control || text.find("<unk>") != std::string::npos) continue;
    ++compared;
    const auto want = c.at("ids").get<std::vector<std::uint32_t>>();
    const Encoding got = tok.encode(text, false);
    if (got.ids != want) {
      fail("encode '" + show(text) + "'\n  ours " + show_vec(got.ids) + "\n  spm  " +
           show_vec(want));
      continue;
    }
    // Token strings: the library names an unknown piece "<unk>"; HF (and we) keep its text.
    const auto pieces = c.at("pieces").get<std::vector<std::string>>();
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (want[i] != unk && got.tokens[i] != pieces[i]) {
        fail("piece " + std::to_string(i) + " differs for '" + show(text) + "': '" + got.tokens[i] +
             "' vs '" + pieces[i] + "'");
        break;
      }
    }
    // SentencePiece decodes <unk> as " ⁇ ", transformers as "<unk>": compare the rest.
    if (std::find(want.begin(), want.end(), unk) != want.end()) continue;
    ++decoded;
    const std::string d = tok.decode(want, true);
    if (d != c.at("decode").get<std::string>())
      fail("decode " + show_vec(want) + "\n  ours '" + show(d) + "'\n  spm  '" +
           show(c.at("decode").get<std::string>()) + "'");
    auto stream = tok.decode_stream(true);
    std::string streamed;
    for (auto id : want) streamed += stream.step(id);
    if (streamed + stream.finish() != d) fail("stream decode differs for '" + show(text) + "'");
  }
  EXPECT_GT(compared, 150);
  EXPECT_EQ(mismatches, 0) << mismatches << " mismatches vs " << ref.at("reference") << ":\n"
                           << log.str();
  std::printf("[sentencepiece] %s: %d texts encoded, %d decoded, %d mismatches vs %s\n",
              GetParam().c_str(), compared, decoded, mismatches,
              ref.at("reference").get<std::string>().c_str());
}

// The transformers-style conversion (HF's Precompiled normalizer fed the model's real charsmap,
// Metaspace pre-tokenizer) against HF tokenizers (npm) on the same JSON: ids, tokens, offsets.
TEST_P(SentencePiece, TransformersConversionMatchesHuggingFace) {
  const fs::path dir = fs::path(kRefDir) / GetParam();
  const auto model = SentencePieceModel::parse(read(dir / "tokenizer.model"), "tokenizer.model");
  const json j = sentencepiece_to_tokenizer_json(model, "tokenizer.model", SpmFlavor::Transformers);
  const fs::path file = dir / "hf_tokenizer.json";
  std::ofstream(file) << j.dump();
  const Tokenizer tok = Tokenizer::from_file(file.string());
  json ref;
  ASSERT_NO_THROW(
      ref = testing::run_oracle(file.string(), (fs::path(kRefDir) / "texts.json").string()));
  int mismatches = 0;
  std::size_t offsets_equal = 0;
  std::ostringstream log;
  for (const json& c : ref.at("cases")) {
    const std::string text = c.at("text");
    for (const bool special : {true, false}) {
      const auto want = c.at(special ? "with_special" : "without_special")
                            .at("ids")
                            .get<std::vector<std::uint32_t>>();
      const auto got = tok.encode(text, special);
      if (got.ids != want) {
        if (++mismatches <= 12)
          log << "encode '" << show(text) << "'\n  ours " << show_vec(got.ids) << "\n  HF   "
              << show_vec(want) << "\n";
      } else if (got.tokens != c.at(special ? "with_special" : "without_special")
                                   .at("tokens")
                                   .get<std::vector<std::string>>()) {
        if (++mismatches <= 12) log << "tokens differ for '" << show(text) << "'\n";
      } else if (json(got.offsets) !=
                 c.at(special ? "with_special" : "without_special").at("offsets")) {
        if (++mismatches <= 12)
          log << "offsets differ for '" << show(text) << "'\n  ours " << json(got.offsets).dump()
              << "\n  HF   "
              << c.at(special ? "with_special" : "without_special").at("offsets").dump() << "\n";
      } else {
        offsets_equal += got.offsets.size();
      }
    }
    const auto ids = c.at("with_special").at("ids").get<std::vector<std::uint32_t>>();
    if (tok.decode(ids, false) != c.at("decode").get<std::string>() ||
        tok.decode(ids, true) != c.at("decode_skip").get<std::string>()) {
      if (++mismatches <= 12) log << "decode differs for '" << show(text) << "'\n";
    }
  }
  EXPECT_EQ(mismatches, 0) << mismatches << " mismatches vs " << ref.at("reference") << ":\n"
                           << log.str();
  std::printf(
      "[sentencepiece] %s (transformers conversion): %zu texts, %zu token offsets equal, %d "
      "mismatches vs %s\n",
      GetParam().c_str(), ref.at("cases").size(), offsets_equal, mismatches,
      ref.at("reference").get<std::string>().c_str());
}

// Truncations and random byte mutations of a real model file: a LoadError or a working
// tokenizer, never a crash (run under ASan/UBSan in the sanitizer build).
TEST_P(SentencePiece, DamagedFilesFailCleanly) {
  const std::string data = read(fs::path(kRefDir) / GetParam() / "tokenizer.model");
  std::mt19937 rng(7);
  int errors = 0, loaded = 0;
  auto attempt = [&](const std::string& bytes) {
    try {
      const json j = sentencepiece_to_tokenizer_json(bytes, "tokenizer.model");
      const Tokenizer tok =
          Tokenizer::from_json(j.dump(-1, ' ', false, json::error_handler_t::replace));
      (void)tok.encode("Hello wörld 123 日本", true);
      ++loaded;
    } catch (const LoadError&) {
      ++errors;
    }
  };
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{5},
                          data.size() / 3, data.size() / 2, data.size() - 1}) {
    attempt(data.substr(0, cut));
  }
  for (int i = 0; i < 40; ++i) {
    std::string m = data;
    for (int k = 0; k < 1 + i % 4; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    attempt(m);
  }
  attempt(std::string(1000, '\xff'));
  attempt("\x0a\xff\xff\xff\xff\x0f");
  EXPECT_GT(errors, 5);
  std::printf("[sentencepiece] %s: damaged files: %d LoadErrors, %d still loadable\n",
              GetParam().c_str(), errors, loaded);
}

INSTANTIATE_TEST_SUITE_P(Trained, SentencePiece,
                         ::testing::Values("bpe_bytefallback_nfkc", "unigram_nfkc",
                                           "unigram_bytefallback_identity", "bpe_no_dummy_prefix"),
                         [](const auto& info) { return info.param; });

TEST(SentencePieceErrors, ClearMessages) {
  auto message = [](const std::string& bytes) -> std::string {
    try {
      SentencePieceModel::parse(bytes, "m.model");
    } catch (const LoadError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message("").find("m.model: byte 0"), std::string::npos) << message("");
  EXPECT_NE(message("\x0a\x05\x0a").find("runs past the end"), std::string::npos);
  EXPECT_NE(message("\x0a").find("truncated varint"), std::string::npos);
  EXPECT_NE(message("{\"model\": 1}").find("m.model"), std::string::npos);
}

}  // namespace
}  // namespace lazarus::tokenizers
