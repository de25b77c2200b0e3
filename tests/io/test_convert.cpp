// `lazarus convert`'s library side: an HF folder written as GGUF loads back to the same logits
// (f32 exactly; q8_0 as the folder quantized at load, which uses the same quantizer on the same
// rows), the tokenizer keys tokenize as the HF tokenizer does, GGUF -> HF round trips, and bad
// input is refused by name. (Against llama.cpp itself: tests/reference/check_llama_cpp_convert.py.)
#include <gtest/gtest.h>

#include <fstream>

#include "lazarus/core/error.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/io/gguf_export.h"
#include "lazarus/io/model_gguf.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tokenizers/gguf_vocab.h"
#include "tiny_folder.h"

using namespace lazarus;
using namespace lazarus::testing;

namespace {

std::vector<float> logits_of(io::PretrainedModel& m) {
  NoGradGuard ng;
  Tensor ids = from_vector<int64_t>({1, 415, 2936, 9060, 285, 1142, 28723}, {1, 7}, DType::I64);
  Tensor l = m.causal_lm().forward(ids).logits.to(DType::F32).contiguous();
  const float* p = static_cast<const float*>(l.raw_data());
  return {p, p + l.numel()};
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_text(p)); }

const char* const kTexts[] = {"Hello world", "  leading spaces and\ttabs\n\nnew lines",
                              "numbers 1234567 and émojis 🦙 ünïcödé", "<s>[INST] special [/INST]</s>",
                              "don't stop—it's 3.14!"};

// The tokenizer keys converted from an HF tokenizer folder, read back by tokenizer_from_gguf,
// tokenize every text as the HF tokenizer does.
void expect_same_tokenization(const std::string& name, const char* want_model, const char* want_pre) {
  const fs::path dir = test_data() / "tokenizers" / name;
  const auto tj = read_json(dir / "tokenizer.json");
  const auto tc = read_json(dir / "tokenizer_config.json");
  const auto hf = tokenizers::Tokenizer::from_files((dir / "tokenizer.json").string(),
                                                    (dir / "tokenizer_config.json").string());
  const int64_t n = int64_t(hf.vocab_size());
  formats::GgufWriterInput w;
  w.metadata.emplace_back("general.architecture", formats::GgufValue::string("llama"));
  for (auto& kv : tokenizers::gguf_vocab_from_hf(tj, tc, n, name)) w.metadata.push_back(std::move(kv));
  const auto f = formats::GgufFile::from_bytes(formats::serialize_gguf(w), name + ".gguf");
  EXPECT_EQ(f->get("tokenizer.ggml.model").as_string(), want_model) << name;
  EXPECT_EQ(f->get("tokenizer.ggml.pre").as_string(), want_pre) << name;
  const auto g = tokenizers::tokenizer_from_gguf(*f);
  for (const char* t : kTexts) {
    EXPECT_EQ(g.encode(t).ids, hf.encode(t).ids) << name << ": " << t;
  }
  // And back: the HF files rebuilt from the keys tokenize the same again.
  const auto files = tokenizers::hf_tokenizer_from_gguf(*f);
  const auto back = tokenizers::Tokenizer::from_json(files.tokenizer.dump());
  for (const char* t : kTexts) EXPECT_EQ(back.encode(t, false).ids, hf.encode(t, false).ids) << name << " (back): " << t;
}

}  // namespace

TEST(Convert, TokenizersBecomeGgufKeysThatTokenizeTheSame) {
  expect_same_tokenization("mistral", "llama", "default");
  expect_same_tokenization("llama3_1", "gpt2", "llama-bpe");
  expect_same_tokenization("qwen3", "gpt2", "qwen2");
}

TEST(Convert, GgufOfAFolderGivesTheFoldersLogits) {
  const fs::path dir = fresh_dir("convert_src");
  make_tiny_llama_folder(dir / "m");
  const std::string f32 = (dir / "m-f32.gguf").string(), q8 = (dir / "m-q8_0.gguf").string();
  io::ConvertReport r = io::export_gguf((dir / "m").string(), f32, "f32");
  EXPECT_EQ(r.tensors_by_type.at("f32"), 2 * 9 + 3);
  auto hf = io::load_pretrained((dir / "m").string());
  auto g = io::load_gguf(f32);
  EXPECT_EQ(logits_of(g), logits_of(hf));  // same weights, same kernels
  ASSERT_TRUE(g.tokenizer);
  for (const char* t : kTexts) EXPECT_EQ(g.tokenizer->encode(t).ids, hf.tokenizer->encode(t).ids) << t;
  ASSERT_TRUE(g.tokenizer_config);
  EXPECT_TRUE(g.tokenizer_config->has_chat_template());

  // q8_0: the folder quantized at load runs the same quantizer on the same rows (the Q / K
  // permutation moves whole rows), so the logits are identical too.
  io::export_gguf((dir / "m").string(), q8, "q8_0");
  auto gq = io::load_gguf(q8);
  io::LoadOptions lo;
  lo.quantize = DType::Q8_0;
  auto hq = io::load_pretrained((dir / "m").string(), lo);
  EXPECT_EQ(logits_of(gq), logits_of(hq));

  // GGUF -> HF -> the same logits and tokenization.
  io::export_hf(f32, (dir / "back").string());
  auto b = io::load_pretrained((dir / "back").string());
  EXPECT_EQ(logits_of(b), logits_of(hf));
  ASSERT_TRUE(b.tokenizer);
  for (const char* t : kTexts) EXPECT_EQ(b.tokenizer->encode(t).ids, hf.tokenizer->encode(t).ids) << t;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

TEST(Convert, BadInputIsRefusedByName) {
  const fs::path dir = fresh_dir("convert_bad");
  make_tiny_llama_folder(dir / "m");
  auto msg = [](auto f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(msg([&] { io::export_gguf((dir / "m").string(), (dir / "x.gguf").string(), "q3_K"); }).find("q3_K"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "x.gguf"));
  io::export_gguf((dir / "m").string(), (dir / "q.gguf").string(), "q4_0");
  EXPECT_NE(msg([&] { io::export_hf((dir / "q.gguf").string(), (dir / "back").string()); }).find("q4_0"),
            std::string::npos);
  // A config the GGUF cannot express.
  auto cfg = read_json(dir / "m" / "config.json");
  cfg["attention_bias"] = true;
  write_text(dir / "m" / "config.json", cfg.dump());
  EXPECT_NE(msg([&] { io::export_gguf((dir / "m").string(), (dir / "y.gguf").string(), "f16"); })
                .find("attention_bias"),
            std::string::npos);
  cfg["attention_bias"] = false;
  cfg["model_type"] = "qwen2";
  write_text(dir / "m" / "config.json", cfg.dump());
  EXPECT_NE(msg([&] { io::export_gguf((dir / "m").string(), (dir / "y.gguf").string(), "f16"); }).find("qwen2"),
            std::string::npos);
  fs::remove_all(dir);
}
