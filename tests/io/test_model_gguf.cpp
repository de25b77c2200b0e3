// GGUF models that Lazarus cannot run are refused with the file, the key or tensor, and the value;
// a well-formed tiny Llama file loads with its types kept. (Numerics against llama.cpp and PyTorch:
// io.gguf_llama_cpp_parity.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "lazarus/core/error.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/io/model_gguf.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using namespace lazarus::formats;
namespace fs = std::filesystem;

namespace {

Tensor rnd(Shape s, uint64_t seed) {
  Generator g(seed);
  return randn(std::move(s), DType::F32, 0.0, 1.0, &g);
}

// A 1-layer Llama (hidden 64, 4 heads, 2 KV heads, vocab 32) in llama.cpp's names; `edit` changes
// the metadata or tensors before writing.
std::string write_tiny(const std::string& name,
                       const std::function<void(GgufWriterInput&)>& edit = nullptr) {
  GgufWriterInput in;
  auto kv = [&](const std::string& k, GgufValue v) { in.metadata.emplace_back(k, std::move(v)); };
  kv("general.architecture", GgufValue::string("llama"));
  kv("llama.context_length", GgufValue::u32(128));
  kv("llama.embedding_length", GgufValue::u32(64));
  kv("llama.block_count", GgufValue::u32(1));
  kv("llama.feed_forward_length", GgufValue::u32(96));
  kv("llama.attention.head_count", GgufValue::u32(4));
  kv("llama.attention.head_count_kv", GgufValue::u32(2));
  kv("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  kv("llama.rope.freq_base", GgufValue::f32(10000.0f));
  auto t = [&](const std::string& n, Tensor x) {
    in.tensors.push_back(GgufWriterTensor::from_tensor(n, x));
  };
  t("token_embd.weight", rnd({32, 64}, 1));
  t("output_norm.weight", ones({64}));
  t("output.weight", rnd({32, 64}, 2).to(DType::Q8_0));
  t("blk.0.attn_norm.weight", ones({64}));
  t("blk.0.ffn_norm.weight", ones({64}));
  t("blk.0.attn_q.weight", rnd({64, 64}, 3).to(DType::F16));
  t("blk.0.attn_k.weight", rnd({32, 64}, 4).to(DType::Q4_0));
  t("blk.0.attn_v.weight", rnd({32, 64}, 5));
  t("blk.0.attn_output.weight", rnd({64, 64}, 6).to(DType::BF16));
  t("blk.0.ffn_gate.weight", rnd({96, 64}, 7).to(DType::Q4_1));
  t("blk.0.ffn_up.weight", rnd({96, 64}, 8).to(DType::Q8_0));
  t("blk.0.ffn_down.weight", rnd({64, 96}, 9).to(DType::Q8_0));
  if (edit) edit(in);
  const fs::path p = fs::temp_directory_path() / ("lazarus_test_" + name + ".gguf");
  save_gguf(p.string(), in);
  return p.string();
}

void set(GgufWriterInput& in, const std::string& key, GgufValue v) {
  for (auto& [k, old] : in.metadata)
    if (k == key) old = std::move(v);
}

template <class E>
void expect_error(const std::string& path, std::initializer_list<const char*> parts) {
  try {
    io::load_gguf(path);
    FAIL() << "no error for " << path;
  } catch (const E& e) {
    for (const char* p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nmissing: " << p;
  }
}

}  // namespace

TEST(GgufModel, LoadsWithTheFileTypesKept) {
  const std::string p = write_tiny("ok");
  EXPECT_TRUE(io::is_gguf_file(p));
  io::PretrainedModel m = io::load_gguf(p);
  auto sd = m.model->state_dict();
  EXPECT_EQ(sd.at("lm_head.weight").dtype(), DType::Q8_0);
  EXPECT_EQ(sd.at("model.layers.0.self_attn.q_proj.weight").dtype(), DType::F16);
  EXPECT_EQ(sd.at("model.layers.0.self_attn.k_proj.weight").dtype(), DType::Q4_0);
  EXPECT_EQ(sd.at("model.layers.0.mlp.gate_proj.weight").dtype(), DType::Q4_1);
  EXPECT_EQ(sd.at("model.layers.0.input_layernorm.weight").dtype(), DType::F32);
  EXPECT_EQ(m.config["num_key_value_heads"], 2);
  EXPECT_FALSE(m.config["tie_word_embeddings"].get<bool>());
  Tensor ids = from_vector<int64_t>({1, 5, 9}, {1, 3}, DType::I64);
  Tensor logits = m.model->last_logits(ids);
  EXPECT_EQ(logits.shape(), (Shape{1, 32}));
  for (float v : logits.to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
  // The loader's f32-only compute: other dtypes are refused, as is quantizing a GGUF again.
  io::LoadOptions bf16;
  bf16.dtype = DType::BF16;
  EXPECT_THROW(io::load_gguf(p, bf16), DTypeError);
  fs::remove(p);
}

TEST(GgufModel, UnsupportedFilesAreRefusedByName) {
  expect_error<ConfigError>(
      write_tiny("arch", [](auto& in) { set(in, "general.architecture", GgufValue::string("gpt2")); }),
      {"general.architecture", "'gpt2'", "not supported"});
  expect_error<ConfigError>(write_tiny("rope", [](auto& in) {
                              in.metadata.emplace_back("llama.rope.scaling.type",
                                                       GgufValue::string("yarn"));
                            }),
                            {"llama.rope.scaling.type", "'yarn'"});
  expect_error<ConfigError>(write_tiny("moe", [](auto& in) {
                              in.metadata.emplace_back("llama.expert_count", GgufValue::u32(8));
                            }),
                            {"llama.expert_count", "8"});
  expect_error<LoadError>(write_tiny("missing", [](auto& in) {
                            std::erase_if(in.metadata, [](auto& kv) { return kv.first == "llama.block_count"; });
                          }),
                          {"llama.block_count"});
  expect_error<LoadError>(
      write_tiny("type", [](auto& in) { set(in, "llama.block_count", GgufValue::string("one")); }),
      {"llama.block_count", "string"});
  expect_error<LoadError>(write_tiny("extra", [](auto& in) {
                            in.tensors.push_back(
                                GgufWriterTensor::from_tensor("rope_freqs.weight", ones({32})));
                          }),
                          {"rope_freqs.weight", "not supported"});
  std::vector<uint8_t> q5(64 * 2 * 22, 0);
  expect_error<LoadError>(write_tiny("q5_0", [&](auto& in) {
                            for (auto& t : in.tensors)
                              if (t.name == "blk.0.attn_v.weight")
                                t = GgufWriterTensor::raw(t.name, GgmlType::Q5_0, {64, 32}, q5.data(),
                                                          32 * 2 * 22);
                          }),
                          {"blk.0.attn_v.weight", "q5_0"});
  expect_error<LoadError>(write_tiny("shape", [](auto& in) {
                            for (auto& t : in.tensors)
                              if (t.name == "blk.0.attn_v.weight")
                                t = GgufWriterTensor::from_tensor(t.name, rnd({64, 64}, 10));
                          }),
                          {"v_proj", "wrong shape"});
}
