// LlamaConfig: HF config.json reading/writing, validation, presets (see llama_config.h).
#include "lazarus/families/llama/llama_config.h"

#include <fmt/format.h>

#include "lazarus/core/json_limits.h"

#include "lazarus/families/hf_config.h"
#include "lazarus/families/rope_scaling.h"

namespace lazarus::families {

using config::Json;
using config::JsonReader;
using config::opt_json;

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

}  // namespace

void LlamaConfig::validate() const {
  check(model_type == "llama" || model_type == "mistral",
        fmt::format("model_type: '{}' is not a Llama-family type (llama, mistral)", model_type));
  check(vocab_size > 0, fmt::format("vocab_size: {} must be > 0", vocab_size));
  check(hidden_size > 0, fmt::format("hidden_size: {} must be > 0", hidden_size));
  check(intermediate_size > 0, fmt::format("intermediate_size: {} must be > 0", intermediate_size));
  check(num_hidden_layers > 0, fmt::format("num_hidden_layers: {} must be > 0", num_hidden_layers));
  check(num_attention_heads > 0,
        fmt::format("num_attention_heads: {} must be > 0", num_attention_heads));
  check(kv_heads() > 0, fmt::format("num_key_value_heads: {} must be > 0", kv_heads()));
  check(num_attention_heads % kv_heads() == 0,
        fmt::format("num_key_value_heads: {} does not divide num_attention_heads {}", kv_heads(),
                    num_attention_heads));
  if (!head_dim) {
    check(hidden_size % num_attention_heads == 0,
          fmt::format("hidden_size: {} is not divisible by num_attention_heads {}", hidden_size,
                      num_attention_heads));
  } else {
    check(*head_dim > 0 && *head_dim % 2 == 0,
          fmt::format("head_dim: {} must be positive and even", *head_dim));
  }
  int64_t Dh = head_dim.value_or(hidden_size / num_attention_heads);
  check(Dh % 2 == 0,
        fmt::format("head_dim: {} (hidden_size / num_attention_heads) must be even", Dh));
  check(max_position_embeddings > 0,
        fmt::format("max_position_embeddings: {} must be > 0", max_position_embeddings));
  check(rms_norm_eps > 0 && rms_norm_eps < 1,
        fmt::format("rms_norm_eps: {} must be in (0, 1)", rms_norm_eps));
  check(rope_theta > 0, fmt::format("rope_theta: {} must be > 0", rope_theta));
  check(attention_dropout >= 0 && attention_dropout <= 1,
        fmt::format("attention_dropout: {} must be in [0, 1]", attention_dropout));
  if (sliding_window)
    check(*sliding_window > 0, fmt::format("sliding_window: {} must be > 0", *sliding_window));
  check(initializer_range >= 0,
        fmt::format("initializer_range: {} must be >= 0", initializer_range));
  for (int64_t id : eos_token_id) {
    check(id >= 0 && id < vocab_size,
          fmt::format("eos_token_id: {} out of range for vocab_size {}", id, vocab_size));
  }
  if (bos_token_id) {
    check(
        *bos_token_id >= 0 && *bos_token_id < vocab_size,
        fmt::format("bos_token_id: {} out of range for vocab_size {}", *bos_token_id, vocab_size));
  }
  if (pad_token_id) {
    // nn.Embedding's padding_idx range (a negative id counts from the end, as torch reads it).
    check(*pad_token_id >= -vocab_size && *pad_token_id < vocab_size,
          fmt::format("pad_token_id: {} out of range [-vocab_size, vocab_size) for vocab_size {}",
                      *pad_token_id, vocab_size));
  }
  auto r = rope_scaling;
  r.theta = rope_theta;
  r.validate("rope_scaling");
  to_model_config().validate();
}

config::ModelConfig LlamaConfig::to_model_config() const {
  using namespace config;
  ModelConfig m;
  BackboneConfig& b = m.backbone;
  b.embedding.vocab_size = vocab_size;
  b.hidden_size = hidden_size;
  b.num_layers = num_hidden_layers;
  b.embedding.max_position_embeddings = max_position_embeddings;
  // HF's LlamaModel / MistralModel: nn.Embedding(vocab, hidden, padding_idx=pad_token_id), a
  // negative id counting from the end (validate() names pad_token_id when it is out of range).
  if (pad_token_id)
    b.embedding.padding_idx = *pad_token_id < 0 ? *pad_token_id + vocab_size : *pad_token_id;
  b.final_norm = NormConfig{NormType::RMSNorm, rms_norm_eps, false};
  BlockConfig& blk = b.block;
  blk.norm = b.final_norm;
  AttentionConfig& a = blk.attention;
  a.num_attention_heads = num_attention_heads;
  a.num_key_value_heads = kv_heads();
  a.type = kv_heads() == num_attention_heads ? AttentionType::MultiHead
           : kv_heads() == 1                 ? AttentionType::MultiQuery
                                             : AttentionType::GroupedQuery;
  a.head_dim = head_dim;
  a.bias = attention_bias;
  a.output_bias = attention_bias;
  a.sliding_window = sliding_window;
  a.dropout = attention_dropout;
  a.position.type = PositionEmbeddingType::RoPE;
  a.position.rope = rope_scaling;
  a.position.rope.theta = rope_theta;
  blk.ffn.type = hidden_act == ActivationType::SiLU ? FFNType::SwiGLU : FFNType::Gated;
  blk.ffn.activation = hidden_act;
  blk.ffn.intermediate_size = intermediate_size;
  blk.ffn.bias = mlp_bias;
  m.head.tie_word_embeddings = tie_word_embeddings;
  return m;
}

Json LlamaConfig::to_json() const {
  Json eos = eos_token_id.size() == 1 ? Json(eos_token_id[0]) : Json(eos_token_id);
  return Json{{"architectures", architectures},
              {"model_type", model_type},
              {"vocab_size", vocab_size},
              {"hidden_size", hidden_size},
              {"intermediate_size", intermediate_size},
              {"num_hidden_layers", num_hidden_layers},
              {"num_attention_heads", num_attention_heads},
              {"num_key_value_heads", opt_json(num_key_value_heads)},
              {"head_dim", opt_json(head_dim)},
              // HF's name for the tanh GELU, so transformers can read the file back.
              {"hidden_act", hidden_act == config::ActivationType::GELUTanh
                                 ? std::string_view("gelu_pytorch_tanh")
                                 : config::to_string(hidden_act)},
              {"max_position_embeddings", max_position_embeddings},
              {"rms_norm_eps", rms_norm_eps},
              {"rope_theta", rope_theta},
              {"rope_scaling", rope_scaling_json(rope_scaling)},
              {"attention_bias", attention_bias},
              {"mlp_bias", mlp_bias},
              {"attention_dropout", attention_dropout},
              {"tie_word_embeddings", tie_word_embeddings},
              {"sliding_window", opt_json(sliding_window)},
              {"initializer_range", initializer_range},
              {"bos_token_id", opt_json(bos_token_id)},
              {"eos_token_id", eos},
              {"pad_token_id", opt_json(pad_token_id)},
              {"torch_dtype", opt_json(torch_dtype)}};
}

LlamaConfig LlamaConfig::from_json(const Json& j, const std::string& path) {
  LlamaConfig c;
  JsonReader r(j, path);
  accept_hf_common_keys(r);
  r.get("architectures", c.architectures);
  r.get("model_type", c.model_type);
  r.require("vocab_size", c.vocab_size);
  r.require("hidden_size", c.hidden_size);
  r.require("intermediate_size", c.intermediate_size);
  r.require("num_hidden_layers", c.num_hidden_layers);
  r.require("num_attention_heads", c.num_attention_heads);
  r.get("num_key_value_heads", c.num_key_value_heads);
  r.get("head_dim", c.head_dim);
  r.get("hidden_act", c.hidden_act);
  r.get("max_position_embeddings", c.max_position_embeddings);
  r.get("rms_norm_eps", c.rms_norm_eps);
  r.get("rope_theta", c.rope_theta);
  if (r.has("rope_scaling"))
    c.rope_scaling = rope_scaling_from_json(r.raw("rope_scaling"), r.field("rope_scaling"));
  r.get("attention_bias", c.attention_bias);
  r.get("mlp_bias", c.mlp_bias);
  r.get("attention_dropout", c.attention_dropout);
  r.get("tie_word_embeddings", c.tie_word_embeddings);
  r.get("sliding_window", c.sliding_window);
  r.get("initializer_range", c.initializer_range);
  r.get("bos_token_id", c.bos_token_id);
  if (r.has("eos_token_id")) {
    const Json& e = r.raw("eos_token_id");
    if (e.is_null())
      c.eos_token_id.clear();
    else if (e.is_array())
      c.eos_token_id = JsonReader::convert<std::vector<int64_t>>(e, r.field("eos_token_id"));
    else
      c.eos_token_id = {JsonReader::convert<int64_t>(e, r.field("eos_token_id"))};
  }
  r.get("pad_token_id", c.pad_token_id);
  r.get("torch_dtype", c.torch_dtype);
  r.finish();
  c.validate();
  return c;
}

LlamaConfig LlamaConfig::from_json_string(const std::string& text) {
  Json j = parse_json_text<Json, ConfigError>(text, "config.json", 64);
  return from_json(j);
}

// ---- presets ----

LlamaConfig LlamaConfig::tiny() {
  LlamaConfig c;
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5;
  return c;
}

LlamaConfig LlamaConfig::llama2_7b() {
  LlamaConfig c;  // meta-llama/Llama-2-7b-hf
  c.max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  c.num_key_value_heads = 32;
  c.torch_dtype = "float16";
  return c;
}

LlamaConfig LlamaConfig::llama2_13b() {
  LlamaConfig c = llama2_7b();
  c.hidden_size = 5120;
  c.intermediate_size = 13824;
  c.num_hidden_layers = 40;
  c.num_attention_heads = 40;
  c.num_key_value_heads = 40;
  return c;
}

LlamaConfig LlamaConfig::llama2_70b() {
  LlamaConfig c = llama2_7b();
  c.hidden_size = 8192;
  c.intermediate_size = 28672;
  c.num_hidden_layers = 80;
  c.num_attention_heads = 64;
  c.num_key_value_heads = 8;
  return c;
}

LlamaConfig LlamaConfig::llama3_8b() {
  LlamaConfig c;  // meta-llama/Meta-Llama-3-8B
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_hidden_layers = 32;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.max_position_embeddings = 8192;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.bos_token_id = 128000;
  c.eos_token_id = {128001};
  c.torch_dtype = "bfloat16";
  return c;
}

LlamaConfig LlamaConfig::llama3_70b() {
  LlamaConfig c = llama3_8b();
  c.hidden_size = 8192;
  c.intermediate_size = 28672;
  c.num_hidden_layers = 80;
  c.num_attention_heads = 64;
  c.num_key_value_heads = 8;
  return c;
}

LlamaConfig LlamaConfig::mistral_7b() {
  LlamaConfig c;  // mistralai/Mistral-7B-v0.1
  c.model_type = "mistral";
  c.architectures = {"MistralForCausalLM"};
  c.intermediate_size = 14336;
  c.num_key_value_heads = 8;
  c.max_position_embeddings = 32768;
  c.rms_norm_eps = 1e-5;
  c.sliding_window = 4096;
  c.torch_dtype = "bfloat16";
  return c;
}

LlamaConfig LlamaConfig::code_llama_7b() {
  LlamaConfig c = llama2_7b();  // codellama/CodeLlama-7b-hf
  c.vocab_size = 32016;
  c.max_position_embeddings = 16384;
  c.rope_theta = 1000000.0;
  c.torch_dtype = "bfloat16";
  return c;
}

std::vector<std::string> LlamaConfig::preset_names() {
  return {"tiny",      "llama2_7b",  "llama2_13b", "llama2_70b",
          "llama3_8b", "llama3_70b", "mistral_7b", "code_llama_7b"};
}

LlamaConfig LlamaConfig::preset(const std::string& name) {
  if (name == "tiny") return tiny();
  if (name == "llama2_7b") return llama2_7b();
  if (name == "llama2_13b") return llama2_13b();
  if (name == "llama2_70b") return llama2_70b();
  if (name == "llama3_8b") return llama3_8b();
  if (name == "llama3_70b") return llama3_70b();
  if (name == "mistral_7b") return mistral_7b();
  if (name == "code_llama_7b") return code_llama_7b();
  std::string names;
  for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError(
      fmt::format("LlamaConfig: unknown preset '{}' (expected one of {})", name, names));
}

}  // namespace lazarus::families
