// Token-for-token parity with Hugging Face's tokenizers (npm binding of the Rust library), run at
// test time on the real tokenizers in tests/data/tokenizers and the synthetic ones built for the
// tests: encode with and without special tokens (ids, token strings and character offsets),
// batch and concurrent encode, decode with and
// without skipping special tokens, decode of partial sequences, and streaming decode.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include "lazarus/tokenizers/tokenizer.h"
#include "oracle_util.h"

namespace lazarus::tokenizers {
namespace {

using nlohmann::json;

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 120)) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else
      out += static_cast<char>(c);
  }
  if (s.size() > 120) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

template <class T>
std::string show_vec(const std::vector<T>& v) {
  std::ostringstream o;
  o << "[";
  for (std::size_t i = 0; i < v.size() && i < 40; ++i) o << (i ? "," : "") << v[i];
  if (v.size() > 40) o << ",...(" << v.size() << ")";
  o << "]";
  return o.str();
}

struct Failures {
  int count = 0;
  std::ostringstream log;
  void add(const std::string& what) {
    if (++count <= 15) log << what << "\n";
  }
};

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, MatchesHuggingFace) {
  const std::string path = std::string(LAZARUS_TOKENIZER_DATA) + "/" + GetParam();
  const Tokenizer tok = Tokenizer::from_file(path);
  json ref;
  ASSERT_NO_THROW(ref = testing::run_oracle(path, LAZARUS_TOKENIZER_CORPUS));
  const json& cases = ref.at("cases");
  ASSERT_GT(cases.size(), 100u);
  Failures f;
  std::size_t compared_offsets = 0;
  int offset_mismatches = 0;
  std::vector<std::string> texts;
  for (const json& c : cases) {
    const std::string text = c.at("text");
    texts.push_back(text);
    for (const bool special : {true, false}) {
      const json& exp = c.at(special ? "with_special" : "without_special");
      const auto want_ids = exp.at("ids").get<std::vector<std::uint32_t>>();
      const auto want_tokens = exp.at("tokens").get<std::vector<std::string>>();
      const auto want_offsets = exp.at("offsets").get<std::vector<std::vector<std::size_t>>>();
      const Encoding got = tok.encode(text, special);
      std::vector<std::vector<std::size_t>> got_offsets;
      for (const auto& [b, e] : got.offsets) got_offsets.push_back({b, e});
      if (got.ids != want_ids) {
        f.add("encode(special=" + std::to_string(special) + ") '" + show(text) + "'\n  ours " +
              show_vec(got.ids) + "\n  HF   " + show_vec(want_ids));
      } else if (got.tokens != want_tokens) {
        f.add("tokens differ for '" + show(text) + "': ours " + show_vec(got.tokens) + " HF " +
              show_vec(want_tokens));
      } else if (got_offsets != want_offsets) {
        ++offset_mismatches;
        std::size_t k = 0;
        while (got_offsets[k] == want_offsets[k]) ++k;
        f.add("offsets(special=" + std::to_string(special) + ") differ for '" + show(text) +
              "' at token " + std::to_string(k) + " '" + show(got.tokens[k]) + "': ours [" +
              std::to_string(got_offsets[k][0]) + "," + std::to_string(got_offsets[k][1]) +
              "] HF [" + std::to_string(want_offsets[k][0]) + "," +
              std::to_string(want_offsets[k][1]) + "]");
      } else {
        compared_offsets += got.offsets.size();
      }
      if (tok.encode_ids(text, special) != want_ids)
        f.add("encode_ids differs for '" + show(text) + "'");
    }
    const auto ids = c.at("with_special").at("ids").get<std::vector<std::uint32_t>>();
    const std::string want = c.at("decode"), want_skip = c.at("decode_skip");
    const std::string got = tok.decode(ids, false), got_skip = tok.decode(ids, true);
    if (got != want)
      f.add("decode " + show_vec(ids) + "\n  ours '" + show(got) + "'\n  HF   '" + show(want) +
            "'");
    if (got_skip != want_skip) {
      f.add("decode(skip) " + show_vec(ids) + "\n  ours '" + show(got_skip) + "'\n  HF   '" +
            show(want_skip) + "'");
    }
    for (const bool skip : {false, true}) {
      auto stream = tok.decode_stream(skip);
      std::string streamed;
      for (auto id : ids) streamed += stream.step(id);
      streamed += stream.finish();
      if (streamed != (skip ? want_skip : want)) {
        f.add("stream(skip=" + std::to_string(skip) + ") '" + show(streamed) + "' vs '" +
              show(skip ? want_skip : want) + "'");
      }
    }
  }
  for (const json& d : ref.at("decode_prefixes")) {
    const auto ids = d.at("ids").get<std::vector<std::uint32_t>>();
    const std::string want = d.at("text"), want_skip = d.at("text_skip");
    if (tok.decode(ids, false) != want) {
      f.add("partial decode " + show_vec(ids) + ": ours '" + show(tok.decode(ids, false)) +
            "' HF '" + show(want) + "'");
    }
    if (tok.decode(ids, true) != want_skip) f.add("partial decode(skip) " + show_vec(ids));
  }
  // Batch encode on several threads gives the same as one by one.
  const auto batch = tok.encode_batch(texts, true, 4);
  ASSERT_EQ(batch.size(), cases.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].ids != cases[i].at("with_special").at("ids").get<std::vector<std::uint32_t>>()) {
      f.add("encode_batch differs for '" + show(texts[i]) + "'");
    }
    std::vector<std::vector<std::size_t>> got_offsets;
    for (const auto& [b, e] : batch[i].offsets) got_offsets.push_back({b, e});
    if (got_offsets !=
        cases[i].at("with_special").at("offsets").get<std::vector<std::vector<std::size_t>>>()) {
      f.add("encode_batch offsets differ for '" + show(texts[i]) + "'");
    }
  }
  EXPECT_EQ(f.count, 0) << f.count << " mismatches against "
                        << ref.at("reference").get<std::string>() << " (first ones):\n"
                        << f.log.str();
  std::printf(
      "[parity] %s: %zu texts, %zu partial decodes, %zu token offsets equal, %d mismatches (%d "
      "in offsets) vs %s\n",
      GetParam().c_str(), cases.size(), ref.at("decode_prefixes").size(), compared_offsets, f.count,
      offset_mismatches, ref.at("reference").get<std::string>().c_str());
}

// Many threads encoding at once (shared word cache) agree with a single-threaded encode.
TEST_P(Parity, ConcurrentEncodeIsConsistent) {
  const Tokenizer tok =
      Tokenizer::from_file(std::string(LAZARUS_TOKENIZER_DATA) + "/" + GetParam());
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back(
        "sample " + std::to_string(i * 7919) + " words repeated repeated, caf\xC3\xA9 " +
        std::string(static_cast<std::size_t>(i % 13), ' ') + "tail" + std::to_string(i));
  }
  std::vector<std::vector<std::uint32_t>> want;
  for (const auto& t : texts) want.push_back(tok.encode_ids(t));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep) {
        for (std::size_t i = (t * 31) % texts.size(), k = 0; k < texts.size();
             ++k, i = (i + 1) % texts.size()) {
          if (tok.encode_ids(texts[i]) != want[i]) ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// Random text mixing ASCII, accents, combining marks, CJK, emoji, whitespace runs and the file's
// own added tokens: every offset lies within its sequence's text (in characters) and starts before
// it ends, for singles and pairs, with and without special tokens (no reference needed).
TEST_P(Parity, OffsetsStayWithinTheText) {
  const std::string path = std::string(LAZARUS_TOKENIZER_DATA) + "/" + GetParam();
  const Tokenizer tok = Tokenizer::from_file(path);
  std::vector<std::string> pool = {"a",
                                   "Z",
                                   " ",
                                   "  ",
                                   "\t",
                                   "\n",
                                   "7",
                                   ".",
                                   "caf\xC3\xA9",
                                   "e\xCC\x81",
                                   "\xE4\xBD\xA0",
                                   "\xF0\x9F\xA4\x96",
                                   "\xEF\xAC\x81",
                                   "\xE2\x91\xA0",
                                   "\xC3\x85",
                                   "\xE2\x96\x81",
                                   "'s",
                                   "\xCC\xA3"};
  for (const char* t : {"<s>", "</s>", "[CLS]", "<|begin_of_text|>", "<|im_start|>", "<unk>"})
    if (tok.token_to_id(t)) pool.push_back(t);
  auto chars = [](const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  std::uint32_t seed = 2024;
  auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
  auto text = [&] {
    std::string s;
    for (std::uint32_t k = next() % 24; k-- > 0;) s += pool[next() % pool.size()];
    return s;
  };
  int bad = 0;
  std::string first_bad;
  // `len`: the text's length in characters (for a pair, the longer one: type ids do not always
  // tell the sequences apart, e.g. Roberta's are all 0).
  auto check = [&](const Encoding& e, std::size_t len, const std::string& t) {
    if (e.offsets.size() != e.ids.size()) ++bad, first_bad = t;
    for (std::size_t i = 0; i < e.offsets.size(); ++i) {
      const auto [b, en] = e.offsets[i];
      if ((b > en || en > len) && !bad++) first_bad = t + " (token " + std::to_string(i) + ")";
    }
  };
  for (int i = 0; i < 300; ++i) {
    const std::string a = text(), b = text();
    for (const bool special : {true, false}) {
      check(tok.encode(a, special), chars(a), a);
      try {
        check(tok.encode_pair(a, b, special), std::max(chars(a), chars(b)), a + " | " + b);
      } catch (const EncodeError&) {
        // no pair template: nothing to check
      }
    }
  }
  EXPECT_EQ(bad, 0) << "first: '" << show(first_bad) << "'";
}

INSTANTIATE_TEST_SUITE_P(Real, Parity,
                         ::testing::Values("llama3/tokenizer.json", "llama3_1/tokenizer.json",
                                           "mistral/tokenizer.json", "qwen3/tokenizer.json"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.find('/'));
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// The synthetic tokenizers built by tests/reference/make_test_tokenizers.mjs.
std::vector<std::string> synthetic_files() {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(LAZARUS_TOKENIZER_DATA) + "/synthetic")) {
    if (e.path().extension() == ".json") out.push_back("synthetic/" + e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Synthetic, Parity, ::testing::ValuesIn(synthetic_files()),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.find('/') + 1);
                           n = n.substr(0, n.rfind('.'));
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace lazarus::tokenizers
