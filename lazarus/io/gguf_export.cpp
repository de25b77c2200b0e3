// HF folder <-> GGUF conversion (see gguf_export.h). Tensor names, metadata keys and the Q / K
// permutation follow llama.cpp's convert_hf_to_gguf.py (LlamaModel) and gguf-py, the per-tensor
// types its llama-quantize (src/llama-quant.cpp), all read to learn.
#include "lazarus/io/gguf_export.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lazarus/core/error.h"
#include "lazarus/core/json_limits.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/families/llama/llama_config.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/io/model_gguf.h"
#include "lazarus/io/quant_mix.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tokenizers/gguf_vocab.h"

namespace lazarus::io {

namespace fs = std::filesystem;
using formats::GgmlType;
using formats::GgufValue;

namespace {

// One --type: how convert_hf_to_gguf / llama-quantize would write the matrices.
struct ExportType {
  const char* name;
  uint32_t file_type;  // llama_ftype (llama.h)
  DType plain;         // F32 / F16 / BF16 for the float types; F32 for the quantized ones
  const char* mix;     // quant_mix name, or nullptr
  bool llama_rules;    // llama-quantize's per-tensor rule (q4_0 / q4_1 / q6_K ftypes too)
};
// clang-format off
const ExportType kTypes[] = {
    {"f32", 0, DType::F32, nullptr, false},   {"f16", 1, DType::F16, nullptr, false},
    {"bf16", 32, DType::BF16, nullptr, false}, {"q8_0", 7, DType::F32, "q8_0", false},
    {"q4_0", 2, DType::F32, "q4_0", true},    {"q4_1", 3, DType::F32, "q4_1", true},
    {"q4_K_M", 15, DType::F32, "q4_K_M", true}, {"q4_K_S", 14, DType::F32, "q4_K_S", true},
    {"q5_K_M", 17, DType::F32, "q5_K_M", true}, {"q5_K_S", 16, DType::F32, "q5_K_S", true},
    {"q6_K", 18, DType::F32, "q6_K", true},
    {"q4_K", 15, DType::F32, "q4_K_M", true},  {"q5_K", 17, DType::F32, "q5_K_M", true},
};
// clang-format on

const ExportType& export_type(const std::string& s) {
  for (const ExportType& t : kTypes) {
    const std::string_view n = t.name;
    if (n.size() == s.size() && std::equal(s.begin(), s.end(), n.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return t;
  }
  throw DTypeError(fmt::format("[convert] --type '{}' is not one of {}", s, fmt::join(gguf_export_types(), ", ")));
}

// HF name in block N -> llama.cpp's.
const std::pair<const char*, const char*> kBlockNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

// convert_hf_to_gguf's LlamaModel.permute: per head, HF's rows (two halves of hd/2) become the
// interleaved pairs llama.cpp's rope rotates: out row h hd + 2 j + t = in row h hd + t hd/2 + j.
Tensor permute_rows(const Tensor& w, int64_t heads) {
  const int64_t N = w.size(0), hd = N / heads;
  const size_t rb = dtype_nbytes(w.dtype(), w.size(1));
  Tensor src = w.contiguous();
  Tensor out = empty(w.shape(), w.dtype());
  const auto* s = static_cast<const uint8_t*>(src.raw_data());
  auto* d = static_cast<uint8_t*>(out.raw_data());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < hd / 2; ++j)
      for (int64_t t = 0; t < 2; ++t)
        std::memcpy(d + size_t(h * hd + 2 * j + t) * rb, s + size_t(h * hd + t * (hd / 2) + j) * rb, rb);
  return out;
}

nlohmann::json read_json_file(const fs::path& p, const char* what) {
  return parse_json_text<nlohmann::json, LoadError>(read_regular_file(p.string(), what, 1ull << 30),
                                                    p.string(), 256);
}

std::string type_label(GgmlType t) { return formats::ggml_type_traits(t).name; }

}  // namespace

std::vector<std::string> gguf_export_types() {
  std::vector<std::string> out;
  for (const ExportType& t : kTypes) out.emplace_back(t.name);
  return out;
}

ConvertReport export_gguf(const std::string& folder, const std::string& out, const std::string& type) {
  const ExportType& et = export_type(type);
  const fs::path dir(folder);
  if (!fs::is_directory(dir))
    throw LoadError(fmt::format("[convert] {}: not a Hugging Face model folder", folder));
  const std::string cfg_path = (dir / "config.json").string();
  const config::Json raw = parse_json_text<config::Json, ConfigError>(
      read_regular_file(cfg_path, "config file", 16u << 20), cfg_path, 64);
  const std::string model_type = raw.is_object() && raw.contains("model_type") && raw["model_type"].is_string()
                                     ? raw["model_type"].get<std::string>()
                                     : std::string("(none)");
  if (model_type != "llama" && model_type != "mistral") {
    throw ConfigError(fmt::format(
        "[convert] {}: model_type '{}' is not converted to GGUF yet (llama and mistral are: "
        "llama.cpp's \"llama\" architecture)",
        cfg_path, model_type));
  }
  const families::LlamaConfig c = families::LlamaConfig::from_json(raw, cfg_path);
  auto refuse = [&](const std::string& what) {
    throw ConfigError(fmt::format("[convert] {}: {}: not expressible in llama.cpp's llama GGUF "
                                  "as Lazarus writes it",
                                  cfg_path, what));
  };
  if (c.attention_bias) refuse("attention_bias = true");
  if (c.mlp_bias) refuse("mlp_bias = true");
  if (c.rope_scaling.scaling != config::RoPEScalingType::None) refuse("rope_scaling is set");
  if (c.sliding_window) refuse(fmt::format("sliding_window = {}", *c.sliding_window));
  if (c.hidden_act != config::ActivationType::SiLU) refuse("hidden_act is not silu");

  LoadOptions lo;
  lo.load_tokenizer = false;
  PretrainedModel m = load_pretrained(folder, lo);
  if (m.task != families::ModelTask::CausalLM) refuse("not a *ForCausalLM model");
  const nn::StateDict sd = m.module().state_dict();

  const int64_t H = c.num_attention_heads, Hkv = c.kv_heads();
  const int64_t head_dim = c.head_dim.value_or(c.hidden_size / H);
  const int n_layers = int(c.num_hidden_layers);
  std::optional<QuantMix> mix;
  if (et.mix) {
    mix = quant_mix_from_string(et.mix);
    mix->llama_rules = et.llama_rules;
  }

  formats::GgufWriterInput w;
  auto kv = [&](std::string key, GgufValue v) { w.metadata.emplace_back(std::move(key), std::move(v)); };
  kv("general.architecture", GgufValue::string("llama"));
  kv("general.type", GgufValue::string("model"));
  kv("general.name", GgufValue::string(fs::absolute(dir).lexically_normal().filename().empty()
                                            ? fs::absolute(dir).lexically_normal().parent_path().filename().string()
                                            : fs::absolute(dir).lexically_normal().filename().string()));
  kv("llama.block_count", GgufValue::u32(uint32_t(n_layers)));
  kv("llama.context_length", GgufValue::u32(uint32_t(c.max_position_embeddings)));
  kv("llama.embedding_length", GgufValue::u32(uint32_t(c.hidden_size)));
  kv("llama.feed_forward_length", GgufValue::u32(uint32_t(c.intermediate_size)));
  kv("llama.attention.head_count", GgufValue::u32(uint32_t(H)));
  kv("llama.attention.head_count_kv", GgufValue::u32(uint32_t(Hkv)));
  kv("llama.rope.freq_base", GgufValue::f32(float(c.rope_theta)));
  kv("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_norm_eps)));
  if (head_dim != c.hidden_size / H) {
    kv("llama.attention.key_length", GgufValue::u32(uint32_t(head_dim)));
    kv("llama.attention.value_length", GgufValue::u32(uint32_t(head_dim)));
  }
  kv("general.file_type", GgufValue::u32(et.file_type));
  kv("llama.vocab_size", GgufValue::u32(uint32_t(c.vocab_size)));
  kv("llama.rope.dimension_count", GgufValue::u32(uint32_t(head_dim)));
  if (mix) kv("general.quantization_version", GgufValue::u32(2));

  ConvertReport report;
  const fs::path tok_path = dir / "tokenizer.json";
  if (fs::exists(tok_path)) {
    const nlohmann::json tj = read_json_file(tok_path, "tokenizer file");
    nlohmann::json tc = nlohmann::json::object();
    if (fs::exists(dir / "tokenizer_config.json")) tc = read_json_file(dir / "tokenizer_config.json", "tokenizer config");
    if (!tc.contains("chat_template") && fs::exists(dir / "chat_template.jinja"))
      tc["chat_template"] = read_regular_file((dir / "chat_template.jinja").string(), "chat template", 16u << 20);
    for (auto& [k, v] : tokenizers::gguf_vocab_from_hf(tj, tc, c.vocab_size, tok_path.string()))
      kv(k, std::move(v));
    // gguf-py's SpecialVocab then fills the ids the tokenizer files did not give from config.json.
    auto has = [&](const std::string& key) {
      return std::any_of(w.metadata.begin(), w.metadata.end(), [&](const auto& e) { return e.first == key; });
    };
    const std::pair<const char*, std::optional<int64_t>> ids[] = {
        {"tokenizer.ggml.bos_token_id", c.bos_token_id},
        {"tokenizer.ggml.eos_token_id",
         c.eos_token_id.empty() ? std::nullopt : std::optional<int64_t>(c.eos_token_id.front())},
        {"tokenizer.ggml.padding_token_id", c.pad_token_id}};
    for (const auto& [key, id] : ids) {
      if (id && *id >= 0 && *id < c.vocab_size && !has(key)) kv(key, GgufValue::u32(uint32_t(*id)));
    }
  } else {
    report.notes.push_back(fmt::format("{} has no tokenizer.json: the GGUF has no tokenizer", folder));
  }

  // Tensors in convert_hf_to_gguf's order: the embedding, each block, the final norm, the head.
  std::vector<std::pair<std::string, std::string>> order;  // (gguf name, HF name)
  order.emplace_back("token_embd.weight", "model.embed_tokens.weight");
  for (int l = 0; l < n_layers; ++l)
    for (auto [hf, g] : kBlockNames)
      order.emplace_back(fmt::format("blk.{}.{}", l, g), fmt::format("model.layers.{}.{}", l, hf));
  order.emplace_back("output_norm.weight", "model.norm.weight");
  const bool tied = c.tie_word_embeddings;
  if (!tied) order.emplace_back("output.weight", "lm_head.weight");
  size_t used = 0;
  NoGradGuard ng;
  for (const auto& [gname, hname] : order) {
    auto it = sd.find(hname);
    if (it == sd.end())
      throw LoadError(fmt::format("[convert] {}: the model has no tensor '{}' (for {})", folder, hname, gname));
    ++used;
    Tensor t = it->second.contiguous().to(DType::F32);
    if (gname.ends_with("attn_q.weight")) t = permute_rows(t, H);
    if (gname.ends_with("attn_k.weight")) t = permute_rows(t, Hkv);
    DType dt = DType::F32;
    if (t.dim() == 2 && et.plain != DType::F32) dt = et.plain;
    if (t.dim() == 2 && mix) {
      int layer = -1;
      const MatrixRole role = matrix_role(hname, layer);
      dt = quant_mix_type(*mix, role, layer, n_layers, t.size(1), tied).value_or(DType::F16);
    }
    if (dt != DType::F32) t = t.to(dt);
    w.tensors.push_back(formats::GgufWriterTensor::from_tensor(gname, t));
    ++report.tensors_by_type[type_label(w.tensors.back().type)];
  }
  if (used != sd.size() - (tied && sd.count("lm_head.weight") ? 1 : 0)) {
    std::vector<std::string> extra;
    for (const auto& [name, t] : sd) {
      bool known = tied && name == "lm_head.weight";
      for (const auto& [g, h] : order) known = known || h == name;
      if (!known) extra.push_back(name);
    }
    throw LoadError(fmt::format("[convert] {}: tensors with no llama.cpp name: {}", folder, fmt::join(extra, ", ")));
  }
  formats::save_gguf(out, w);
  report.file_bytes = fs::file_size(out);
  return report;
}

ConvertReport export_hf(const std::string& gguf, const std::string& out) {
  const auto f = formats::GgufFile::open(gguf);
  for (const auto& info : f->tensors()) {
    if (info.type != GgmlType::F32 && info.type != GgmlType::F16 && info.type != GgmlType::BF16) {
      throw DTypeError(fmt::format(
          "[convert] {}: tensor '{}' is {}; only f32 / f16 / bf16 GGUF files are written back as "
          "Hugging Face folders (dequantizing would not give the original weights)",
          gguf, info.name, type_label(info.type)));
    }
  }
  LoadOptions lo;
  lo.load_tokenizer = false;
  PretrainedModel m = load_gguf(gguf, lo);
  SaveOptions so;
  so.generation = m.generation;
  save_pretrained(m.causal_lm(), out, so);
  ConvertReport report;
  if (f->has("tokenizer.ggml.model")) {
    const tokenizers::HfTokenizerFiles files = tokenizers::hf_tokenizer_from_gguf(*f);
    auto write = [&](const char* name, const nlohmann::json& j) {
      const fs::path p = fs::path(out) / name, tmp = fs::path(out) / (std::string(name) + ".tmp");
      {
        std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
        o << j.dump(2);
        if (!o) throw LoadError(fmt::format("[convert] cannot write {}", tmp.string()));
      }
      fs::rename(tmp, p);
    };
    write("tokenizer.json", files.tokenizer);
    nlohmann::json tc = files.tokenizer_config;
    write("tokenizer_config.json", tc);
  } else {
    report.notes.push_back(fmt::format("{} has no tokenizer.ggml.* metadata: no tokenizer written", gguf));
  }
  for (const auto& info : f->tensors()) ++report.tensors_by_type[type_label(info.type)];
  return report;
}

}  // namespace lazarus::io
