// Pair encoding, truncation (strategies, stride, direction, overflowing parts) and padding (to
// the longest / a fixed length, left / right, pad_to_multiple_of) against HF tokenizers (npm),
// run at test time (tests/reference/tokenizers_pairs_oracle.mjs) on the real tokenizers and the
// Bert / Roberta / template synthetic ones. The overflowing parts truncation cuts off are not
// compared as a whole (the npm binding's differ from HF's documented algorithm; see
// docs/tokenizers.md), but every part of HF's whose ids one of ours has must have its offsets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "lazarus/tokenizers/tokenizer.h"
#include "oracle_util.h"

namespace lazarus::tokenizers {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json settings_json() {
  json inputs = json::array();
  const std::string long_text =
      "The quick brown fox jumps over the lazy dog, then it's 2024 and caf\xC3\xA9 prices rise "
      "by 12.5% while everyone waits for the next train to arrive at the station.";
  for (const auto& [a, b] :
       std::vector<std::pair<std::string, std::string>>{{"Hello world", "How are you?"},
                                                        {long_text, "Short one."},
                                                        {"Tiny", long_text},
                                                        {long_text, long_text + " Again."},
                                                        {"", "only the second"},
                                                        {"x", ""}}) {
    inputs.push_back({a, b});
  }
  inputs.push_back({long_text, nullptr});
  inputs.push_back({"It's a single sequence \xF0\x9F\xA4\x96", nullptr});
  auto trunc = [](int max, int stride, const char* strategy, const char* dir) {
    return json{
        {"max_length", max}, {"stride", stride}, {"strategy", strategy}, {"direction", dir}};
  };
  auto pad = [](json length, const char* dir, json multiple, int id, int type, const char* token) {
    return json{{"length", length}, {"direction", dir},    {"pad_to_multiple_of", multiple},
                {"pad_id", id},     {"pad_type_id", type}, {"pad_token", token}};
  };
  json settings = json::array();
  const json cfgs[][2] = {
      {nullptr, nullptr},
      {trunc(12, 0, "LongestFirst", "Right"), nullptr},
      {trunc(14, 3, "LongestFirst", "Right"), nullptr},
      {trunc(13, 2, "LongestFirst", "Left"), nullptr},
      {trunc(11, 0, "OnlyFirst", "Right"), nullptr},
      {trunc(11, 1, "OnlySecond", "Left"), nullptr},
      {nullptr, pad(nullptr, "Right", nullptr, 0, 0, "[PAD]")},
      {nullptr, pad(40, "Left", 8, 3, 1, "<pad>")},
      {trunc(16, 4, "LongestFirst", "Right"), pad(nullptr, "Right", 8, 5, 2, "<pad>")},
  };
  for (const auto& c : cfgs) {
    for (const bool special : {true, false})
      settings.push_back({{"truncation", c[0]}, {"padding", c[1]}, {"add_special", special}});
  }
  for (const bool special : {true, false})
    settings.push_back({{"from_file", true}, {"add_special", special}});
  return {{"inputs", inputs}, {"settings", settings}};
}

std::optional<TruncationParams> to_truncation(const json& j) {
  if (j.is_null()) return std::nullopt;
  TruncationParams t;
  t.max_length = j.at("max_length");
  t.stride = j.at("stride");
  const std::string s = j.at("strategy");
  t.strategy = s == "OnlyFirst"    ? TruncationParams::Strategy::OnlyFirst
               : s == "OnlySecond" ? TruncationParams::Strategy::OnlySecond
                                   : TruncationParams::Strategy::LongestFirst;
  t.direction = j.at("direction") == "Left" ? Direction::Left : Direction::Right;
  return t;
}

std::optional<PaddingParams> to_padding(const json& j) {
  if (j.is_null()) return std::nullopt;
  PaddingParams p;
  if (!j.at("length").is_null()) p.length = j.at("length").get<std::size_t>();
  p.direction = j.at("direction") == "Left" ? Direction::Left : Direction::Right;
  if (!j.at("pad_to_multiple_of").is_null())
    p.pad_to_multiple_of = j.at("pad_to_multiple_of").get<std::size_t>();
  p.pad_id = j.at("pad_id");
  p.pad_type_id = j.at("pad_type_id");
  p.pad_token = j.at("pad_token");
  return p;
}

json overflowing_view(const Encoding& e) {
  json out = json::array();
  for (const Encoding& o : e.overflowing) out.push_back({{"ids", o.ids}, {"offsets", o.offsets}});
  return out;
}

json view(const Encoding& e) {
  return {{"ids", e.ids},
          {"type_ids", e.type_ids},
          {"tokens", e.tokens},
          {"special_tokens_mask", e.special_tokens_mask},
          {"attention_mask", e.attention_mask},
          {"offsets", e.offsets}};
}

class PairParity : public ::testing::TestWithParam<std::string> {};

// The tokenizer file for a test parameter: a file under tests/data/tokenizers, or one edited at
// test time: "sections" is wordpiece_bert.json with "truncation" and "padding" sections (the
// "from_file" settings); "trim_offsets" is a byte-level BPE split on spaces whose ByteLevel
// post-processor trims offsets and whose ByteLevel pre-tokenizer adds a prefix space (HF's
// process_offsets, including the first token's added space it keeps).
std::string with_sections(const std::string& param) {
  const std::string data = LAZARUS_TOKENIZER_DATA;
  json j;
  if (param == "sections") {
    std::ifstream in(data + "/synthetic/wordpiece_bert.json");
    j = json::parse(in);
    j["truncation"] = {
        {"direction", "Right"}, {"max_length", 10}, {"strategy", "LongestFirst"}, {"stride", 2}};
    j["padding"] = {{"strategy", {{"Fixed", 16}}},
                    {"direction", "Right"},
                    {"pad_to_multiple_of", 8},
                    {"pad_id", 0},
                    {"pad_type_id", 1},
                    {"pad_token", "[PAD]"}};
  } else if (param == "trim_offsets") {
    std::ifstream in(data + "/synthetic/bpe_split_1_Isolated_fwd.json");
    j = json::parse(in);
    j["post_processor"]["trim_offsets"] = true;
    j["post_processor"]["add_prefix_space"] = true;
    for (json& p : j["pre_tokenizer"]["pretokenizers"])
      if (p["type"] == "ByteLevel") p["add_prefix_space"] = true;
  } else {
    return data + "/" + param;
  }
  const std::string out = (fs::temp_directory_path() /
                           ("lazarus_" + param + "_" + std::to_string(::getpid()) + ".json"))
                              .string();
  std::ofstream(out) << j.dump();
  return out;
}

TEST_P(PairParity, MatchesHuggingFace) {
  const std::string path = with_sections(GetParam());
  const json spec = settings_json();
  const fs::path spec_file =
      fs::temp_directory_path() / ("lazarus_pairs_" + std::to_string(::getpid()) + ".json");
  std::ofstream(spec_file) << spec.dump();
  const std::string cmd =
      testing::shell_quote(LAZARUS_NODE) + " " +
      testing::shell_quote(std::string(LAZARUS_REFERENCE_DIR) + "/tokenizers_pairs_oracle.mjs") +
      " " + testing::shell_quote(path) + " " + testing::shell_quote(spec_file.string());
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << "oracle failed: " << cmd;
  const json ref = json::parse(out);
  fs::remove(spec_file);

  const Tokenizer file_tok = Tokenizer::from_file(path);
  // A file edited for this test (not one under tests/data) is not needed any more.
  if (path.rfind(std::string(LAZARUS_TOKENIZER_DATA), 0) != 0) fs::remove(path);
  int compared = 0, mismatches = 0, known = 0, over_hf = 0, over_compared = 0;
  std::ostringstream log;
  const json& inputs = spec.at("inputs");
  for (std::size_t s = 0; s < spec.at("settings").size(); ++s) {
    const json& setting = spec.at("settings")[s];
    Tokenizer tok = file_tok;  // the file's own "truncation" / "padding"
    if (!setting.contains("from_file")) {
      tok.set_truncation(to_truncation(setting.at("truncation")));
      tok.set_padding(to_padding(setting.at("padding")));
    }
    const bool special = setting.at("add_special");
    const json& want = ref.at("results")[s];
    std::vector<std::string> firsts;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::string a = inputs[i][0];
      json got, got_over = json::array();
      try {
        const Encoding enc = inputs[i][1].is_null()
                                 ? tok.encode(a, special)
                                 : tok.encode_pair(a, inputs[i][1].get<std::string>(), special);
        got = view(enc);
        got_over = overflowing_view(enc);
      } catch (const EncodeError& e) {
        got = {{"error", e.what()}};
      }
      firsts.push_back(a);
      json w = want.at("single")[i];
      // Overflowing parts: those with the same ids as one of ours must have the same offsets.
      if (w.contains("overflowing")) {
        for (const json& part : w.at("overflowing")) {
          ++over_hf;
          for (const json& mine : got_over) {
            if (mine.at("ids") != part.at("ids")) continue;
            ++over_compared;
            if (mine.at("offsets") != part.at("offsets") && ++mismatches <= 10) {
              log << "overflowing offsets, setting " << setting.dump() << " input " << i
                  << "\n  ours " << mine.dump().substr(0, 400) << "\n  HF   "
                  << part.dump().substr(0, 400) << "\n";
            }
            break;
          }
        }
        w.erase("overflowing");
      }
      // Known, unexplained difference (see docs/tokenizers.md): on this Roberta/ByteLevel
      // tokenizer, longest_first truncation from the left that cuts both sequences of input 3 to
      // halves gives HF's odd token to the first sequence; on every other tokenizer here (and
      // from the right) it goes to the second, as HF's truncation source says.
      if (GetParam() == "synthetic/bpe_gpt2_prefix.json" && i == 3 &&
          setting.contains("truncation") && setting.at("truncation").is_object() &&
          setting.at("truncation").at("direction") == "Left") {
        ++known;
        continue;
      }
      ++compared;
      // Both must fail, or agree on every field.
      const bool same = w.contains("error") ? got.contains("error") : got == w;
      if (!same && ++mismatches <= 10) {
        log << "setting " << setting.dump() << " input " << i << "\n  ours "
            << got.dump().substr(0, 600) << "\n  HF   " << w.dump().substr(0, 600) << "\n";
      }
    }
    json got_batch = json::array();
    try {
      for (const auto& e : tok.encode_batch(firsts, special, 2))
        got_batch.push_back(
            {{"ids", e.ids}, {"attention_mask", e.attention_mask}, {"type_ids", e.type_ids}});
    } catch (const EncodeError& e) {
      got_batch = {{"error", e.what()}};
    }
    const json& wb = want.at("batch");
    const bool same =
        wb.is_object() && wb.contains("error") ? got_batch.is_object() : got_batch == wb;
    if (!same && ++mismatches <= 10)
      log << "batch, setting " << setting.dump() << "\n  ours " << got_batch.dump().substr(0, 400)
          << "\n  HF   " << wb.dump().substr(0, 400) << "\n";
  }
  EXPECT_EQ(mismatches, 0) << log.str();
  std::printf(
      "[pairs] %s: %d encodings in %zu settings, %d mismatches (%d known, skipped); offsets of "
      "%d of HF's %d overflowing parts compared (same ids) vs %s\n",
      GetParam().c_str(), compared, spec.at("settings").size(), mismatches, known, over_compared,
      over_hf, ref.at("reference").get<std::string>().c_str());
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, PairParity,
                         ::testing::Values("llama3_1/tokenizer.json", "mistral/tokenizer.json",
                                           "qwen3/tokenizer.json", "synthetic/wordpiece_bert.json",
                                           "synthetic/bpe_gpt2_prefix.json",
                                           "synthetic/unigram_metaspace.json",
                                           "synthetic/wordpiece_whitespace.json", "sections",
                                           "trim_offsets"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.rfind('.'));
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace lazarus::tokenizers
