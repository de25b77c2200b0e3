// The Qwen family (see qwen.h).
#include "lazarus/families/qwen/qwen.h"

#include <algorithm>

#include <fmt/format.h>

#include "lazarus/families/hf_config.h"
#include "lazarus/families/llama/llama.h"
#include "lazarus/families/rope_scaling.h"

namespace lazarus::families {

using config::Json;

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}

// Every plain config.json field, once: `f(key, member)` for each (read and written as is).
// rope_scaling, eos_token_id (an id or a list) and the Qwen3-only keys are handled beside it.
template <class C, class F>
void plain_fields(C& c, F&& f) {
  f("vocab_size", c.vocab_size);
  f("hidden_size", c.hidden_size);
  f("intermediate_size", c.intermediate_size);
  f("num_hidden_layers", c.num_hidden_layers);
  f("num_attention_heads", c.num_attention_heads);
  f("num_key_value_heads", c.num_key_value_heads);
  f("hidden_act", c.hidden_act);
  f("max_position_embeddings", c.max_position_embeddings);
  f("initializer_range", c.initializer_range);
  f("rms_norm_eps", c.rms_norm_eps);
  f("tie_word_embeddings", c.tie_word_embeddings);
  f("rope_theta", c.rope_theta);
  f("attention_dropout", c.attention_dropout);
  f("use_sliding_window", c.use_sliding_window);
  f("sliding_window", c.sliding_window);
  f("max_window_layers", c.max_window_layers);
  f("bos_token_id", c.bos_token_id);
  f("pad_token_id", c.pad_token_id);
  f("torch_dtype", c.torch_dtype);
  f("architectures", c.architectures);
}

}  // namespace

bool QwenConfig::sliding(int64_t layer) const {
  if (!use_sliding_window || !sliding_window) return false;  // HF: sliding_window = None
  if (layer_types) return (*layer_types)[size_t(layer)] == "sliding_attention";
  return layer >= max_window_layers;
}

void QwenConfig::validate() const {
  check(model_type == "qwen2" || model_type == "qwen3",
        fmt::format("model_type: '{}' is not a Qwen type (qwen2, qwen3)", model_type));
  for (auto [key, v] : {std::pair{"vocab_size", vocab_size},
                        {"hidden_size", hidden_size},
                        {"intermediate_size", intermediate_size},
                        {"num_hidden_layers", num_hidden_layers},
                        {"num_attention_heads", num_attention_heads},
                        {"num_key_value_heads", kv_heads()},
                        {"max_position_embeddings", max_position_embeddings}})
    check(v > 0, fmt::format("{}: {} must be > 0", key, v));
  check(num_attention_heads % kv_heads() == 0,
        fmt::format("num_key_value_heads: {} does not divide num_attention_heads {}", kv_heads(),
                    num_attention_heads));
  if (!head_dim && !is_qwen3())
    check(hidden_size % num_attention_heads == 0,
          fmt::format("hidden_size: {} is not divisible by num_attention_heads {}", hidden_size,
                      num_attention_heads));
  check(resolved_head_dim() > 0 && resolved_head_dim() % 2 == 0,
        fmt::format("head_dim: {} must be positive and even (RoPE)", resolved_head_dim()));
  check(rms_norm_eps > 0 && rms_norm_eps < 1,
        fmt::format("rms_norm_eps: {} must be in (0, 1)", rms_norm_eps));
  check(rope_theta > 0, fmt::format("rope_theta: {} must be > 0", rope_theta));
  check(attention_dropout >= 0 && attention_dropout <= 1,
        fmt::format("attention_dropout: {} must be in [0, 1]", attention_dropout));
  check(initializer_range >= 0,
        fmt::format("initializer_range: {} must be >= 0", initializer_range));
  if (sliding_window)
    check(*sliding_window > 0, fmt::format("sliding_window: {} must be > 0", *sliding_window));
  check(max_window_layers >= 0,
        fmt::format("max_window_layers: {} must be >= 0", max_window_layers));
  if (layer_types) {
    check(int64_t(layer_types->size()) == num_hidden_layers,
          fmt::format("layer_types: {} entries for num_hidden_layers {}", layer_types->size(),
                      num_hidden_layers));
    for (size_t i = 0; i < layer_types->size(); ++i)
      check((*layer_types)[i] == "full_attention" || (*layer_types)[i] == "sliding_attention",
            fmt::format("layer_types[{}]: '{}' is not full_attention or sliding_attention", i,
                        (*layer_types)[i]));
  }
  auto id_ok = [&](const char* key, int64_t id) {
    check(id >= 0 && id < vocab_size,
          fmt::format("{}: {} out of range for vocab_size {}", key, id, vocab_size));
  };
  for (int64_t id : eos_token_id) id_ok("eos_token_id", id);
  if (bos_token_id) id_ok("bos_token_id", *bos_token_id);
  if (pad_token_id) id_ok("pad_token_id", *pad_token_id);
  auto r = rope_scaling;
  r.theta = rope_theta;
  r.validate("rope_scaling");
  to_model_config().validate();
}

config::ModelConfig QwenConfig::to_model_config() const {
  using namespace config;
  ModelConfig m;
  BackboneConfig& b = m.backbone;
  b.embedding.vocab_size = vocab_size;
  b.embedding.max_position_embeddings = max_position_embeddings;
  b.embedding.padding_idx = pad_token_id;  // Qwen2Model: nn.Embedding(..., padding_idx)
  b.hidden_size = hidden_size;
  b.num_layers = num_hidden_layers;
  b.final_norm = NormConfig{NormType::RMSNorm, rms_norm_eps, false};
  BlockConfig& blk = b.block;
  blk.norm = b.final_norm;
  AttentionConfig& a = blk.attention;
  a.num_attention_heads = num_attention_heads;
  a.num_key_value_heads = kv_heads();
  a.type = kv_heads() == num_attention_heads ? AttentionType::MultiHead
           : kv_heads() == 1                 ? AttentionType::MultiQuery
                                             : AttentionType::GroupedQuery;
  a.head_dim = resolved_head_dim();
  a.bias = is_qwen3() ? attention_bias : true;
  a.output_bias = is_qwen3() && attention_bias;
  if (is_qwen3()) a.qk_norm = NormConfig{NormType::RMSNorm, rms_norm_eps, false};
  a.dropout = attention_dropout;
  a.position.rope = rope_scaling;
  a.position.rope.theta = rope_theta;
  blk.ffn.type = hidden_act == ActivationType::SiLU ? FFNType::SwiGLU : FFNType::Gated;
  blk.ffn.activation = hidden_act;
  blk.ffn.intermediate_size = intermediate_size;
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
  m.head.tie_word_embeddings = tie_word_embeddings;
  return m;
}

Json QwenConfig::to_json() const {
  Json j{{"model_type", model_type}};
  plain_fields(*this, [&](const char* key, const auto& v) {
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, config::ActivationType>)
      // HF's name for the tanh GELU, so transformers can read the file back.
      j[key] = v == config::ActivationType::GELUTanh ? std::string("gelu_pytorch_tanh")
                                                     : std::string(config::to_string(v));
    else if constexpr (requires { v.has_value(); })
      j[key] = config::opt_json(v);
    else
      j[key] = v;
  });
  j["rope_scaling"] = rope_scaling_json(rope_scaling);
  j["eos_token_id"] = eos_token_id.size() == 1 ? Json(eos_token_id[0]) : Json(eos_token_id);
  if (is_qwen3()) {
    j["head_dim"] = resolved_head_dim();
    j["attention_bias"] = attention_bias;
  } else if (head_dim) {
    j["head_dim"] = *head_dim;
  }
  if (layer_types) j["layer_types"] = *layer_types;
  return j;
}

QwenConfig QwenConfig::from_json(const Json& j, const std::string& path) {
  QwenConfig c;
  config::JsonReader r(j, path);
  r.require("model_type", c.model_type);
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads"})
    if (!r.has(key)) throw ConfigError(fmt::format("{}: missing required field", r.field(key)));
  plain_fields(c, [&](const char* key, auto& v) { r.get(key, v); });
  if (r.has("rope_scaling"))
    c.rope_scaling = rope_scaling_from_json(r.raw("rope_scaling"), r.field("rope_scaling"));
  if (r.has("eos_token_id")) {
    const Json& e = r.raw("eos_token_id");
    if (!e.is_null())
      c.eos_token_id = e.is_array()
                           ? config::JsonReader::convert<std::vector<int64_t>>(e, r.field("eos_token_id"))
                           : std::vector<int64_t>{config::JsonReader::convert<int64_t>(
                                 e, r.field("eos_token_id"))};
  }
  r.get("head_dim", c.head_dim);
  r.get("layer_types", c.layer_types);
  bool mrope = false;  // multimodal RoPE (Qwen2-VL): a different position scheme
  r.get("use_mrope", mrope);
  check(!mrope, fmt::format("{}: true (multimodal RoPE) is not supported", r.field("use_mrope")));
  if (c.is_qwen3())
    r.get("attention_bias", c.attention_bias);
  else if (r.has("attention_bias"))
    r.skip("attention_bias");  // not a Qwen2Config field: transformers ignores it (q/k/v biased)
  // After the family's own keys: the common policy checks only the keys left unread.
  accept_hf_common_keys(r);
  r.finish();
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
