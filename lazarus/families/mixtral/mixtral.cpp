// The Mixtral family (see mixtral.h).
#include "lazarus/families/mixtral/mixtral.h"

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

const config::FieldTable<MixtralConfig>& table() {
  static const config::FieldTable<MixtralConfig> t = [] {
    using C = MixtralConfig;
    config::FieldTable<C> t;
    t.add("model_type", &C::model_type)
        .check([](const std::string& v) { return v == "mixtral"; }, "is not 'mixtral'");
    t.add("architectures", &C::architectures);
    t.add("vocab_size", &C::vocab_size).required().positive();
    t.add("hidden_size", &C::hidden_size).required().positive();
    t.add("intermediate_size", &C::intermediate_size).required().positive();
    t.add("num_hidden_layers", &C::num_hidden_layers).required().positive();
    t.add("num_attention_heads", &C::num_attention_heads).required().positive();
    t.add("num_key_value_heads", &C::num_key_value_heads).positive();
    t.add("head_dim", &C::head_dim)
        .check([](int64_t v) { return v > 0 && v % 2 == 0; }, "must be positive and even");
    t.add("hidden_act", &C::hidden_act);
    t.add("max_position_embeddings", &C::max_position_embeddings).positive();
    t.add("initializer_range", &C::initializer_range).non_negative();
    t.add("rms_norm_eps", &C::rms_norm_eps).in_open(0, 1);
    t.add("pad_token_id", &C::pad_token_id).check_with(token_id_in_vocab<C>);
    t.add("bos_token_id", &C::bos_token_id).check_with(token_id_in_vocab<C>);
    t.add("eos_token_id", &C::eos_token_id).token_ids().check_with(token_id_in_vocab<C>);
    t.add("tie_word_embeddings", &C::tie_word_embeddings);
    t.add("rope_theta", &C::rope_theta).positive();
    t.add("sliding_window", &C::sliding_window).positive();
    t.add("attention_dropout", &C::attention_dropout).in_closed(0, 1);
    t.add("num_experts_per_tok", &C::num_experts_per_tok).positive();
    t.add("num_local_experts", &C::num_local_experts).positive();
    t.add("output_router_logits", &C::output_router_logits);
    t.add("router_aux_loss_coef", &C::router_aux_loss_coef).non_negative();
    t.add("torch_dtype", &C::torch_dtype);
    t.neutral("router_jitter_noise", {0, 0.0}, "router noise in training");
    t.neutral("rope_scaling", {}, "Mixtral takes no rope scaling");
    t.common(accept_hf_common_keys);
    return t;
  }();
  return t;
}

// HF's Mixtral FFN names <-> the generic mixture-of-experts FFN's, as substrings of a name.
const std::vector<std::pair<std::string, std::string>> kNames = {{".block_sparse_moe.", ".mlp."},
                                                                 {".w1.", ".gate_proj."},
                                                                 {".w3.", ".up_proj."},
                                                                 {".w2.", ".down_proj."}};

}  // namespace

void MixtralConfig::validate() const {
  table().validate(*this);
  check(num_attention_heads % kv_heads() == 0,
        fmt::format("num_key_value_heads: {} does not divide num_attention_heads {}", kv_heads(),
                    num_attention_heads));
  if (!head_dim)
    check(hidden_size % num_attention_heads == 0 && (hidden_size / num_attention_heads) % 2 == 0,
          fmt::format("hidden_size: {} / num_attention_heads {} is not an even head_dim",
                      hidden_size, num_attention_heads));
  check(num_experts_per_tok <= num_local_experts,
        fmt::format("num_experts_per_tok: {} is more than num_local_experts {}",
                    num_experts_per_tok, num_local_experts));
  to_model_config().validate();
}

config::ModelConfig MixtralConfig::to_model_config() const {
  config::ModelConfig m = decoder_model_config(
      {.vocab_size = vocab_size, .hidden_size = hidden_size,
       .intermediate_size = intermediate_size, .num_hidden_layers = num_hidden_layers,
       .num_attention_heads = num_attention_heads, .num_key_value_heads = kv_heads(),
       .head_dim = head_dim, .hidden_act = hidden_act,
       .max_position_embeddings = max_position_embeddings, .rms_norm_eps = rms_norm_eps,
       .rope_theta = rope_theta, .attention_dropout = attention_dropout,
       .padding_idx = pad_token_id,  // MixtralModel: nn.Embedding(..., padding_idx)
       .sliding_window = sliding_window, .tie_word_embeddings = tie_word_embeddings});
  config::FFNConfig& f = m.backbone.block.ffn;  // each expert is the decoder's gated FFN
  f.num_experts = num_local_experts;
  f.num_experts_per_tok = num_experts_per_tok;
  f.norm_topk_prob = true;
  f.router_aux_loss_coef = output_router_logits ? router_aux_loss_coef : 0.0;
  return m;
}

Json MixtralConfig::to_json() const { return table().write(*this); }

MixtralConfig MixtralConfig::from_json(const Json& j, const std::string& path) {
  MixtralConfig c;
  table().read(j, c, path);
  c.validate();
  return c;
}

MixtralConfig MixtralConfig::preset(const std::string& name) {
  if (name != "mixtral-8x7b")
    throw ConfigError(
        fmt::format("MixtralConfig: unknown preset '{}' (expected mixtral-8x7b)", name));
  MixtralConfig c;  // mistralai/Mixtral-8x7B-v0.1: the transformers defaults, 32768 positions
  c.max_position_embeddings = 32768;
  c.router_aux_loss_coef = 0.02;
  c.torch_dtype = "bfloat16";
  return c;
}

MixtralForCausalLM::MixtralForCausalLM(const MixtralConfig& cfg, DType dtype, uint64_t seed)
    : models::CausalLM((cfg.validate(), cfg.to_model_config()), dtype), mixtral_cfg_(cfg) {
  init_weights(cfg.initializer_range, seed);
}

FamilyInfo mixtral_family() {
  FamilyInfo f;
  f.name = "mixtral";
  f.model_types = {"mixtral"};
  f.architectures = {"MixtralForCausalLM"};
  set_config_family(f, &MixtralForCausalLM::mixtral_config);
  f.from_checkpoint = [](nn::StateDict& w) {
    llama_from_checkpoint(w);  // rotary inv_freq buffers of older checkpoints
    rename_weights(w, kNames, false);
  };
  f.to_checkpoint = [](nn::StateDict& w) { rename_weights(w, kNames, true); };
  f.presets = {{"mixtral-8x7b", "Mixtral 8x7B, 8 experts top-2 (mistralai/Mixtral-8x7B-v0.1)",
                46'702'792'704, [] { return MixtralConfig::preset("mixtral-8x7b").to_json(); }}};
  return f;
}

}  // namespace lazarus::families
