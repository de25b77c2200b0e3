// The Qwen family (see qwen.h).
#include "lazarus/families/qwen/qwen.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/config/field_table.h"
#include "lazarus/families/hf_config.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/rope_scaling.h"

namespace lazarus::families {

using config::Json;

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

// The config.json fields of Qwen2Config / Qwen3Config, written once: key, member, checks
// (validate() adds the cross-field ones). model_type comes first: the Qwen3-only keys read it.
const config::FieldTable<QwenConfig>& table() {
  static const config::FieldTable<QwenConfig> t = [] {
    using C = QwenConfig;
    using T = config::FieldTable<C>;
    T t;
    t.add("model_type", &C::model_type)
        .required()
        .check([](const std::string& v) { return v == "qwen2" || v == "qwen3"; },
               "is not a Qwen type (qwen2, qwen3)");
    t.add("architectures", &C::architectures);
    t.add("vocab_size", &C::vocab_size).required().positive();
    t.add("hidden_size", &C::hidden_size).required().positive();
    t.add("intermediate_size", &C::intermediate_size).required().positive();
    t.add("num_hidden_layers", &C::num_hidden_layers).required().positive();
    t.add("num_attention_heads", &C::num_attention_heads).required().positive();
    t.add("num_key_value_heads", &C::num_key_value_heads).positive();
    // Qwen3 always writes its head_dim (128 unless given); Qwen2 only when the file had one.
    t.add("head_dim", &C::head_dim)
        .check([](int64_t v) { return v > 0 && v % 2 == 0; }, "must be positive and even")
        .write_with([](const C& c) {
          return c.is_qwen3() || c.head_dim ? Json(c.resolved_head_dim()) : T::omit();
        });
    t.add("hidden_act", &C::hidden_act).write_with([](const C& c) {
      // HF's name for the tanh GELU, so transformers can read the file back.
      return Json(c.hidden_act == config::ActivationType::GELUTanh
                      ? std::string("gelu_pytorch_tanh")
                      : std::string(config::to_string(c.hidden_act)));
    });
    t.add("max_position_embeddings", &C::max_position_embeddings).positive();
    t.add("initializer_range", &C::initializer_range).non_negative();
    t.add("rms_norm_eps", &C::rms_norm_eps).in_open(0, 1);
    t.add("tie_word_embeddings", &C::tie_word_embeddings);
    t.add("rope_theta", &C::rope_theta).positive();
    t.add("rope_scaling", &C::rope_scaling)
        .read_with([](const Json& v, C& c, const std::string& field) {
          c.rope_scaling = rope_scaling_from_json(v, field);
        })
        .write_with([](const C& c) { return rope_scaling_json(c.rope_scaling); });
    // A Qwen3Config field; Qwen2's q/k/v always have a bias, and transformers ignores the key.
    t.add("attention_bias", &C::attention_bias)
        .read_with([](const Json& v, C& c, const std::string& field) {
          if (c.is_qwen3()) c.attention_bias = config::JsonReader::convert<bool>(v, field);
        })
        .write_with([](const C& c) { return c.is_qwen3() ? Json(c.attention_bias) : T::omit(); });
    t.add("attention_dropout", &C::attention_dropout).in_closed(0, 1);
    t.add("use_sliding_window", &C::use_sliding_window);
    t.add("sliding_window", &C::sliding_window).positive();
    t.add("max_window_layers", &C::max_window_layers).non_negative();
    t.add("layer_types", &C::layer_types)  // entries checked in validate()
        .write_with([](const C& c) { return c.layer_types ? Json(*c.layer_types) : T::omit(); });
    t.add("bos_token_id", &C::bos_token_id).check_with(token_id_in_vocab<C>);
    t.add("eos_token_id", &C::eos_token_id).token_ids().check_with(token_id_in_vocab<C>);
    t.add("pad_token_id", &C::pad_token_id).check_with(token_id_in_vocab<C>);
    t.add("torch_dtype", &C::torch_dtype);
    t.neutral("use_mrope", {false}, "multimodal RoPE (Qwen2-VL)");
    t.common(accept_hf_common_keys);
    return t;
  }();
  return t;
}

}  // namespace

bool QwenConfig::sliding(int64_t layer) const {
  if (!use_sliding_window || !sliding_window) return false;  // HF: sliding_window = None
  if (layer_types) return (*layer_types)[size_t(layer)] == "sliding_attention";
  return layer >= max_window_layers;
}

void QwenConfig::validate() const {
  table().validate(*this);
  check(num_attention_heads % kv_heads() == 0,
        fmt::format("num_key_value_heads: {} does not divide num_attention_heads {}", kv_heads(),
                    num_attention_heads));
  if (!head_dim && !is_qwen3())
    check(hidden_size % num_attention_heads == 0,
          fmt::format("hidden_size: {} is not divisible by num_attention_heads {}", hidden_size,
                      num_attention_heads));
  check(resolved_head_dim() % 2 == 0,
        fmt::format("head_dim: {} (hidden_size / num_attention_heads) must be even (RoPE)",
                    resolved_head_dim()));
  if (layer_types) {
    check(int64_t(layer_types->size()) == num_hidden_layers,
          fmt::format("layer_types: {} entries for num_hidden_layers {}", layer_types->size(),
                      num_hidden_layers));
    for (size_t i = 0; i < layer_types->size(); ++i)
      check((*layer_types)[i] == "full_attention" || (*layer_types)[i] == "sliding_attention",
            fmt::format("layer_types[{}]: '{}' is not full_attention or sliding_attention", i,
                        (*layer_types)[i]));
  }
  auto r = rope_scaling;
  r.theta = rope_theta;
  r.validate("rope_scaling");
  to_model_config().validate();
}

config::ModelConfig QwenConfig::to_model_config() const {
  using namespace config;
  ModelConfig m = decoder_model_config(
      {.vocab_size = vocab_size, .hidden_size = hidden_size,
       .intermediate_size = intermediate_size, .num_hidden_layers = num_hidden_layers,
       .num_attention_heads = num_attention_heads, .num_key_value_heads = kv_heads(),
       .head_dim = resolved_head_dim(), .hidden_act = hidden_act,
       .max_position_embeddings = max_position_embeddings, .rms_norm_eps = rms_norm_eps,
       .rope_theta = rope_theta, .attention_dropout = attention_dropout,
       .padding_idx = pad_token_id,  // Qwen2Model: nn.Embedding(..., padding_idx)
       .sliding_window = std::nullopt,  // per layer, below
       .tie_word_embeddings = tie_word_embeddings});
  BackboneConfig& b = m.backbone;
  BlockConfig& blk = b.block;
  AttentionConfig& a = blk.attention;
  a.bias = is_qwen3() ? attention_bias : true;
  a.output_bias = is_qwen3() && attention_bias;
  if (is_qwen3()) a.qk_norm = NormConfig{NormType::RMSNorm, rms_norm_eps, false};
  a.position.rope = rope_scaling;
  a.position.rope.theta = rope_theta;
  // Sliding layers: the commoner kind is the block, the other kind are overrides (without
  // layer_types the sliding ones are the layers from max_window_layers on: one range).
  const int64_t L = num_hidden_layers;
  int64_t n_sliding = 0;
  if (use_sliding_window && sliding_window)
    n_sliding = layer_types ? std::count(layer_types->begin(), layer_types->end(),
                                         std::string("sliding_attention"))
                            : std::max<int64_t>(0, L - max_window_layers);
  if (n_sliding > 0) {
    BlockConfig windowed = blk;
    windowed.attention.sliding_window = sliding_window;
    const bool base_sliding = 2 * n_sliding > L;
    const int64_t n_overrides = base_sliding ? L - n_sliding : n_sliding;
    check(n_overrides <= 65536,
          fmt::format("max_window_layers: {} with num_hidden_layers {} puts {} layers of the "
                      "rarer attention kind in one model; at most 65536 are supported",
                      max_window_layers, L, n_overrides));
    if (base_sliding) std::swap(blk, windowed);
    const int64_t first = layer_types || base_sliding ? 0 : max_window_layers;
    const int64_t last = layer_types || !base_sliding ? L : std::min(L, max_window_layers);
    for (int64_t i = first; i < last; ++i)
      if (sliding(i) != base_sliding) b.block_overrides[i] = windowed;
  }
  return m;
}

Json QwenConfig::to_json() const { return table().write(*this); }

QwenConfig QwenConfig::from_json(const Json& j, const std::string& path) {
  QwenConfig c;
  table().read(j, c, path);
  c.validate();
  return c;
}

// ---- presets: the published config.json values ----

std::vector<std::string> QwenConfig::preset_names() {
  return {"qwen2.5-0.5b", "qwen2.5-1.5b", "qwen3-0.6b", "qwen3-1.7b"};
}

QwenConfig QwenConfig::preset(const std::string& name) {
  QwenConfig c;
  c.vocab_size = 151936;
  c.bos_token_id = 151643;
  c.rope_theta = 1000000.0;
  c.tie_word_embeddings = true;
  c.torch_dtype = "bfloat16";
  auto shape = [&](int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv) {
    c.hidden_size = hidden, c.intermediate_size = inter, c.num_hidden_layers = layers;
    c.num_attention_heads = heads, c.num_key_value_heads = kv;
  };
  if (name == "qwen2.5-0.5b") {  // Qwen/Qwen2.5-0.5B
    shape(896, 4864, 24, 14, 2);
    c.architectures = {"Qwen2ForCausalLM"};
    c.eos_token_id = {151643};
    c.sliding_window = 32768, c.max_window_layers = 24;
  } else if (name == "qwen2.5-1.5b") {  // Qwen/Qwen2.5-1.5B
    shape(1536, 8960, 28, 12, 2);
    c.architectures = {"Qwen2ForCausalLM"};
    c.eos_token_id = {151643};
    c.max_position_embeddings = 131072;
    c.sliding_window = 131072, c.max_window_layers = 28;
  } else if (name == "qwen3-0.6b" || name == "qwen3-1.7b") {  // Qwen/Qwen3-0.6B, Qwen/Qwen3-1.7B
    c.model_type = "qwen3";
    c.architectures = {"Qwen3ForCausalLM"};
    if (name == "qwen3-0.6b")
      shape(1024, 3072, 28, 16, 8);
    else
      shape(2048, 6144, 28, 16, 8);
    c.head_dim = 128;
    c.eos_token_id = {151645};
    c.max_position_embeddings = 40960;
    c.sliding_window = std::nullopt, c.max_window_layers = 28;
  } else {
    std::string names;
    for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw ConfigError(fmt::format("QwenConfig: unknown preset '{}' (expected one of {})", name, names));
  }
  c.validate();
  return c;
}

// ---- the model and its registry entry ----

QwenForCausalLM::QwenForCausalLM(const QwenConfig& cfg, DType dtype, uint64_t seed)
    : models::CausalLM((cfg.validate(), cfg.to_model_config()), dtype), qwen_cfg_(cfg) {
  init_weights(cfg.initializer_range, seed);
}

FamilyInfo qwen_family() {
  FamilyInfo f;
  f.name = "qwen";
  f.model_types = {"qwen2", "qwen3"};
  f.architectures = {"Qwen2ForCausalLM", "Qwen3ForCausalLM"};
  set_config_family(f, &QwenForCausalLM::qwen_config);
  f.from_checkpoint = llama_from_checkpoint;  // older checkpoints carry rotary inv_freq buffers
  auto preset = [](const char* name, const char* description, int64_t published) {
    return FamilyPreset{name, description, published,
                        [n = std::string(name)] { return QwenConfig::preset(n).to_json(); }};
  };
  f.presets = {preset("qwen2.5-0.5b", "Qwen2.5 0.5B, tied (Qwen/Qwen2.5-0.5B)", 494'032'768),
               preset("qwen2.5-1.5b", "Qwen2.5 1.5B, tied (Qwen/Qwen2.5-1.5B)", 1'543'714'304),
               preset("qwen3-0.6b", "Qwen3 0.6B, q/k norms, tied (Qwen/Qwen3-0.6B)", 596'049'920),
               preset("qwen3-1.7b", "Qwen3 1.7B, q/k norms, tied (Qwen/Qwen3-1.7B)",
                      1'720'574'976)};
  return f;
}

}  // namespace lazarus::families
