// GGUF models that Lazarus cannot run are refused with the file, the key or tensor, and the value;
// a well-formed tiny Llama file loads with its types kept. (Numerics against llama.cpp and PyTorch:
// io.gguf_llama_cpp_parity.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"
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

namespace {

// An HF-named model's state dict written under llama.cpp's names, as convert_hf_to_gguf.py writes
// it for `arch`: qwen2 as is (no Q / K permutation), mamba with A = -exp(A_log) and the (I, 1, K)
// conv kernel squeezed to (I, K). `edit` changes the file before writing.
std::string write_from_model(const std::string& file, const std::string& arch,
                             const config::Json& cfg, models::CausalLM& model,
                             const std::function<void(GgufWriterInput&)>& edit = nullptr) {
  GgufWriterInput in;
  auto kv = [&](const std::string& k, GgufValue v) { in.metadata.emplace_back(k, std::move(v)); };
  kv("general.architecture", GgufValue::string(arch));
  auto u = [&](const std::string& k, int64_t v) {
    kv(arch + "." + k, GgufValue::u32(uint32_t(v)));
  };
  const bool mamba = arch == "mamba";
  if (mamba) {
    const int64_t D = cfg["hidden_size"];
    u("context_length", 1 << 20);
    u("embedding_length", D);
    u("feed_forward_length", 0);
    u("attention.head_count", 0);
    u("block_count", cfg["num_hidden_layers"]);
    u("ssm.conv_kernel", cfg["conv_kernel"]);
    u("ssm.inner_size", 2 * D);
    u("ssm.state_size", cfg["state_size"]);
    u("ssm.time_step_rank", cfg["time_step_rank"]);
    kv("mamba.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
    kv("mamba.ssm.dt_b_c_rms", GgufValue::boolean(false));
  } else {
    u("context_length", cfg["max_position_embeddings"]);
    u("embedding_length", cfg["hidden_size"]);
    u("block_count", cfg["num_hidden_layers"]);
    u("feed_forward_length", cfg["intermediate_size"]);
    u("attention.head_count", cfg["num_attention_heads"]);
    u("attention.head_count_kv", cfg["num_key_value_heads"]);
    kv(arch + ".attention.layer_norm_rms_epsilon", GgufValue::f32(1e-6f));
    kv(arch + ".rope.freq_base", GgufValue::f32(1000000.0f));
  }
  const std::vector<std::pair<std::string, std::string>> names =
      mamba ? std::vector<
                  std::pair<std::string, std::string>>{{"backbone.embeddings.weight",
                                                        "token_embd.weight"},
                                                       {"backbone.norm_f.weight",
                                                        "output_norm.weight"},
                                                       {"lm_head.weight", "output.weight"},
                                                       {"norm.weight", "attn_norm.weight"},
                                                       {"mixer.in_proj.weight", "ssm_in.weight"},
                                                       {"mixer.conv1d.weight", "ssm_conv1d.weight"},
                                                       {"mixer.conv1d.bias", "ssm_conv1d.bias"},
                                                       {"mixer.x_proj.weight", "ssm_x.weight"},
                                                       {"mixer.dt_proj.weight", "ssm_dt.weight"},
                                                       {"mixer.dt_proj.bias", "ssm_dt.bias"},
                                                       {"mixer.A_log", "ssm_a"},
                                                       {"mixer.D", "ssm_d"},
                                                       {"mixer.out_proj.weight", "ssm_out.weight"}}
            : std::vector<std::pair<std::string, std::string>>{
                  {"model.embed_tokens.weight", "token_embd.weight"},
                  {"model.norm.weight", "output_norm.weight"},
                  {"lm_head.weight", "output.weight"},
                  {"input_layernorm.weight", "attn_norm.weight"},
                  {"post_attention_layernorm.weight", "ffn_norm.weight"},
                  {"self_attn.q_proj.weight", "attn_q.weight"},
                  {"self_attn.q_proj.bias", "attn_q.bias"},
                  {"self_attn.k_proj.weight", "attn_k.weight"},
                  {"self_attn.k_proj.bias", "attn_k.bias"},
                  {"self_attn.v_proj.weight", "attn_v.weight"},
                  {"self_attn.v_proj.bias", "attn_v.bias"},
                  {"self_attn.o_proj.weight", "attn_output.weight"},
                  {"mlp.gate_proj.weight", "ffn_gate.weight"},
                  {"mlp.up_proj.weight", "ffn_up.weight"},
                  {"mlp.down_proj.weight", "ffn_down.weight"}};
  const bool tied = cfg.value("tie_word_embeddings", false);
  for (auto& [hf, t] : model.state_dict()) {
    if (tied && hf == "lm_head.weight") continue;
    std::string g;
    for (auto& [h, n] : names) {
      if (hf == h) g = n;
      const auto dot = hf.find(".layers.");
      if (g.empty() && dot != std::string::npos && hf.ends_with("." + h)) {
        const std::string rest = hf.substr(dot + 8);  // "N.<h>"
        g = "blk." + rest.substr(0, rest.find('.')) + "." + n;
      }
      if (!g.empty()) break;
    }
    EXPECT_FALSE(g.empty()) << hf;
    Tensor x = t.contiguous();
    if (g.ends_with("ssm_a")) x = -exp(x);
    if (g.ends_with("ssm_conv1d.weight")) x = x.reshape({x.size(0), x.size(2)});
    in.tensors.push_back(GgufWriterTensor::from_tensor(g, x));
  }
  if (edit) edit(in);
  const fs::path p = fs::temp_directory_path() / ("lazarus_test_" + file + ".gguf");
  save_gguf(p.string(), in);
  return p.string();
}

// max |a - b| / max(1, max |b|).
double normalised(const Tensor& a, const Tensor& b) {
  auto x = a.to(DType::F32).to_vector<float>(), y = b.to(DType::F32).to_vector<float>();
  double d = 0, s = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(double(x[i]) - y[i]));
    s = std::max(s, std::abs(double(y[i])));
  }
  return d / s;
}

config::Json qwen2_config() {
  return config::Json::parse(R"({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
    "vocab_size": 48, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": true,
    "use_sliding_window": false})");
}

config::Json mamba_config() {
  return config::Json::parse(R"({"model_type": "mamba", "vocab_size": 40, "hidden_size": 32,
    "state_size": 8, "num_hidden_layers": 2, "expand": 2, "conv_kernel": 4, "use_bias": false,
    "use_conv_bias": true, "time_step_rank": 4, "tie_word_embeddings": false,
    "layer_norm_epsilon": 1e-5})");
}

}  // namespace

// qwen2: llama.cpp keeps HF's row order (its qwen2 rope rotates halves as HF does) and the q / k /
// v biases; the file gives back the model it was written from, logits equal.
TEST(GgufModel, Qwen2LoadsAsTheModelItWasWrittenFrom) {
  const config::Json cfg = qwen2_config();
  auto ref = families::build_causal_lm_seeded(cfg, 5);
  const std::string p = write_from_model("qwen2", "qwen2", cfg, *ref);
  io::PretrainedModel m = io::load_gguf(p);
  EXPECT_EQ(m.family, "qwen");
  EXPECT_EQ(m.config["model_type"], "qwen2");
  EXPECT_TRUE(m.config["tie_word_embeddings"].get<bool>());
  Tensor ids = from_vector<int64_t>({3, 1, 4, 1, 5, 9, 2, 6}, {1, 8}, DType::I64);
  EXPECT_EQ(normalised(m.model->forward(ids).logits, ref->forward(ids).logits), 0.0);
  // Without its biases a file is not a qwen2 model.
  expect_error<LoadError>(write_from_model("qwen2_nobias", "qwen2", cfg, *ref,
                                           [](auto& in) {
                                             std::erase_if(in.tensors, [](auto& t) {
                                               return t.name.ends_with(".bias");
                                             });
                                           }),
                          {"blk.0.attn_q.bias", "missing"});
  fs::remove(p);
}

// mamba: A = -exp(A_log) and the (I, K) kernel are turned back into HF's parameters; the logits
// are the original model's up to A's round trip (log then exp: a few ulp of A, propagated).
TEST(GgufModel, MambaLoadsAsTheModelItWasWrittenFrom) {
  const config::Json cfg = mamba_config();
  auto ref = families::build_causal_lm_seeded(cfg, 6);
  const std::string p = write_from_model("mamba", "mamba", cfg, *ref);
  io::PretrainedModel m = io::load_gguf(p);
  EXPECT_EQ(m.family, "mamba");
  EXPECT_EQ(m.config["expand"], 2);
  EXPECT_FALSE(m.config["tie_word_embeddings"].get<bool>());
  EXPECT_FALSE(m.config["use_bias"].get<bool>());
  EXPECT_TRUE(m.config["use_conv_bias"].get<bool>());
  Tensor ids = from_vector<int64_t>({3, 1, 4, 1, 5, 9, 2, 6}, {1, 8}, DType::I64);
  EXPECT_LT(normalised(m.model->forward(ids).logits, ref->forward(ids).logits), 1e-5);
  auto sd = m.model->state_dict();
  EXPECT_EQ(sd.at("backbone.layers.1.mixer.conv1d.weight").shape(), (Shape{64, 1, 4}));

  // A positive A has no A_log; Falcon-Mamba's dt / B / C norms are not supported.
  expect_error<LoadError>(
      write_from_model("mamba_a", "mamba", cfg, *ref,
                       [](auto& in) {
                         for (auto& t : in.tensors)
                           if (t.name == "blk.1.ssm_a")
                             t = GgufWriterTensor::from_tensor(t.name, ones({64, 8}));
                       }),
      {"blk.1.ssm_a", "never positive"});
  expect_error<ConfigError>(
      write_from_model("mamba_rms", "mamba", cfg, *ref,
                       [](auto& in) { set(in, "mamba.ssm.dt_b_c_rms", GgufValue::boolean(true)); }),
      {"mamba.ssm.dt_b_c_rms", "Falcon-Mamba"});
  expect_error<ConfigError>(
      write_from_model("mamba_inner", "mamba", cfg, *ref,
                       [](auto& in) { set(in, "mamba.ssm.inner_size", GgufValue::u32(50)); }),
      {"mamba.ssm.inner_size", "50"});
  fs::remove(p);
}

TEST(GgufModel, UnknownArchitecturesListTheSupportedOnes) {
  expect_error<ConfigError>(
      write_tiny("arch_list",
                 [](auto& in) { set(in, "general.architecture", GgufValue::string("rwkv6")); }),
      {"'rwkv6'", "llama, mistral, qwen2, mamba"});
  // "mistral" reads the llama keys under its own prefix.
  const std::string p = write_tiny("mistral", [](auto& in) {
    set(in, "general.architecture", GgufValue::string("mistral"));
    for (auto& [k, v] : in.metadata)
      if (k.starts_with("llama.")) k = "mistral." + k.substr(6);
  });
  io::PretrainedModel m = io::load_gguf(p);
  EXPECT_EQ(m.family, "llama");
  EXPECT_EQ(m.config["num_key_value_heads"], 2);
  fs::remove(p);
}
