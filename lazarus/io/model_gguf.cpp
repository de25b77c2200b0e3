// GGUF models (see model_gguf.h). Names and the Q / K permutation follow llama.cpp's
// convert_hf_to_gguf.py (LlamaModel) and gguf-py's tensor map.
#include "lazarus/io/model_gguf.h"

#include <algorithm>
#include <chrono>
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

// The architectures whose tensors and keys map onto a registered family.
const char* const kArchitectures[] = {"llama"};

std::string arch_of(const GgufFile& f) {
  const std::string arch = f.get("general.architecture").as_string();
  for (const char* a : kArchitectures)
    if (arch == a) return arch;
  throw ConfigError(fmt::format(
      "{}: general.architecture '{}' is not supported yet (GGUF models of architecture llama "
      "load today; other families load from Hugging Face folders)",
      f.path(), arch));
}

// The llama.cpp name of each HF name's tensor in block N ("blk.N." prefix), and the rest.
const std::pair<const char*, const char*> kBlockNames[] = {
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
const std::pair<const char*, const char*> kModelNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

std::string hf_name(const std::string& gguf_name, const std::string& file) {
  for (auto [g, h] : kModelNames)
    if (gguf_name == g) return h;
  static const std::regex block(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(gguf_name, m, block)) {
    for (auto [g, h] : kBlockNames)
      if (m[2] == g) return fmt::format("model.layers.{}.{}", m[1].str(), h);
  }
  throw LoadError(fmt::format(
      "{}: tensor '{}' is not part of a Llama model as Lazarus knows it (rope_freqs, biases and "
      "experts are not supported yet)",
      file, gguf_name));
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

}  // namespace

config::Json gguf_model_config(const GgufFile& f) {
  const std::string arch = arch_of(f);
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
  j["model_type"] = "llama";
  j["architectures"] = {"LlamaForCausalLM"};
  const int64_t heads = u("attention.head_count");
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
                                                              : u("embedding_length") / std::max<int64_t>(heads, 1);
  if (f.has(key("attention.key_length"))) j["head_dim"] = head_dim;
  if (f.has(key("rope.dimension_count")) && u("rope.dimension_count") != head_dim) {
    throw ConfigError(fmt::format("{}: {} = {} rotates part of each head (of {}); not supported yet",
                                  f.path(), key("rope.dimension_count"),
                                  u("rope.dimension_count"), head_dim));
  }
  const auto& embd = f.info("token_embd.weight");
  j["vocab_size"] = f.has(key("vocab_size")) ? u("vocab_size") : embd.shape()[0];
  j["tie_word_embeddings"] = !f.has_tensor("output.weight");
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

  const int64_t heads = m.config["num_attention_heads"], kv_heads = m.config["num_key_value_heads"];
  nn::StateDict weights;
  for (const auto& info : f->tensors()) {
    const std::string name = hf_name(info.name, path);
    Tensor t = f->tensor(info.name);
    m.weight_bytes += info.nbytes;
    // Norms (and any f16 / bf16 / f32 embedding) in f32; matrices as stored.
    if (!is_quantized(t.dtype()) && (t.dim() == 1 || info.name == "token_embd.weight"))
      t = t.to(DType::F32);
    if (info.name.ends_with("attn_q.weight")) t = unpermute_rows(t, heads);
    if (info.name.ends_with("attn_k.weight")) t = unpermute_rows(t, kv_heads);
    weights[name] = t;
  }
  load_weights(*m.model, std::move(weights), path, /*keep_dtype=*/true);
  m.model->eval();
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace lazarus::io
