// LlamaConfig: HF config.json reading/writing, validation, presets (see llama_config.h).
#include "lazarus/families/llama/llama_config.h"

#include <fmt/format.h>

#include "lazarus/config/field_table.h"
#include "lazarus/core/json_limits.h"

#include "lazarus/families/hf_config.h"
#include "lazarus/families/rope_scaling.h"

namespace lazarus::families {

using config::Json;
using config::JsonReader;

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

// The HF config.json fields, written once: key, member, checks (validate() adds the cross-field
// ones).
const config::FieldTable<LlamaConfig>& table() {
  static const config::FieldTable<LlamaConfig> t = [] {
    using C = LlamaConfig;
    config::FieldTable<C> t;
    t.add("architectures", &C::architectures);
    t.add("model_type", &C::model_type)
        .check([](const std::string& v) { return v == "llama" || v == "mistral"; },
               "is not a Llama-family type (llama, mistral)");
    t.add("vocab_size", &C::vocab_size).required().positive();
    t.add("hidden_size", &C::hidden_size).required().positive();
    t.add("intermediate_size", &C::intermediate_size).required().positive();
    t.add("num_hidden_layers", &C::num_hidden_layers).required().positive();
    t.add("num_attention_heads", &C::num_attention_heads).required().positive();
    t.add("num_key_value_heads", &C::num_key_value_heads).positive();
    t.add("head_dim", &C::head_dim)
        .check([](int64_t v) { return v > 0 && v % 2 == 0; }, "must be positive and even");
    t.add("hidden_act", &C::hidden_act).write_with([](const C& c) {
      // HF's name for the tanh GELU, so transformers can read the file back.
      return Json(c.hidden_act == config::ActivationType::GELUTanh
                      ? std::string("gelu_pytorch_tanh")
                      : std::string(config::to_string(c.hidden_act)));
    });
    t.add("max_position_embeddings", &C::max_position_embeddings).positive();
    t.add("rms_norm_eps", &C::rms_norm_eps).in_open(0, 1);
    t.add("rope_theta", &C::rope_theta).positive();
    t.add("rope_scaling", &C::rope_scaling)
        .read_with([](const Json& v, C& c, const std::string& field) {
          c.rope_scaling = rope_scaling_from_json(v, field);
        })
        .write_with([](const C& c) { return rope_scaling_json(c.rope_scaling); });
    t.add("attention_bias", &C::attention_bias);
    t.add("mlp_bias", &C::mlp_bias);
    t.add("attention_dropout", &C::attention_dropout).in_closed(0, 1);
    t.add("tie_word_embeddings", &C::tie_word_embeddings);
    t.add("sliding_window", &C::sliding_window).positive();
    t.add("initializer_range", &C::initializer_range).non_negative();
    t.add("bos_token_id", &C::bos_token_id).check_with(token_id_in_vocab<C>);
    t.add("eos_token_id", &C::eos_token_id).token_ids().check_with(token_id_in_vocab<C>);
    // nn.Embedding's padding_idx range (a negative id counts from the end, as torch reads it).
    t.add("pad_token_id", &C::pad_token_id).check_with([](const C& c, int64_t id) {
      return id >= -c.vocab_size && id < c.vocab_size
                 ? std::string()
                 : fmt::format("out of range [-vocab_size, vocab_size) for vocab_size {}",
                               c.vocab_size);
    });
    t.add("torch_dtype", &C::torch_dtype);
    t.common(accept_hf_common_keys);
    return t;
  }();
  return t;
}

}  // namespace

void LlamaConfig::validate() const {
  table().validate(*this);
  check(num_attention_heads % kv_heads() == 0,
        fmt::format("num_key_value_heads: {} does not divide num_attention_heads {}", kv_heads(),
                    num_attention_heads));
  if (!head_dim) {
    check(hidden_size % num_attention_heads == 0,
          fmt::format("hidden_size: {} is not divisible by num_attention_heads {}", hidden_size,
                      num_attention_heads));
  }
  int64_t Dh = head_dim.value_or(hidden_size / num_attention_heads);
  check(Dh % 2 == 0,
        fmt::format("head_dim: {} (hidden_size / num_attention_heads) must be even", Dh));
  auto r = rope_scaling;
  r.theta = rope_theta;
  r.validate("rope_scaling");
  to_model_config().validate();
}

config::ModelConfig LlamaConfig::to_model_config() const {
  // HF's LlamaModel / MistralModel: nn.Embedding(vocab, hidden, padding_idx=pad_token_id), a
  // negative id counting from the end (validate() names pad_token_id when it is out of range).
  std::optional<int64_t> padding;
  if (pad_token_id) padding = *pad_token_id < 0 ? *pad_token_id + vocab_size : *pad_token_id;
  config::ModelConfig m = decoder_model_config(
      {.vocab_size = vocab_size, .hidden_size = hidden_size,
       .intermediate_size = intermediate_size, .num_hidden_layers = num_hidden_layers,
       .num_attention_heads = num_attention_heads, .num_key_value_heads = kv_heads(),
       .head_dim = head_dim, .hidden_act = hidden_act,
       .max_position_embeddings = max_position_embeddings, .rms_norm_eps = rms_norm_eps,
       .rope_theta = rope_theta, .attention_dropout = attention_dropout, .padding_idx = padding,
       .sliding_window = sliding_window, .tie_word_embeddings = tie_word_embeddings});
  config::BlockConfig& blk = m.backbone.block;
  blk.attention.bias = attention_bias;
  blk.attention.output_bias = attention_bias;
  blk.attention.position.rope = rope_scaling;
  blk.attention.position.rope.theta = rope_theta;
  blk.ffn.bias = mlp_bias;
  return m;
}

Json LlamaConfig::to_json() const { return table().write(*this); }

LlamaConfig LlamaConfig::from_json(const Json& j, const std::string& path) {
  LlamaConfig c;
  table().read(j, c, path);
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

LlamaConfig LlamaConfig::smollm2_135m() {
  LlamaConfig c;  // HuggingFaceTB/SmolLM2-135M
  c.vocab_size = 49152;
  c.hidden_size = 576;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 30;
  c.num_attention_heads = 9;
  c.num_key_value_heads = 3;
  c.max_position_embeddings = 8192;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 100000.0;
  c.tie_word_embeddings = true;
  c.bos_token_id = 0;
  c.eos_token_id = {0};
  c.torch_dtype = "bfloat16";
  return c;
}

LlamaConfig LlamaConfig::tinyllama_1_1b() {
  LlamaConfig c;  // TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T
  c.hidden_size = 2048;
  c.intermediate_size = 5632;
  c.num_hidden_layers = 22;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.max_position_embeddings = 2048;
  c.rms_norm_eps = 1e-5;
  c.torch_dtype = "float32";
  return c;
}

std::vector<std::string> LlamaConfig::preset_names() {
  return {"tiny",       "llama2_7b",     "llama2_13b",   "llama2_70b",    "llama3_8b",
          "llama3_70b", "mistral_7b",    "code_llama_7b", "smollm2_135m", "tinyllama_1_1b"};
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
  if (name == "smollm2_135m") return smollm2_135m();
  if (name == "tinyllama_1_1b") return tinyllama_1_1b();
  std::string names;
  for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError(
      fmt::format("LlamaConfig: unknown preset '{}' (expected one of {})", name, names));
}

}  // namespace lazarus::families
