// Tokenizers from GGUF metadata (tokenizer_from_gguf). Parity: vocab-only GGUFs written at test
// time from the real tokenizers in tests/data/tokenizers as llama.cpp's convert_hf_to_gguf.py
// writes them (tests/reference/gguf_vocab_from_hf.py), encoded over the tokenizer corpus and
// compared with Hugging Face's tokenizers on the ORIGINAL tokenizer.json (ids exactly, decodes,
// round trips) and with llama.cpp's own tokenizer on the GGUF (node-llama-cpp). Then the semantics
// on tiny hand-made vocabularies, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "lazarus/formats/gguf.h"
#include "lazarus/tokenizers/gguf_vocab.h"
#include "lazarus/tokenizers/tokenizer_config.h"
#include "lazarus/tokenizers/unicode.h"
#include "oracle_util.h"

namespace lazarus::tokenizers {
namespace {

using formats::GgufFile;
using formats::GgufValue;
using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return s.size() > 80 ? out + "...(" + std::to_string(s.size()) + " bytes)" : out;
}

std::string show_ids(const std::vector<std::uint32_t>& v) {
  std::ostringstream o;
  for (std::size_t i = 0; i < v.size() && i < 24; ++i) o << (i ? "," : "[") << v[i];
  o << (v.size() > 24 ? ",...]" : "]");
  return v.empty() ? "[]" : o.str();
}

// llama.cpp's tokenization of `texts` with the GGUF (tests/reference/llama_cpp_tokenize.mjs).
json run_llama_cpp(const std::string& gguf, const std::vector<std::string>& texts) {
  const std::string ref_dir = LAZARUS_REFERENCE_DIR;
  if (!std::filesystem::exists(ref_dir + "/node_modules/node-llama-cpp/package.json"))
    throw std::runtime_error("node-llama-cpp is not installed: run `npm ci` in " + ref_dir);
  const std::string texts_file = gguf + ".texts.json";
  std::ofstream(texts_file) << json(texts).dump(-1, ' ', false, json::error_handler_t::strict);
  const std::string cmd = testing::shell_quote(LAZARUS_NODE) + " " +
                          testing::shell_quote(ref_dir + "/llama_cpp_tokenize.mjs") + " " +
                          testing::shell_quote(gguf) + " " + testing::shell_quote(texts_file);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run: " + cmd);
  std::string out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (pclose(p) != 0) throw std::runtime_error("llama.cpp oracle failed: " + cmd);
  return json::parse(out);
}

class GgufParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufParity, MatchesHuggingFaceAndLlamaCpp) {
  const json manifest = read_json(std::string(LAZARUS_GGUF_VOCAB_DIR) + "/manifest.json");
  json entry;
  for (const json& e : manifest)
    if (e.at("case") == GetParam()) entry = e;
  ASSERT_FALSE(entry.is_null()) << GetParam() << " is not in the manifest";
  const std::string gguf = entry.at("gguf");
  const auto start = std::chrono::steady_clock::now();
  const auto file = GgufFile::open(gguf);
  const Tokenizer tok = tokenizer_from_gguf(*file);
  std::printf("[gguf %s] loaded in %.2f s\n", GetParam().c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  const TokenizerConfig* cfg = tok.config();
  ASSERT_NE(cfg, nullptr);
  // The chat template and eos token tokenizer_config.json gave the conversion.
  const json hf_cfg = read_json(entry.at("tokenizer_config"));
  if (hf_cfg.contains("chat_template"))
    EXPECT_EQ(cfg->chat_template(), hf_cfg.at("chat_template").get<std::string>());
  else
    EXPECT_FALSE(cfg->has_chat_template());
  ASSERT_TRUE(tok.eos_token());
  EXPECT_EQ(tok.eos_token()->token, hf_cfg.at("eos_token").get<std::string>());

  const json hf = testing::run_oracle(entry.at("tokenizer_json"), LAZARUS_TOKENIZER_CORPUS);
  const json& cases = hf.at("cases");
  ASSERT_GT(cases.size(), 200u);
  std::vector<std::uint32_t> prefix, suffix;  // what encode() adds per the GGUF's flags
  if (cfg->add_bos_token.value_or(false)) prefix.push_back(tok.bos_token()->id);
  if (cfg->add_eos_token.value_or(false)) suffix.push_back(tok.eos_token()->id);
  const bool nfc = entry.at("pre") == "qwen2", spm = entry.at("model") == "llama";
  const auto types = file->get("tokenizer.ggml.token_type").as_i32_array();  // 2-4: added tokens

  int failures = 0, hf_special_agrees = 0;
  std::ostringstream log;
  auto fail = [&](const std::string& what) {
    if (++failures <= 12) log << what << "\n";
  };
  std::vector<std::string> texts;
  std::vector<std::vector<std::uint32_t>> ours_ids;
  for (const json& c : cases) {
    const std::string text = c.at("text");
    const auto want = c.at("without_special").at("ids").get<std::vector<std::uint32_t>>();
    const auto hf_with = c.at("with_special").at("ids").get<std::vector<std::uint32_t>>();
    const auto got = tok.encode_ids(text, false);
    if (got != want)
      fail("encode '" + show(text) + "'\n  ours " + show_ids(got) + "\n  HF   " + show_ids(want));
    std::vector<std::uint32_t> want_with = prefix;
    want_with.insert(want_with.end(), want.begin(), want.end());
    want_with.insert(want_with.end(), suffix.begin(), suffix.end());
    if (tok.encode_ids(text, true) != want_with)
      fail("encode with special tokens '" + show(text) + "'");
    hf_special_agrees += hf_with == want_with;
    for (const bool skip : {false, true}) {
      const std::string want_text = c.at(skip ? "decode_skip" : "decode");
      if (tok.decode(hf_with, skip) != want_text)
        fail("decode(skip=" + std::to_string(skip) + ") " + show_ids(hf_with) + ": ours '" +
             show(tok.decode(hf_with, skip)) + "' HF '" + show(want_text) + "'");
    }
    // Round trip wherever the text survives the pipeline: no added token in it, and NFC already.
    const bool has_added = std::any_of(got.begin(), got.end(), [&](std::uint32_t id) {
      return types.at(id) >= 2 && types.at(id) <= 4;
    });
    const bool literal_space =
        spm && text.find("\xE2\x96\x81") != std::string::npos;  // decodes as " "
    if (!has_added && !literal_space &&
        (!nfc || unicode::normalize(text, unicode::NormForm::NFC) == text) &&
        tok.decode(got) != text)
      fail("round trip '" + show(text) + "' -> '" + show(tok.decode(got)) + "'");
    texts.push_back(text);
    ours_ids.push_back(got);
  }
  EXPECT_EQ(failures, 0) << log.str();
  std::printf(
      "[gguf %s] %zu texts: HF parity %s; BOS/EOS per the GGUF flags agree with HF's "
      "post-processor on %d\n",
      GetParam().c_str(), cases.size(), failures ? "FAILED" : "exact", hf_special_agrees);

  // llama.cpp on the same GGUF: the same ids, except where it is known to part from HF (and so
  // from us): it does not NFC-normalize (HF's Qwen2 tokenizer.json does), and it makes every token
  // whose text is on its end-of-generation lists a control token, matched whole in text even
  // where the vocabulary says it is a plain one (Qwen's "</s>").
  const json lc = run_llama_cpp(gguf, texts);
  const auto eog = gguf_eog_token_ids(*file);
  EXPECT_EQ(eog, lc.at("eog").get<std::vector<std::uint32_t>>());
  auto control = [&](std::optional<NamedToken> t) {  // node-llama-cpp hides a non-control bos/eos
    return t && (types.at(t->id) == 3 || types.at(t->id) == 0) ? json(t->id) : json(nullptr);
  };
  EXPECT_EQ(control(tok.bos_token()), lc.at("bos"));
  EXPECT_EQ(control(tok.eos_token()), lc.at("eos"));
  std::vector<std::string> forced_control;
  for (auto id : eog)
    if (types.at(id) != 3) forced_control.push_back(*tok.id_to_token(id));
  const json& lc_ids = lc.at("ids");
  int agree = 0, known = 0;
  std::ostringstream diffs;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto want = lc_ids.at(i).get<std::vector<std::uint32_t>>();
    if (want == ours_ids[i]) {
      ++agree;
      continue;
    }
    const std::string& text = texts[i];
    const bool explained =
        (nfc && unicode::normalize(text, unicode::NormForm::NFC) != text) ||
        std::any_of(forced_control.begin(), forced_control.end(),
                    [&](const std::string& t) { return text.find(t) != std::string::npos; });
    known += explained;
    if (!explained)
      ADD_FAILURE() << "llama.cpp differs on '" << show(text) << "'\n  ours      "
                    << show_ids(ours_ids[i]) << "\n  llama.cpp " << show_ids(want);
  }
  std::printf("[gguf %s] llama.cpp %s: the same ids on %d of %zu texts (%d known differences)\n",
              GetParam().c_str(), lc.at("reference").dump().c_str(), agree, texts.size(), known);
}

INSTANTIATE_TEST_SUITE_P(Vocab, GgufParity,
                         ::testing::Values("llama3_1", "llama3", "qwen3", "mistral", "gpt2_style",
                                           "smollm_style", "default_style"));

// ---- semantics on tiny vocabularies made in memory ----

// GGUF metadata to edit and open.
struct Meta {
  std::vector<std::pair<std::string, GgufValue>> kv;

  Meta& set(const std::string& key, GgufValue v) {
    for (auto& [k, old] : kv)
      if (k == key) return old = std::move(v), *this;
    kv.emplace_back(key, std::move(v));
    return *this;
  }
  Meta& erase(const std::string& key) {
    std::erase_if(kv, [&](const auto& e) { return e.first == key; });
    return *this;
  }
  std::shared_ptr<GgufFile> file() const {
    formats::GgufWriterInput in;
    in.metadata = kv;
    return GgufFile::from_bytes(formats::serialize_gguf(in), "tiny.gguf");
  }
  Tokenizer tokenizer() const { return tokenizer_from_gguf(*file()); }
};

// Byte-level BPE: "Ġ" is the space byte; ids 0-5 normal, 6 control, 7 user-defined.
Meta tiny_gpt2() {
  const std::vector<std::string> tokens = {"a",
                                           "b",
                                           "ab",
                                           "\xC4\xA0",
                                           "\xC4\xA0"
                                           "a",
                                           "\xC4\xA0"
                                           "ab",
                                           "<|im_end|>",
                                           "<tool>"};
  const std::vector<std::int32_t> types = {1, 1, 1, 1, 1, 1, 3, 4};
  Meta m;
  m.set("tokenizer.ggml.model", GgufValue::string("gpt2"))
      .set("tokenizer.ggml.pre", GgufValue::string("gpt-2"))
      .set("tokenizer.ggml.tokens", GgufValue::string_array(tokens))
      .set("tokenizer.ggml.token_type", GgufValue::i32_array(types))
      .set("tokenizer.ggml.merges", GgufValue::string_array({"a b", "\xC4\xA0 a",
                                                             "\xC4\xA0"
                                                             "a b"}))
      .set("tokenizer.ggml.eos_token_id", GgufValue::u32(6));
  return m;
}

// SentencePiece BPE: merges go by the score of the merged piece.
Meta tiny_spm(float score_ab, float score_space_a) {
  std::vector<std::string> tokens = {"<unk>",
                                     "<s>",
                                     "</s>",
                                     "\xE2\x96\x81",
                                     "a",
                                     "b",
                                     "ab",
                                     "\xE2\x96\x81"
                                     "a",
                                     "<0x21>"};
  const std::vector<float> scores = {0, 0, 0, -5, -6, -7, score_ab, score_space_a, 0};
  const std::vector<std::int32_t> types = {2, 3, 3, 1, 1, 1, 1, 1, 6};
  Meta m;
  m.set("tokenizer.ggml.model", GgufValue::string("llama"))
      .set("tokenizer.ggml.tokens", GgufValue::string_array(tokens))
      .set("tokenizer.ggml.scores", GgufValue::f32_array(scores))
      .set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  return m;
}

TEST(GgufVocab, SentencePieceMergesByScoreWithByteFallback) {
  // "ab" -> "▁ab": ▁+a and a+b compete; the higher-scoring piece wins, and no "▁ab" exists.
  EXPECT_EQ(tiny_spm(-1, -2).tokenizer().encode_ids("ab", false),
            (std::vector<std::uint32_t>{3, 6}));
  EXPECT_EQ(tiny_spm(-2, -1).tokenizer().encode_ids("ab", false),
            (std::vector<std::uint32_t>{7, 5}));
  const Tokenizer tok = tiny_spm(-1, -2).tokenizer();
  // llama.cpp's defaults: <s> 1 added in front, a "▁" before each text, "!" as its byte token.
  EXPECT_EQ(tok.encode_ids("a!</s>b"), (std::vector<std::uint32_t>{1, 7, 8, 2, 3, 5}));
  EXPECT_EQ(tok.decode(tok.encode_ids("ab a!", false)), "ab a!");
  EXPECT_EQ(tok.bos_token()->id, 1u);
  EXPECT_EQ(tok.eos_token()->id, 2u);
  EXPECT_EQ(tok.unk_token()->id, 0u);
  EXPECT_TRUE(tok.is_special(2));
  const Tokenizer no_prefix = tiny_spm(-1, -2)
                                  .set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(false))
                                  .set("tokenizer.ggml.add_bos_token", GgufValue::boolean(false))
                                  .tokenizer();
  EXPECT_EQ(no_prefix.encode_ids("ab a"), (std::vector<std::uint32_t>{6, 7}));
  EXPECT_EQ(no_prefix.decode(std::vector<std::uint32_t>{6, 7}), "ab a");
}

TEST(GgufVocab, ByteLevelSpecialTokensAndTemplates) {
  Meta m = tiny_gpt2();
  m.set("tokenizer.chat_template", GgufValue::string("{{ messages[0].content }}"))
      .set("tokenizer.chat_template.tool_use", GgufValue::string("tools"));
  const Tokenizer tok = m.tokenizer();
  // Control and user-defined tokens are matched whole; only control ones are special.
  EXPECT_EQ(tok.encode_ids("ab<|im_end|> a<tool>"), (std::vector<std::uint32_t>{2, 6, 4, 7}));
  EXPECT_TRUE(tok.is_special(6));
  EXPECT_FALSE(tok.is_special(7));
  EXPECT_EQ(tok.decode(std::vector<std::uint32_t>{2, 6, 5, 7}, true), "ab ab<tool>");
  EXPECT_FALSE(tok.bos_token());  // llama.cpp's default 11 is past this vocabulary
  EXPECT_EQ(tok.eos_token()->token, "<|im_end|>");
  ASSERT_NE(tok.config(), nullptr);
  EXPECT_EQ(tok.config()->chat_template(), "{{ messages[0].content }}");
  EXPECT_EQ(tok.config()->chat_template("tool_use"), "tools");
  EXPECT_EQ(gguf_eog_token_ids(*m.file()), (std::vector<std::uint32_t>{6}));
  // "llama-bpe" adds the bos by default, and skips merges for a pre-token that is a token.
  m.set("tokenizer.ggml.pre", GgufValue::string("llama-bpe"))
      .set("tokenizer.ggml.bos_token_id", GgufValue::u32(3));
  EXPECT_EQ(m.tokenizer().encode_ids(" ab"), (std::vector<std::uint32_t>{3, 5}));
  // Without tokenizer.ggml.pre llama.cpp uses its "default" splits, and merges every pre-token.
  EXPECT_EQ(m.erase("tokenizer.ggml.pre").tokenizer().encode_ids(" ab", false),
            (std::vector<std::uint32_t>{3, 2}));
  EXPECT_EQ(gguf_pre_tokenizer_names().front(), "default");
}

// The LoadError message for `m`, checked to name the file and contain every part of `want`.
void expect_error(const Meta& m, std::initializer_list<std::string> want) {
  try {
    m.tokenizer();
    ADD_FAILURE() << "no error; expected " << *want.begin();
  } catch (const LoadError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("tiny.gguf: ", 0), 0u) << msg;
    for (const auto& w : want)
      EXPECT_NE(msg.find(w), std::string::npos) << msg << "\n  lacks " << w;
  }
}

TEST(GgufVocab, Errors) {
  const std::string model = "key 'tokenizer.ggml.model'", pre = "key 'tokenizer.ggml.pre'";
  const std::string tokens = "key 'tokenizer.ggml.tokens'",
                    types = "key 'tokenizer.ggml.token_type'";
  const std::string merges = "key 'tokenizer.ggml.merges'";
  expect_error(tiny_gpt2().erase("tokenizer.ggml.model"), {"missing " + model});
  expect_error(tiny_gpt2().set("tokenizer.ggml.model", GgufValue::string("t5")),
               {model, "'t5' is not supported (supported: gpt2, llama)"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.model", GgufValue::u32(1)), {model, "string"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.pre", GgufValue::string("gpt2")),
               {pre, "'gpt2' is not supported", "gpt-2", "llama-bpe", "qwen2", "smollm"});
  expect_error(
      tiny_gpt2().set("tokenizer.ggml.tokens", GgufValue::i32_array(std::vector<int32_t>{1})),
      {tokens, "array of string"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.tokens",
                               GgufValue::string_array({"a", "b", "ab", "c", "d", "e", "f", "b"})),
               {tokens, "'b' at ids 1 and 7"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.token_type",
                               GgufValue::i32_array(std::vector<int32_t>{1, 1})),
               {types, "2 entries for 8 tokens"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.token_type",
                               GgufValue::i32_array(std::vector<int32_t>{1, 1, 1, 1, 1, 1, 9, 1})),
               {types, "[6] = 9"});
  expect_error(
      tiny_spm(-1, -2).set("tokenizer.ggml.scores", GgufValue::f32_array(std::vector<float>{0})),
      {"key 'tokenizer.ggml.scores'", "1 entries for 9 tokens"});
  expect_error(tiny_gpt2().erase("tokenizer.ggml.merges"), {"missing " + merges});
  expect_error(tiny_gpt2().set("tokenizer.ggml.merges", GgufValue::string_array({"a c"})),
               {merges, "[0] 'a c': 'c' is not a token"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.merges", GgufValue::string_array({"a b", "b a"})),
               {merges, "[1] 'b a': 'ba' is not a token"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.merges", GgufValue::string_array({"ab"})),
               {merges, "[0] 'ab' is not two tokens"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.eos_token_id", GgufValue::u32(99)),
               {"key 'tokenizer.ggml.eos_token_id'", "id 99 out of range (8 tokens)"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.padding_token_id", GgufValue::string("0")),
               {"key 'tokenizer.ggml.padding_token_id'", "string"});
  expect_error(tiny_gpt2().set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true)),
               {"key 'tokenizer.ggml.add_bos_token'", "no bos_token_id"});
}

}  // namespace
}  // namespace lazarus::tokenizers

namespace lazarus::tokenizers {

// gguf_vocab_from_hf (Lazarus's HF -> tokenizer.ggml.* conversion, used by `lazarus convert`)
// against the independent Python converter gguf_vocab_from_hf.py on the same folders: every
// tokenizer key it wrote is the same (tokens, scores, token types, merges, pre, special ids,
// add_* flags, chat template).
TEST(GgufVocab, FromHfWritesTheKeysOfTheIndependentConverter) {
  const json manifest = read_json(std::string(LAZARUS_GGUF_VOCAB_DIR) + "/manifest.json");
  int checked = 0;
  for (const json& e : manifest) {
    const std::string c = e["case"].get<std::string>();
    if (c.ends_with("_style")) continue;  // those rewrite the pre-tokenizer in Python only
    const auto ref = formats::GgufFile::open(e["gguf"].get<std::string>());
    const json tj = read_json(e["tokenizer_json"].get<std::string>());
    const json tc = read_json(e["tokenizer_config"].get<std::string>());
    const auto n = int64_t(ref->get("tokenizer.ggml.tokens").array_size());
    const auto ours = gguf_vocab_from_hf(tj, tc, n, c);
    for (const auto& [key, value] : ref->metadata()) {
      if (!key.starts_with("tokenizer.")) continue;
      const auto it = std::find_if(ours.begin(), ours.end(), [&](const auto& kv) { return kv.first == key; });
      ASSERT_NE(it, ours.end()) << c << ": no " << key;
      if (value.type() == formats::GgufValueType::Array &&
          value.array_type() == formats::GgufValueType::String) {
        const auto& a = value.as_string_array();
        const auto& b = it->second.as_string_array();
        ASSERT_EQ(a.size(), b.size()) << c << ": " << key;
        for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(b[i], a[i]) << c << ": " << key << "[" << i << "]";
      } else if (value.type() == formats::GgufValueType::Array) {
        ASSERT_EQ(it->second.array_size(), value.array_size()) << c << ": " << key;
        for (uint64_t i = 0; i < value.array_size(); ++i)
          ASSERT_TRUE(it->second.element(i) == value.element(i)) << c << ": " << key << "[" << i << "]";
      } else if (value.type() == formats::GgufValueType::String) {
        EXPECT_EQ(it->second.as_string(), value.as_string()) << c << ": " << key;
      } else {
        // Ids are u32 in both; flags bool.
        EXPECT_TRUE(it->second == value) << c << ": " << key << " " << it->second.type_str() << " vs "
                                         << value.type_str();
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

}  // namespace lazarus::tokenizers
