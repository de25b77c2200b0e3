// Validation and JSON forms of the hierarchy configs (see model_config.h).
#include "lazarus/config/model_config.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "lazarus/core/json_limits.h"

namespace lazarus::config {

namespace {

void check(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError(msg);
}
std::string f(const std::string& path, const char* name) {
  return path.empty() ? name : path + "." + name;
}

}  // namespace

// ---- RoPEConfig ----

void RoPEConfig::validate(const std::string& p) const {
  check(theta > 0, fmt::format("{}: {} must be > 0", f(p, "theta"), theta));
  if (scaling == RoPEScalingType::None) return;
  check(factor > 0, fmt::format("{}: {} must be > 0", f(p, "factor"), factor));
  if (scaling != RoPEScalingType::Linear) {
    check(factor >= 1, fmt::format("{}: {} must be >= 1 for {} scaling", f(p, "factor"), factor,
                                   to_string(scaling)));
  }
  if (original_max_position_embeddings) {
    check(*original_max_position_embeddings > 0,
          fmt::format("{}: {} must be > 0", f(p, "original_max_position_embeddings"),
                      *original_max_position_embeddings));
  }
  if (scaling == RoPEScalingType::Llama3) {
    check(low_freq_factor > 0,
          fmt::format("{}: {} must be > 0", f(p, "low_freq_factor"), low_freq_factor));
    check(high_freq_factor > low_freq_factor,
          fmt::format("{}: {} must be > low_freq_factor {}", f(p, "high_freq_factor"),
                      high_freq_factor, low_freq_factor));
    check(original_max_position_embeddings.has_value(),
          fmt::format("{}: required for llama3 scaling", f(p, "original_max_position_embeddings")));
  }
  if (scaling == RoPEScalingType::Yarn) {
    check(beta_fast > 0, fmt::format("{}: {} must be > 0", f(p, "beta_fast"), beta_fast));
    check(beta_slow > 0, fmt::format("{}: {} must be > 0", f(p, "beta_slow"), beta_slow));
    if (attention_factor) {
      check(*attention_factor > 0,
            fmt::format("{}: {} must be > 0", f(p, "attention_factor"), *attention_factor));
    }
  }
}

Json RoPEConfig::to_json() const {
  return Json{{"theta", theta},
              {"scaling", to_string(scaling)},
              {"factor", factor},
              {"original_max_position_embeddings", opt_json(original_max_position_embeddings)},
              {"low_freq_factor", low_freq_factor},
              {"high_freq_factor", high_freq_factor},
              {"beta_fast", beta_fast},
              {"beta_slow", beta_slow},
              {"mscale", opt_json(mscale)},
              {"mscale_all_dim", opt_json(mscale_all_dim)},
              {"attention_factor", opt_json(attention_factor)},
              {"interleaved", interleaved}};
}

RoPEConfig RoPEConfig::from_json(const Json& j, const std::string& path) {
  RoPEConfig c;
  JsonReader r(j, path);
  r.get("theta", c.theta);
  r.get("scaling", c.scaling);
  r.get("factor", c.factor);
  r.get("original_max_position_embeddings", c.original_max_position_embeddings);
  r.get("low_freq_factor", c.low_freq_factor);
  r.get("high_freq_factor", c.high_freq_factor);
  r.get("beta_fast", c.beta_fast);
  r.get("beta_slow", c.beta_slow);
  r.get("mscale", c.mscale);
  r.get("mscale_all_dim", c.mscale_all_dim);
  r.get("attention_factor", c.attention_factor);
  r.get("interleaved", c.interleaved);
  r.finish();
  return c;
}

// ---- PositionConfig ----

void PositionConfig::validate(const std::string& p) const {
  if (is_rope()) {
    rope.validate(f(p, "rope"));
    return;
  }
  check(rope == RoPEConfig{},
        fmt::format("{}: set, but only rope positions use it (type is '{}'); leave it at its "
                    "defaults or set type to 'rope'",
                    f(p, "rope"), to_string(type)));
}

Json PositionConfig::to_json() const {
  Json j{{"type", to_string(type)}};
  if (is_rope()) j["rope"] = rope.to_json();
  return j;
}

PositionConfig PositionConfig::from_json(const Json& j, const std::string& path) {
  PositionConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  if (r.has("rope")) {
    if (!c.is_rope()) {
      throw ConfigError(fmt::format("{}: only rope positions have one (type is '{}')",
                                    r.field("rope"), to_string(c.type)));
    }
    c.rope = RoPEConfig::from_json(r.raw("rope"), r.field("rope"));
  }
  r.finish();
  return c;
}

// ---- AttentionConfig ----

void AttentionConfig::validate(int64_t hidden_size, const std::string& p) const {
  int64_t H = num_attention_heads, Hkv = num_key_value_heads;
  check(H > 0, fmt::format("{}: {} must be > 0", f(p, "num_attention_heads"), H));
  check(Hkv > 0, fmt::format("{}: {} must be > 0", f(p, "num_key_value_heads"), Hkv));
  check(H % Hkv == 0, fmt::format("{}: {} does not divide num_attention_heads {}",
                                  f(p, "num_key_value_heads"), Hkv, H));
  switch (type) {
    case AttentionType::MultiHead:
      check(Hkv == H,
            fmt::format("{}: {} must equal num_attention_heads {} for multi_head attention",
                        f(p, "num_key_value_heads"), Hkv, H));
      break;
    case AttentionType::MultiQuery:
      check(Hkv == 1, fmt::format("{}: {} must be 1 for multi_query attention",
                                  f(p, "num_key_value_heads"), Hkv));
      break;
    case AttentionType::GroupedQuery:
      break;
  }
  if (head_dim) {
    check(*head_dim > 0, fmt::format("{}: {} must be > 0", f(p, "head_dim"), *head_dim));
  } else {
    check(hidden_size % H == 0,
          fmt::format("{}: hidden_size {} is not divisible by num_attention_heads {}",
                      f(p, "num_attention_heads"), hidden_size, H));
  }
  int64_t Dh = resolved_head_dim(hidden_size);
  if (position.is_rope()) {
    check(Dh % 2 == 0, fmt::format("{}: {} must be even for rope", f(p, "head_dim"), Dh));
  }
  if (sliding_window) {
    check(*sliding_window > 0,
          fmt::format("{}: {} must be > 0", f(p, "sliding_window"), *sliding_window));
  }
  check(dropout >= 0 && dropout <= 1,
        fmt::format("{}: {} must be in [0, 1]", f(p, "dropout"), dropout));
  position.validate(f(p, "position"));
  if (qk_norm) qk_norm->validate(f(p, "qk_norm"));
}

Json AttentionConfig::to_json() const {
  Json j{{"type", to_string(type)},
              {"num_attention_heads", num_attention_heads},
              {"num_key_value_heads", num_key_value_heads},
              {"head_dim", opt_json(head_dim)},
              {"bias", bias},
              {"output_bias", output_bias},
              {"causal", causal},
              {"sliding_window", opt_json(sliding_window)},
              {"dropout", dropout},
              {"position", position.to_json()}};
  if (qk_norm) j["qk_norm"] = qk_norm->to_json();  // written only when set
  return j;
}

AttentionConfig AttentionConfig::from_json(const Json& j, const std::string& path) {
  AttentionConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  r.get("num_attention_heads", c.num_attention_heads);
  r.get("num_key_value_heads", c.num_key_value_heads);
  r.get("head_dim", c.head_dim);
  r.get("bias", c.bias);
  r.get("output_bias", c.output_bias);
  r.get("causal", c.causal);
  r.get("sliding_window", c.sliding_window);
  r.get("dropout", c.dropout);
  if (r.has("qk_norm") && !r.raw("qk_norm").is_null())
    c.qk_norm = NormConfig::from_json(r.raw("qk_norm"), r.field("qk_norm"));
  else
    r.skip("qk_norm");
  if (r.has("position") && r.raw("position").is_object()) {
    c.position = PositionConfig::from_json(r.raw("position"), r.field("position"));
    if (r.has("rope")) {
      throw ConfigError(
          fmt::format("{}: give it inside {} ('rope' beside an object 'position' "
                      "is the older flat form; use one form)",
                      r.field("rope"), r.field("position")));
    }
  } else {
    // The flat form of earlier versions: "position": "<type>" beside "rope": {...}.
    r.get("position", c.position.type);
    if (r.has("rope")) c.position.rope = RoPEConfig::from_json(r.raw("rope"), r.field("rope"));
  }
  r.finish();
  return c;
}

// ---- FFNConfig ----

void FFNConfig::validate(const std::string& p) const {
  check(intermediate_size > 0,
        fmt::format("{}: {} must be > 0", f(p, "intermediate_size"), intermediate_size));
  if (type == FFNType::SwiGLU) {
    check(activation == ActivationType::SiLU,
          fmt::format("{}: {} must be silu for swiglu", f(p, "activation"), to_string(activation)));
  }
  if (type == FFNType::GeGLU) {
    check(activation == ActivationType::GELU || activation == ActivationType::GELUTanh,
          fmt::format("{}: {} must be gelu or gelu_tanh for geglu", f(p, "activation"),
                      to_string(activation)));
  }
  check(num_experts >= 0,
        fmt::format("{}: {} must be >= 0 (0 = a dense FFN)", f(p, "num_experts"), num_experts));
  if (is_moe()) {
    check(num_experts_per_tok >= 1,
          fmt::format("{}: {} must be >= 1", f(p, "num_experts_per_tok"), num_experts_per_tok));
    check(num_experts_per_tok <= num_experts,
          fmt::format("{}: {} must be <= num_experts {}", f(p, "num_experts_per_tok"),
                      num_experts_per_tok, num_experts));
    check(router_aux_loss_coef >= 0 && std::isfinite(router_aux_loss_coef),
          fmt::format("{}: {} must be a finite number >= 0", f(p, "router_aux_loss_coef"),
                      router_aux_loss_coef));
  }
}

int64_t FFNConfig::num_parameters(int64_t D) const {
  const int64_t I = intermediate_size;
  const std::string what = fmt::format(
      "ffn (hidden_size {}, intermediate_size {}, num_experts {}): parameter count", D, I,
      num_experts);
  int64_t dense = checked_product({gated() ? 3 : 2, D, I}, what);
  if (bias) dense = checked_sum({dense, checked_mul(gated() ? 2 : 1, I, what), D}, what);
  if (!is_moe()) return dense;
  return checked_sum({checked_mul(num_experts, dense, what), checked_mul(D, num_experts, what)},
                     what);  // experts + router
}

Json FFNConfig::to_json() const {
  Json j{{"type", to_string(type)},
         {"activation", to_string(activation)},
         {"intermediate_size", intermediate_size},
         {"bias", bias}};
  if (is_moe()) {
    j["num_experts"] = num_experts;
    j["num_experts_per_tok"] = num_experts_per_tok;
    j["norm_topk_prob"] = norm_topk_prob;
    j["router_aux_loss_coef"] = router_aux_loss_coef;
  }
  return j;
}

FFNConfig FFNConfig::from_json(const Json& j, const std::string& path) {
  FFNConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  r.get("activation", c.activation);
  r.require("intermediate_size", c.intermediate_size);
  r.get("bias", c.bias);
  r.get("num_experts", c.num_experts);
  r.get("num_experts_per_tok", c.num_experts_per_tok);
  r.get("norm_topk_prob", c.norm_topk_prob);
  r.get("router_aux_loss_coef", c.router_aux_loss_coef);
  r.finish();
  return c;
}

// ---- NormConfig ----

void NormConfig::validate(const std::string& p) const {
  check(eps > 0 && eps < 1, fmt::format("{}: {} must be in (0, 1)", f(p, "eps"), eps));
}

Json NormConfig::to_json() const {
  return Json{{"type", to_string(type)}, {"eps", eps}, {"bias", bias}};
}

NormConfig NormConfig::from_json(const Json& j, const std::string& path) {
  NormConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  r.get("eps", c.eps);
  r.get("bias", c.bias);
  r.finish();
  return c;
}

// ---- SSMConfig ----

void SSMConfig::validate(int64_t hidden_size, const std::string& p) const {
  check(state_size > 0, fmt::format("{}: {} must be > 0", f(p, "state_size"), state_size));
  check(conv_kernel > 0, fmt::format("{}: {} must be > 0", f(p, "conv_kernel"), conv_kernel));
  if (intermediate_size) {
    check(*intermediate_size > 0,
          fmt::format("{}: {} must be > 0", f(p, "intermediate_size"), *intermediate_size));
  } else {
    check(expand > 0, fmt::format("{}: {} must be > 0", f(p, "expand"), expand));
  }
  if (time_step_rank) {
    check(*time_step_rank > 0,
          fmt::format("{}: {} must be > 0", f(p, "time_step_rank"), *time_step_rank));
  }
  check(hidden_size > 0, fmt::format("{}: hidden_size {} must be > 0", p, hidden_size));
}

int64_t SSMConfig::num_parameters(int64_t D) const {
  const int64_t I = resolved_intermediate_size(D), R = resolved_time_step_rank(D);
  const int64_t N = state_size, K = conv_kernel;
  const std::string what = fmt::format(
      "ssm (hidden_size {}, intermediate_size {}, state_size {}, conv_kernel {}, time_step_rank "
      "{}): parameter count",
      D, I, N, K, R);
  auto mul = [&](int64_t a, int64_t b) { return checked_mul(a, b, what); };
  int64_t rn2 = checked_sum({R, N, N}, what);
  int64_t n = checked_sum({mul(mul(D, 2), I), mul(I, K), mul(I, rn2), mul(R, I), I, mul(I, N), I,
                           mul(I, D)},
                          what);
  if (use_bias) n = checked_sum({n, mul(2, I), D}, what);  // in_proj, out_proj
  if (use_conv_bias) n = checked_add(n, I, what);
  return n;
}

Json SSMConfig::to_json() const {
  return Json{{"type", to_string(type)},
              {"state_size", state_size},
              {"conv_kernel", conv_kernel},
              {"expand", expand},
              {"intermediate_size", opt_json(intermediate_size)},
              {"time_step_rank", opt_json(time_step_rank)},
              {"use_bias", use_bias},
              {"use_conv_bias", use_conv_bias},
              {"activation", to_string(activation)}};
}

SSMConfig SSMConfig::from_json(const Json& j, const std::string& path) {
  SSMConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  r.get("state_size", c.state_size);
  r.get("conv_kernel", c.conv_kernel);
  r.get("expand", c.expand);
  r.get("intermediate_size", c.intermediate_size);
  if (r.has("time_step_rank") && r.raw("time_step_rank").is_string()) {
    std::string v = r.raw("time_step_rank").get<std::string>();
    if (v != "auto") {
      throw ConfigError(fmt::format("{}: expected an integer or \"auto\", got \"{}\"",
                                    r.field("time_step_rank"), v));
    }
  } else {
    r.get("time_step_rank", c.time_step_rank);
  }
  r.get("use_bias", c.use_bias);
  r.get("use_conv_bias", c.use_conv_bias);
  r.get("activation", c.activation);
  r.finish();
  return c;
}

// ---- RecurrentConfig ----

void RecurrentConfig::validate(int64_t model_hidden_size, const std::string& p) const {
  if (hidden_size) {
    check(*hidden_size > 0, fmt::format("{}: {} must be > 0", f(p, "hidden_size"), *hidden_size));
  }
  check(model_hidden_size > 0, fmt::format("{}: hidden_size {} must be > 0", p, model_hidden_size));
}

int64_t RecurrentConfig::num_parameters(int64_t D) const {
  const int64_t H = resolved_hidden_size(D);
  const std::string what =
      fmt::format("recurrent (hidden_size {}, state {}): parameter count", D, H);
  int64_t n = 0;
  switch (type) {
    case RecurrentType::LSTM:
      n = checked_add(checked_product({4, H, checked_add(D, H, what)}, what),
                      bias ? checked_mul(8, H, what) : 0, what);
      break;
    case RecurrentType::GRU:
      n = checked_add(checked_product({3, H, checked_add(D, H, what)}, what),
                      bias ? checked_mul(6, H, what) : 0, what);
      break;
    case RecurrentType::MinGRU:
      n = checked_add(checked_product({2, H, D}, what), bias ? checked_mul(2, H, what) : 0, what);
      break;
  }
  if (H != D) n += H * D;  // out_proj
  return n;
}

Json RecurrentConfig::to_json() const {
  return Json{{"type", to_string(type)}, {"hidden_size", opt_json(hidden_size)}, {"bias", bias}};
}

RecurrentConfig RecurrentConfig::from_json(const Json& j, const std::string& path) {
  RecurrentConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  r.get("hidden_size", c.hidden_size);
  r.get("bias", c.bias);
  r.finish();
  return c;
}

// ---- BlockConfig ----

void BlockConfig::validate(int64_t hidden_size, const std::string& p) const {
  switch (type) {
    case BlockType::Transformer:
      attention.validate(hidden_size, f(p, "attention"));
      ffn.validate(f(p, "ffn"));
      break;
    case BlockType::Mamba:
      ssm.validate(hidden_size, f(p, "ssm"));
      break;
    case BlockType::Hybrid:
      attention.validate(hidden_size, f(p, "attention"));
      ssm.validate(hidden_size, f(p, "ssm"));
      ffn.validate(f(p, "ffn"));
      break;
    case BlockType::Recurrent:
      recurrent.validate(hidden_size, f(p, "recurrent"));
      break;
  }
  norm.validate(f(p, "norm"));
}

int64_t BlockConfig::num_parameters(int64_t D) const {
  const std::string what = fmt::format("block (hidden_size {}): parameter count", D);
  if (type == BlockType::Mamba)
    return checked_add(ssm.num_parameters(D), norm.num_parameters(D), what);
  if (type == BlockType::Recurrent)
    return checked_add(recurrent.num_parameters(D), norm.num_parameters(D), what);
  int64_t extra = 0;
  if (type == BlockType::Hybrid) {
    extra = ssm.num_parameters(D);
    if (combine == HybridCombine::Concat)
      extra = checked_add(extra, checked_product({2, D, D}, what), what);
    if (combine == HybridCombine::Gate)
      extra = checked_sum({extra, checked_mul(D, D, what), D}, what);
  }
  const auto& a = attention;
  int64_t Dh = a.resolved_head_dim(D), H = a.num_attention_heads, Hkv = a.num_key_value_heads;
  const std::string awhat = fmt::format(
      "attention (hidden_size {}, num_attention_heads {}, num_key_value_heads {}, head_dim {}): "
      "parameter count",
      D, H, Hkv, Dh);
  int64_t n = checked_sum({checked_product({D, H, Dh}, awhat), checked_product({2, D, Hkv, Dh}, awhat),
                           checked_product({H, Dh, D}, awhat)},
                          awhat);  // q, k, v, o
  if (a.bias)
    n = checked_sum({n, checked_mul(H, Dh, awhat), checked_product({2, Hkv, Dh}, awhat)}, awhat);
  if (a.output_bias) n = checked_add(n, D, awhat);
  if (a.qk_norm) n = checked_add(n, checked_mul(2, a.qk_norm->num_parameters(Dh), awhat), awhat);
  n = checked_add(n, ffn.num_parameters(D), what);
  n = checked_add(n, checked_mul(2, norm.num_parameters(D), what), what);
  return checked_add(n, extra, what);
}

Json BlockConfig::to_json() const {
  if (type == BlockType::Mamba) {
    return Json{{"type", to_string(type)},
                {"ssm", ssm.to_json()},
                {"norm", norm.to_json()},
                {"residual_in_fp32", residual_in_fp32}};
  }
  if (type == BlockType::Recurrent) {
    return Json{
        {"type", to_string(type)}, {"recurrent", recurrent.to_json()}, {"norm", norm.to_json()}};
  }
  Json j{{"type", to_string(type)},
         {"attention", attention.to_json()},
         {"ffn", ffn.to_json()},
         {"norm", norm.to_json()}};
  if (type == BlockType::Hybrid) {
    j["ssm"] = ssm.to_json();
    j["combine"] = to_string(combine);
  }
  return j;
}

BlockConfig BlockConfig::from_json(const Json& j, const std::string& path) {
  BlockConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  if (r.has("norm")) c.norm = NormConfig::from_json(r.raw("norm"), r.field("norm"));
  if (c.type == BlockType::Mamba) {
    // Sections of other block types stay unread, so finish() reports them.
    if (r.has("ssm")) c.ssm = SSMConfig::from_json(r.raw("ssm"), r.field("ssm"));
    r.get("residual_in_fp32", c.residual_in_fp32);
    r.finish();
    return c;
  }
  if (c.type == BlockType::Recurrent) {
    if (r.has("recurrent"))
      c.recurrent = RecurrentConfig::from_json(r.raw("recurrent"), r.field("recurrent"));
    r.finish();
    return c;
  }
  if (r.has("attention"))
    c.attention = AttentionConfig::from_json(r.raw("attention"), r.field("attention"));
  if (r.has("ffn"))
    c.ffn = FFNConfig::from_json(r.raw("ffn"), r.field("ffn"));
  else if (c.type == BlockType::Transformer || c.type == BlockType::Hybrid)
    throw ConfigError(fmt::format("{}: missing required field", r.field("ffn")));
  if (c.type == BlockType::Hybrid) {
    if (r.has("ssm")) c.ssm = SSMConfig::from_json(r.raw("ssm"), r.field("ssm"));
    r.get("combine", c.combine);
  }
  r.finish();
  return c;
}

// ---- EmbeddingConfig ----

void EmbeddingConfig::validate(const std::string& p) const {
  check(vocab_size > 0, fmt::format("{}: {} must be > 0", f(p, "vocab_size"), vocab_size));
  check(
      max_position_embeddings > 0,
      fmt::format("{}: {} must be > 0", f(p, "max_position_embeddings"), max_position_embeddings));
  if (padding_idx) {
    check(*padding_idx >= 0 && *padding_idx < vocab_size,
          fmt::format("{}: {} out of range [0, vocab_size {})", f(p, "padding_idx"), *padding_idx,
                      vocab_size));
  }
}

int64_t EmbeddingConfig::num_parameters(int64_t hidden_size, PositionEmbeddingType position) const {
  const std::string what =
      fmt::format("embedding (vocab_size {}, hidden_size {}, max_position_embeddings {}): "
                  "parameter count",
                  vocab_size, hidden_size, max_position_embeddings);
  int64_t n = checked_mul(vocab_size, hidden_size, what);
  if (position == PositionEmbeddingType::Learned)
    n = checked_add(n, checked_mul(max_position_embeddings, hidden_size, what), what);
  return n;
}

Json EmbeddingConfig::to_json() const {
  return Json{{"vocab_size", vocab_size},
              {"max_position_embeddings", max_position_embeddings},
              {"padding_idx", opt_json(padding_idx)}};
}

EmbeddingConfig EmbeddingConfig::from_json(const Json& j, const std::string& path) {
  EmbeddingConfig c;
  JsonReader r(j, path);
  r.require("vocab_size", c.vocab_size);
  r.get("max_position_embeddings", c.max_position_embeddings);
  r.get("padding_idx", c.padding_idx);
  r.finish();
  return c;
}

// ---- BackboneConfig ----

void BackboneConfig::validate(const std::string& p) const {
  embedding.validate(f(p, "embedding"));
  check(hidden_size > 0, fmt::format("{}: {} must be > 0", f(p, "hidden_size"), hidden_size));
  check(num_layers > 0, fmt::format("{}: {} must be > 0", f(p, "num_layers"), num_layers));
  // Which blocks a backbone type stacks (its checkpoint names depend on it).
  if (type == BackboneType::Hybrid) {
    check(layout_ratio >= 1,
          fmt::format("{}: {} must be >= 1", f(p, "layout_ratio"), layout_ratio));
    bool two_kinds = layout == HybridLayout::Alternating || layout == HybridLayout::Interleaved;
    check(
        !two_kinds || secondary_block.has_value(),
        fmt::format("{}: required by the '{}' layout", f(p, "secondary_block"), to_string(layout)));
    check(layout != HybridLayout::Parallel || block.type == BlockType::Hybrid,
          fmt::format("{}: '{}' must be 'hybrid' for the parallel layout", f(p, "block.type"),
                      to_string(block.type)));
    if (secondary_block) secondary_block->validate(hidden_size, f(p, "secondary_block"));
  } else {
    check(layout == HybridLayout::None,
          fmt::format("{}: '{}' needs a hybrid backbone", f(p, "layout"), to_string(layout)));
    check(!secondary_block.has_value(),
          fmt::format("{}: only hybrid backbones have one", f(p, "secondary_block")));
  }
  auto check_type = [&](const BlockConfig& b, const std::string& bp) {
    if (type == BackboneType::Hybrid) return;  // any mix
    BlockType want = type == BackboneType::Mamba       ? BlockType::Mamba
                     : type == BackboneType::Recurrent ? BlockType::Recurrent
                                                       : BlockType::Transformer;
    check(b.type != BlockType::Hybrid,
          fmt::format("{}: 'hybrid' blocks need a hybrid backbone", f(bp, "type")));
    check(b.type == want,
          fmt::format("{}: '{}' blocks need a {} backbone (or a hybrid one; {} backbones stack {} "
                      "blocks)",
                      f(bp, "type"), to_string(b.type), to_string(b.type), to_string(type),
                      to_string(want)));
  };
  check_type(block, f(p, "block"));
  block.validate(hidden_size, f(p, "block"));
  for (auto& [i, b] : block_overrides) {
    std::string bp = fmt::format("{}.{}", f(p, "block_overrides"), i);
    check(i >= 0 && i < num_layers,
          fmt::format("{}: layer index {} out of range for num_layers {}", bp, i, num_layers));
    check_type(b, bp);
    b.validate(hidden_size, bp);
  }
  final_norm.validate(f(p, "final_norm"));
  // Mixture-of-experts layers share one load-balancing loss over every layer's router.
  const FFNConfig* first = moe_ffn();
  if (first) {
    for (int64_t i : representative_layers()) {  // every distinct block, not every layer
      const BlockConfig& b = block_for(i);
      bool has_ffn = b.type == BlockType::Transformer || b.type == BlockType::Hybrid;
      if (!has_ffn || !b.ffn.is_moe()) continue;
      std::string lp = fmt::format("{}.layer {}.ffn", p, i);
      check(b.ffn.num_experts == first->num_experts,
            fmt::format("{}: {} differs from another layer's {} (one load-balancing loss spans "
                        "every layer)",
                        f(lp, "num_experts"), b.ffn.num_experts, first->num_experts));
      check(b.ffn.num_experts_per_tok == first->num_experts_per_tok,
            fmt::format("{}: {} differs from another layer's {}", f(lp, "num_experts_per_tok"),
                        b.ffn.num_experts_per_tok, first->num_experts_per_tok));
      check(b.ffn.router_aux_loss_coef == first->router_aux_loss_coef,
            fmt::format("{}: {} differs from another layer's {}", f(lp, "router_aux_loss_coef"),
                        b.ffn.router_aux_loss_coef, first->router_aux_loss_coef));
    }
  }
  // Learned / sinusoidal positions are added once at the input, so every attention layer must
  // agree on them (a layer with rope or alibi under an absolute table would be ambiguous).
  std::vector<std::pair<std::string, const BlockConfig*>> attn;
  auto has_attention = [](const BlockConfig& b) {
    return b.type == BlockType::Transformer || b.type == BlockType::Hybrid;
  };
  if (has_attention(block)) attn.emplace_back(f(p, "block"), &block);
  if (secondary_block && has_attention(*secondary_block))
    attn.emplace_back(f(p, "secondary_block"), &*secondary_block);
  for (auto& [i, b] : block_overrides)
    if (has_attention(b)) attn.emplace_back(fmt::format("{}.{}", f(p, "block_overrides"), i), &b);
  for (auto& [bp, b] : attn) {
    const PositionEmbeddingType t = b->attention.position.type;
    if (!b->attention.position.is_absolute()) continue;
    for (auto& [op, o] : attn) {
      const PositionEmbeddingType ot = o->attention.position.type;
      check(ot == t, fmt::format("{}: '{}' differs from {}.attention.position.type '{}' ({} "
                                 "positions are added once at the input, so every attention "
                                 "layer must use them)",
                                 f(op, "attention.position.type"), to_string(ot), bp, to_string(t),
                                 to_string(t)));
    }
    break;
  }
}

PositionEmbeddingType BackboneConfig::input_position() const {
  auto pick = [](const BlockConfig& b) {
    if (b.type != BlockType::Transformer && b.type != BlockType::Hybrid)
      return PositionEmbeddingType::None;
    return b.attention.position.is_absolute() ? b.attention.position.type
                                              : PositionEmbeddingType::None;
  };
  if (auto t = pick(block); t != PositionEmbeddingType::None) return t;
  if (secondary_block)
    if (auto t = pick(*secondary_block); t != PositionEmbeddingType::None) return t;
  for (auto& [i, b] : block_overrides)
    if (auto t = pick(b); t != PositionEmbeddingType::None) return t;
  return PositionEmbeddingType::None;
}

std::vector<int64_t> BackboneConfig::representative_layers() const {
  std::vector<int64_t> out;
  for (auto& [i, b] : block_overrides)
    if (i >= 0 && i < num_layers) out.push_back(i);
  // The first layer that takes `block`: among any two consecutive layers at most one takes the
  // secondary block, so this stops within 2 (overrides + 1) + 1 layers.
  for (int64_t i = 0; i < num_layers; ++i) {
    if (!block_overrides.count(i) && !secondary_by_layout(i)) {
      out.push_back(i);
      break;
    }
  }
  // The first layer that takes secondary_block: its candidates are one period apart.
  if (secondary_block &&
      (layout == HybridLayout::Alternating ||
       (layout == HybridLayout::Interleaved && layout_ratio >= 1 && layout_ratio < num_layers))) {
    const int64_t first = layout == HybridLayout::Alternating ? 1 : layout_ratio;
    const int64_t period = layout == HybridLayout::Alternating ? 2 : layout_ratio + 1;
    for (int64_t i = first; i < num_layers; i += period) {
      if (!block_overrides.count(i)) {
        out.push_back(i);
        break;
      }
      if (period > num_layers - i) break;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const FFNConfig* BackboneConfig::moe_ffn() const {
  for (int64_t i : representative_layers()) {
    const BlockConfig& b = block_for(i);
    bool has_ffn = b.type == BlockType::Transformer || b.type == BlockType::Hybrid;
    if (has_ffn && b.ffn.is_moe()) return &b.ffn;
  }
  return nullptr;
}

int64_t BackboneConfig::num_parameters() const {
  // Layers per distinct block: the layout's count of secondary layers, the rest primary, each
  // override taking the place of the block its layer had.
  const std::string what = fmt::format("backbone.num_layers {}: parameter count", num_layers);
  int64_t secondary = 0;
  if (secondary_block && layout == HybridLayout::Alternating) secondary = num_layers / 2;
  if (secondary_block && layout == HybridLayout::Interleaved && layout_ratio >= 1 &&
      layout_ratio < num_layers)
    secondary = num_layers / (layout_ratio + 1);  // layers i with i % (ratio + 1) == ratio
  int64_t primary = num_layers - secondary;
  int64_t n = embedding.num_parameters(hidden_size, input_position());
  for (auto& [i, b] : block_overrides) {
    if (i < 0 || i >= num_layers) continue;
    (secondary_by_layout(i) ? secondary : primary) -= 1;
    n = checked_add(n, b.num_parameters(hidden_size), what);
  }
  n = checked_add(n, checked_mul(primary, block.num_parameters(hidden_size), what), what);
  if (secondary > 0)
    n = checked_add(n, checked_mul(secondary, secondary_block->num_parameters(hidden_size), what),
                    what);
  return checked_add(n, final_norm.num_parameters(hidden_size), what);
}

Json BackboneConfig::to_json() const {
  Json overrides = Json::object();
  for (auto& [i, b] : block_overrides) overrides[std::to_string(i)] = b.to_json();
  Json j{{"type", to_string(type)},           {"embedding", embedding.to_json()},
         {"hidden_size", hidden_size},        {"num_layers", num_layers},
         {"block", block.to_json()},          {"block_overrides", overrides},
         {"final_norm", final_norm.to_json()}};
  if (type == BackboneType::Hybrid) {
    j["layout"] = to_string(layout);
    j["layout_ratio"] = layout_ratio;
    j["secondary_block"] = secondary_block ? secondary_block->to_json() : Json(nullptr);
  }
  return j;
}

BackboneConfig BackboneConfig::from_json(const Json& j, const std::string& path) {
  BackboneConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  if (r.has("embedding")) {
    c.embedding = EmbeddingConfig::from_json(r.raw("embedding"), r.field("embedding"));
    for (const char* k : {"vocab_size", "max_position_embeddings"}) {
      if (r.has(k)) {
        throw ConfigError(
            fmt::format("{}: give it inside {} (the flat key is the older form; "
                        "use one form)",
                        r.field(k), r.field("embedding")));
      }
    }
  } else if (r.has("vocab_size")) {
    // The flat form of earlier versions.
    r.get("vocab_size", c.embedding.vocab_size);
    r.get("max_position_embeddings", c.embedding.max_position_embeddings);
  } else {
    throw ConfigError(
        fmt::format("{}: missing required field (an object with vocab_size and "
                    "max_position_embeddings)",
                    r.field("embedding")));
  }
  r.require("hidden_size", c.hidden_size);
  r.require("num_layers", c.num_layers);
  if (!r.has("block"))
    throw ConfigError(fmt::format("{}: missing required field", r.field("block")));
  c.block = BlockConfig::from_json(r.raw("block"), r.field("block"));
  if (r.has("block_overrides")) {
    const Json& o = r.raw("block_overrides");
    std::string op = r.field("block_overrides");
    if (!o.is_object())
      throw ConfigError(fmt::format("{}: expected an object, got {}", op, o.type_name()));
    for (auto it = o.begin(); it != o.end(); ++it) {
      std::string key = it.key(), kp = op + "." + key;
      size_t used = 0;
      int64_t idx = -1;
      try {
        idx = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || key.empty()) {
        throw ConfigError(fmt::format("{}: key '{}' is not a layer index", op, key));
      }
      c.block_overrides[idx] = BlockConfig::from_json(it.value(), kp);
    }
  }
  if (r.has("final_norm"))
    c.final_norm = NormConfig::from_json(r.raw("final_norm"), r.field("final_norm"));
  r.get("layout", c.layout);
  r.get("layout_ratio", c.layout_ratio);
  if (r.has("secondary_block") && !r.raw("secondary_block").is_null()) {
    c.secondary_block =
        BlockConfig::from_json(r.raw("secondary_block"), r.field("secondary_block"));
  }
  r.finish();
  return c;
}

// ---- HeadConfig ----

void HeadConfig::validate(const std::string& p) const {
  if (type == HeadType::LM) {
    check(!(tie_word_embeddings && bias),
          fmt::format("{}: a tied head cannot have a bias", f(p, "bias")));
    return;
  }
  check(!tie_word_embeddings,
        fmt::format("{}: only lm heads tie to the token embedding ('{}' head)",
                    f(p, "tie_word_embeddings"), to_string(type)));
  if (type == HeadType::Classifier) {
    check(num_labels > 0, fmt::format("{}: {} must be > 0", f(p, "num_labels"), num_labels));
  } else {
    check(num_outputs > 0, fmt::format("{}: {} must be > 0", f(p, "num_outputs"), num_outputs));
  }
  check(dropout >= 0 && dropout <= 1,
        fmt::format("{}: {} must be in [0, 1]", f(p, "dropout"), dropout));
}

Json HeadConfig::to_json() const {
  if (type == HeadType::LM) {
    return Json{
        {"type", to_string(type)}, {"tie_word_embeddings", tie_word_embeddings}, {"bias", bias}};
  }
  Json j{{"type", to_string(type)},
         {"pooling", to_string(pooling)},
         {"dropout", dropout},
         {"bias", bias}};
  if (type == HeadType::Classifier)
    j["num_labels"] = num_labels;
  else
    j["num_outputs"] = num_outputs;
  return j;
}

HeadConfig HeadConfig::from_json(const Json& j, const std::string& path) {
  HeadConfig c;
  JsonReader r(j, path);
  r.get("type", c.type);
  r.get("bias", c.bias);
  // Fields of another head type stay unread, so finish() reports them.
  if (c.type == HeadType::LM) {
    r.get("tie_word_embeddings", c.tie_word_embeddings);
  } else {
    r.get("pooling", c.pooling);
    r.get("dropout", c.dropout);
    if (c.type == HeadType::Classifier)
      r.get("num_labels", c.num_labels);
    else
      r.get("num_outputs", c.num_outputs);
  }
  r.finish();
  return c;
}

// ---- ModelConfig ----

void ModelConfig::validate() const {
  backbone.validate("backbone");
  head.validate("head");
}

int64_t ModelConfig::num_parameters() const {
  int64_t n = backbone.num_parameters();
  const int64_t out = head.output_size(backbone.embedding.vocab_size);
  const std::string what = fmt::format("head (outputs {}, hidden_size {}): parameter count", out,
                                       backbone.hidden_size);
  if (!head.tie_word_embeddings)
    n = checked_add(n, checked_mul(out, backbone.hidden_size, what), what);
  if (head.bias) n = checked_add(n, out, what);
  return n;
}

Json ModelConfig::to_json() const {
  return Json{{"backbone", backbone.to_json()}, {"head", head.to_json()}};
}

ModelConfig ModelConfig::from_json(const Json& j, const std::string& path) {
  ModelConfig c;
  JsonReader r(j, path);
  if (!r.has("backbone"))
    throw ConfigError(fmt::format("{}: missing required field", r.field("backbone")));
  c.backbone = BackboneConfig::from_json(r.raw("backbone"), r.field("backbone"));
  if (r.has("head")) c.head = HeadConfig::from_json(r.raw("head"), r.field("head"));
  r.finish();
  return c;
}

ModelConfig ModelConfig::from_json_string(const std::string& text) {
  Json j = parse_json_text<Json, ConfigError>(text, "config", 64);
  return from_json(j);
}

}  // namespace lazarus::config
