// Tokenizers from GGUF metadata (tokenizer_from_gguf). Parity: vocab-only GGUFs written at test time
// from the real tokenizers in tests/data/tokenizers as llama.cpp's convert_hf_to_gguf.py writes them
// (tests/reference/gguf_vocab_from_hf.py), encoded over the tokenizer corpus and compared with
// Hugging Face's tokenizers on the ORIGINAL tokenizer.json (ids exactly, decodes, round trips) and
// with llama.cpp's own tokenizer on the GGUF (node-llama-cpp). Then the semantics on tiny
// hand-made vocabularies, and the errors.
#include <gtest/gtest.h>

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
  const auto file = GgufFile::open(gguf);
  const Tokenizer tok = tokenizer_from_gguf(*file);
  const TokenizerConfig* cfg = tok.config();
  ASSERT_NE(cfg, nullptr);

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
    if (got != want) fail("encode '" + show(text) + "'\n  ours " + show_ids(got) + "\n  HF   " + show_ids(want));
    std::vector<std::uint32_t> want_with = prefix;
    want_with.insert(want_with.end(), want.begin(), want.end());
    want_with.insert(want_with.end(), suffix.begin(), suffix.end());
    if (tok.encode_ids(text, true) != want_with) fail("encode with special tokens '" + show(text) + "'");
    hf_special_agrees += hf_with == want_with;
    for (const bool skip : {false, true}) {
      const std::string want_text = c.at(skip ? "decode_skip" : "decode");
      if (tok.decode(hf_with, skip) != want_text)
        fail("decode(skip=" + std::to_string(skip) + ") " + show_ids(hf_with) + ": ours '" +
             show(tok.decode(hf_with, skip)) + "' HF '" + show(want_text) + "'");
    }
    // Round trip wherever the text survives the pipeline: no added token in it, and NFC already.
    const bool has_added =
        std::any_of(got.begin(), got.end(), [&](std::uint32_t id) { return types.at(id) >= 2 && types.at(id) <= 4; });
    const bool literal_space = spm && text.find("\xE2\x96\x81") != std::string::npos;  // decodes as " "
    if (!has_added && !literal_space && (!nfc || unicode::normalize(text, unicode::NormForm::NFC) == text) &&
        tok.decode(got) != text)
      fail("round trip '" + show(text) + "' -> '" + show(tok.decode(got)) + "'");
    texts.push_back(text);
    ours_ids.push_back(got);
  }
  EXPECT_EQ(failures, 0) << log.str();
  std::printf("[gguf %s] %zu texts: HF parity %s; BOS/EOS per the GGUF flags agree with HF's "
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

}  // namespace
}  // namespace lazarus::tokenizers
