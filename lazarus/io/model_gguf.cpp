// GGUF models (see model_gguf.h). Names, the Q / K permutation (llama only) and Mamba's stored
// A = -exp(A_log) follow llama.cpp's convert_hf_to_gguf.py (LlamaModel, Qwen2Model, MambaModel)
// and gguf-py's tensor map.
#include "lazarus/io/model_gguf.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/families/registry.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/nn/init.h"
#include "lazarus/tokenizers/gguf_vocab.h"

namespace lazarus::io {

using formats::GgufFile;

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in && in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

namespace {

// How each supported general.architecture maps onto a registered family: the family's
// config.json keys from the <arch>.* metadata, and llama.cpp's tensor names onto the family's.
enum class ArchKind { Llama, Qwen2, Mamba };
struct ArchSpec {
  const char* name;
  ArchKind kind;
};
// "mistral": llama.cpp's convert_hf_to_gguf.py writes Mistral as "llama"; some other converters
// write "mistral" with the same keys and tensors.
constexpr ArchSpec kArchitectures[] = {{"llama", ArchKind::Llama},
                                       {"mistral", ArchKind::Llama},
                                       {"qwen2", ArchKind::Qwen2},
                                       {"mamba", ArchKind::Mamba}};

ArchSpec arch_of(const GgufFile& f) {
  const std::string arch = f.get("general.architecture").as_string();
  std::string names;
  for (const ArchSpec& a : kArchitectures) {
    if (arch == a.name) return a;
    names += fmt::format("{}{}", names.empty() ? "" : ", ", a.name);
  }
  throw ConfigError(fmt::format(
      "{}: general.architecture '{}' is not supported yet (GGUF architectures that load: {}; "
      "other families load from Hugging Face folders)",
      f.path(), arch, names));
}

// The llama.cpp name of each HF name's tensor in block N ("blk.N." prefix), and the rest.
using NamePairs = std::vector<std::pair<std::string, std::string>>;
const NamePairs& block_names(ArchKind kind) {
  static const NamePairs attention = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
  };
  static const NamePairs qwen2 = [] {
    NamePairs n = attention;
    n.insert(n.end(), {{"attn_q.bias", "self_attn.q_proj.bias"},
                       {"attn_k.bias", "self_attn.k_proj.bias"},
                       {"attn_v.bias", "self_attn.v_proj.bias"}});
    return n;
  }();
  // HF MambaForCausalLM under backbone.layers.N.
  static const NamePairs mamba = {
      {"attn_norm.weight", "norm.weight"},
      {"ssm_in.weight", "mixer.in_proj.weight"},
      {"ssm_in.bias", "mixer.in_proj.bias"},
      {"ssm_conv1d.weight", "mixer.conv1d.weight"},
      {"ssm_conv1d.bias", "mixer.conv1d.bias"},
      {"ssm_x.weight", "mixer.x_proj.weight"},
      {"ssm_dt.weight", "mixer.dt_proj.weight"},
      {"ssm_dt.bias", "mixer.dt_proj.bias"},
      {"ssm_a", "mixer.A_log"},
      {"ssm_d", "mixer.D"},
      {"ssm_out.weight", "mixer.out_proj.weight"},
      {"ssm_out.bias", "mixer.out_proj.bias"},
  };
  return kind == ArchKind::Mamba ? mamba : kind == ArchKind::Qwen2 ? qwen2 : attention;
}

std::string hf_name(ArchKind kind, const std::string& gguf_name, const std::string& file) {
  const bool mamba = kind == ArchKind::Mamba;
  if (gguf_name == "token_embd.weight")
    return mamba ? "backbone.embeddings.weight" : "model.embed_tokens.weight";
  if (gguf_name == "output_norm.weight")
    return mamba ? "backbone.norm_f.weight" : "model.norm.weight";
  if (gguf_name == "output.weight") return "lm_head.weight";
  static const std::regex block(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(gguf_name, m, block)) {
    for (const auto& [g, h] : block_names(kind))
      if (m[2] == g)
        return fmt::format("{}.layers.{}.{}", mamba ? "backbone" : "model", m[1].str(), h);
  }
  const char* what = kind == ArchKind::Mamba   ? "a Mamba"
                     : kind == ArchKind::Qwen2 ? "a Qwen2"
                                               : "a Llama";
  throw LoadError(fmt::format(
      "{}: tensor '{}' is not part of {} model as Lazarus knows it (rope_freqs, biases the family "
      "has no place for, and experts are not supported yet)",
      file, gguf_name, what));
}

// convert_hf_to_gguf.py stores q_proj / k_proj rows per head as (half, pair) instead of HF's
// (pair, half) (so llama.cpp can rotate adjacent pairs). Undone on whole rows, so any dtype works.
Tensor unpermute_rows(const Tensor& w, int64_t heads) {
  const int64_t N = w.size(0), hd = N / heads;
  const size_t rb = dtype_nbytes(w.dtype(), w.size(1));
  Tensor out = empty(w.shape(), w.dtype());
  const auto* s = static_cast<const uint8_t*>(w.raw_data());
  auto* d = static_cast<uint8_t*>(out.raw_data());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t two = 0; two < 2; ++two)
      for (int64_t j = 0; j < hd / 2; ++j)
        std::memcpy(d + size_t(h * hd + two * (hd / 2) + j) * rb, s + size_t(h * hd + 2 * j + two) * rb,
                    rb);
  return out;
}

// The attention families' config (llama / mistral -> Llama, qwen2 -> Qwen2).
config::Json attention_config(const GgufFile& f, const std::string& arch, ArchKind kind) {
  auto key = [&](const char* k) { return arch + "." + k; };
  auto u = [&](const char* k) { return int64_t(f.get(key(k)).as_u64()); };
  if (const auto* v = f.find(key("rope.scaling.type")); v && v->as_string() != "none") {
    throw ConfigError(fmt::format("{}: {} = '{}': rope scaling is not supported yet", f.path(),
                                  key("rope.scaling.type"), v->as_string()));
  }
  if (const auto* v = f.find(key("expert_count")); v && v->as_u64() > 0) {
    throw ConfigError(fmt::format("{}: {} = {}: mixture-of-experts GGUF models are not supported yet",
                                  f.path(), key("expert_count"), v->as_u64()));
  }
  config::Json j;
  if (kind == ArchKind::Qwen2) {
    j["model_type"] = "qwen2";
    j["architectures"] = {"Qwen2ForCausalLM"};
  } else {
    j["model_type"] = "llama";
    j["architectures"] = {"LlamaForCausalLM"};
  }
  const int64_t heads = u("attention.head_count");
  if (heads <= 0)
    throw ConfigError(
        fmt::format("{}: {} = {}: must be positive", f.path(), key("attention.head_count"), heads));
  j["hidden_size"] = u("embedding_length");
  j["intermediate_size"] = u("feed_forward_length");
  j["num_hidden_layers"] = u("block_count");
  j["num_attention_heads"] = heads;
  j["num_key_value_heads"] = f.has(key("attention.head_count_kv"))
                                 ? u("attention.head_count_kv")
                                 : heads;
  j["max_position_embeddings"] = u("context_length");
  j["rms_norm_eps"] = f.get(key("attention.layer_norm_rms_epsilon")).as_f64();
  if (const auto* t = f.find(key("rope.freq_base"))) j["rope_theta"] = t->as_f64();
  const int64_t head_dim = f.has(key("attention.key_length")) ? u("attention.key_length")
                                                              : u("embedding_length") / heads;
  if (f.has(key("attention.key_length"))) j["head_dim"] = head_dim;
  if (f.has(key("rope.dimension_count")) && u("rope.dimension_count") != head_dim) {
    throw ConfigError(fmt::format("{}: {} = {} rotates part of each head (of {}); not supported yet",
                                  f.path(), key("rope.dimension_count"),
                                  u("rope.dimension_count"), head_dim));
  }
  if (kind == ArchKind::Qwen2) {
    // Qwen2's q / k / v always carry a bias (HF Qwen2Attention); a file without them is not one.
    for (const char* b : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) {
      if (!f.has_tensor(fmt::format("blk.0.{}", b)))
        throw LoadError(
            fmt::format("{}: tensor 'blk.0.{}' is missing (qwen2 attention has q / k / v "
                        "biases)",
                        f.path(), b));
    }
    j["use_sliding_window"] = false;  // llama.cpp's qwen2 attends to the whole context
  }
  const auto& embd = f.info("token_embd.weight");
  j["vocab_size"] = f.has(key("vocab_size")) ? u("vocab_size") : embd.shape()[0];
  j["tie_word_embeddings"] = !f.has_tensor("output.weight");
  return j;
}

// llama.cpp's mamba (convert_hf_to_gguf.py MambaModel): mamba.embedding_length, block_count,
// ssm.{conv_kernel, inner_size, state_size, time_step_rank}, attention.layer_norm_rms_epsilon.
config::Json mamba_config(const GgufFile& f, const std::string& arch) {
  auto key = [&](const char* k) { return arch + "." + k; };
  auto u = [&](const char* k) { return int64_t(f.get(key(k)).as_u64()); };
  if (const auto* v = f.find(key("ssm.dt_b_c_rms")); v && v->as_bool()) {
    throw ConfigError(
        fmt::format("{}: {} = true (Falcon-Mamba's RMS norms on dt / B / C) is not supported yet",
                    f.path(), key("ssm.dt_b_c_rms")));
  }
  const int64_t D = u("embedding_length"), I = u("ssm.inner_size");
  if (D <= 0 || I <= 0 || I % D != 0) {
    throw ConfigError(fmt::format(
        "{}: {} = {} is not a positive multiple of {} = {} (Mamba's expand * hidden_size)",
        f.path(), key("ssm.inner_size"), I, key("embedding_length"), D));
  }
  config::Json j;
  j["model_type"] = "mamba";
  j["architectures"] = {"MambaForCausalLM"};
  j["hidden_size"] = D;
  j["expand"] = I / D;
  j["num_hidden_layers"] = u("block_count");
  j["state_size"] = u("ssm.state_size");
  j["conv_kernel"] = u("ssm.conv_kernel");
  j["time_step_rank"] = u("ssm.time_step_rank");
  j["layer_norm_epsilon"] = f.get(key("attention.layer_norm_rms_epsilon")).as_f64();
  j["use_bias"] = f.has_tensor("blk.0.ssm_in.bias");
  j["use_conv_bias"] = f.has_tensor("blk.0.ssm_conv1d.bias");
  j["hidden_act"] = "silu";
  j["vocab_size"] = f.info("token_embd.weight").shape()[0];
  j["tie_word_embeddings"] = !f.has_tensor("output.weight");
  return j;
}

// A = -exp(A_log) as llama.cpp stores it, back to A_log = log(-A) in f32. A value > 0 (or NaN)
// has no A_log: refused by name. (The model recomputes A = -exp(A_log): within 2 ulp of A.)
Tensor a_log_from_ssm_a(const Tensor& a, const std::string& file, const std::string& name) {
  Tensor f32 = a.to(DType::F32).contiguous();
  std::vector<float> v = f32.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (!(v[i] <= 0.0f)) {
      throw LoadError(
          fmt::format("{}: tensor '{}' element {} = {}: llama.cpp stores A = "
                      "-exp(A_log), which is never positive or NaN",
                      file, name, i, v[i]));
    }
    v[i] = std::log(-v[i]);
  }
  return from_vector(v, f32.shape(), DType::F32);
}

}  // namespace

std::vector<std::string> gguf_architectures() {
  std::vector<std::string> out;
  for (const ArchSpec& a : kArchitectures) out.emplace_back(a.name);
  return out;
}

config::Json gguf_model_config(const GgufFile& f) {
  const ArchSpec a = arch_of(f);
  config::Json j =
      a.kind == ArchKind::Mamba ? mamba_config(f, a.name) : attention_config(f, a.name, a.kind);
  if (const auto* b = f.find("tokenizer.ggml.bos_token_id")) j["bos_token_id"] = b->as_i64();
  if (const auto* e = f.find("tokenizer.ggml.eos_token_id")) j["eos_token_id"] = e->as_i64();
  j["torch_dtype"] = "float32";
  return j;
}

PretrainedModel load_gguf(const std::string& path, const LoadOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opts.dtype != DType::F32 || opts.quantize) {
    throw DTypeError(fmt::format(
        "{}: a GGUF model computes in f32 with its weights as stored (got --dtype {}; the file's "
        "weight types are used in place)",
        path, opts.quantize ? opts.quantize->name : std::string(dtype_name(opts.dtype))));
  }
  const std::shared_ptr<GgufFile> f = GgufFile::open(path);
  PretrainedModel m;
  m.folder = path;
  m.config = gguf_model_config(*f);
  m.family = families::family_for(m.config).name;
  {
    nn::init::SkipInitGuard skip_init;  // every parameter comes from the file
    m.model = families::build_causal_lm(m.config, DType::F32);
  }
  m.generation = generation::GenerationConfig::from_model_config(m.config);
  if (opts.load_tokenizer && f->has("tokenizer.ggml.model")) {
    auto tok = std::make_shared<tokenizers::Tokenizer>(tokenizers::tokenizer_from_gguf(*f));
    if (tok->config()) m.tokenizer_config = *tok->config();
    m.tokenizer = std::move(tok);
    // llama.cpp stops at every end-of-generation token its vocabulary marks (eot, eom, ...).
    for (uint32_t id : tokenizers::gguf_eog_token_ids(*f)) {
      if (std::find(m.generation.eos_token_id.begin(), m.generation.eos_token_id.end(), int64_t(id)) ==
          m.generation.eos_token_id.end())
        m.generation.eos_token_id.push_back(int64_t(id));
    }
  }

  const ArchKind kind = arch_of(*f).kind;
  const int64_t heads =
      kind == ArchKind::Mamba ? 0 : m.config["num_attention_heads"].get<int64_t>();
  const int64_t kv_heads =
      kind == ArchKind::Mamba ? 0 : m.config["num_key_value_heads"].get<int64_t>();
  nn::StateDict weights;
  for (const auto& info : f->tensors()) {
    const std::string name = hf_name(kind, info.name, path);
    Tensor t = f->tensor(info.name);
    m.weight_bytes += info.nbytes;
    // Norms and biases in f32; matrices and the token table as stored (an f16 / bf16 table's
    // looked-up rows are widened by the embedding, and a tied head multiplies by it in place).
    if (!is_quantized(t.dtype()) && t.dim() == 1) t = t.to(DType::F32);
    const bool q = info.name.ends_with("attn_q.weight"), k = info.name.ends_with("attn_k.weight");
    if (kind == ArchKind::Llama && (q || k)) {
      t = unpermute_rows(t, q ? heads : kv_heads);
      f->release(info.name);  // the reordered copy replaces the file's pages in memory
    }
    if (kind == ArchKind::Mamba) {
      if (info.name.ends_with(".ssm_a")) t = a_log_from_ssm_a(t, path, info.name);
      // llama.cpp keeps the depthwise kernel as (I, K); HF's Conv1d weight is (I, 1, K). The
      // convolution reads it in f32.
      if (info.name.ends_with("ssm_conv1d.weight")) {
        if (is_quantized(t.dtype()) || t.dim() != 2)
          throw LoadError(
              fmt::format("{}: tensor '{}' ({}, shape {}): the convolution kernel must "
                          "be a plain (inner_size, conv_kernel) matrix",
                          path, info.name, dtype_name(t.dtype()), shape_str(t.shape())));
        t = t.to(DType::F32).contiguous().reshape({t.size(0), 1, t.size(1)});
      }
    }
    weights[name] = t;
  }
  load_weights(*m.model, std::move(weights), path, /*keep_dtype=*/true);
  m.model->backbone->embed_tokens->set_output_dtype(DType::F32);
  m.model->eval();
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace lazarus::io
