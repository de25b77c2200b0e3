// Self-attention (see attention.h); the math follows HF modeling_llama's LlamaAttention.
#include "lazarus/components/attention.h"

#include <cmath>

#include <fmt/format.h>

#include "lazarus/components/positions.h"
#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

using config::PositionEmbeddingType;

Attention::Attention(int64_t hidden_size, const config::AttentionConfig& cfg,
                     int64_t max_position_embeddings, DType dtype)
    : cfg_(cfg) {
  cfg.validate(hidden_size, "attention");
  head_dim_ = cfg.resolved_head_dim(hidden_size);
  const int64_t H = cfg.num_attention_heads, Hkv = cfg.num_key_value_heads, Dh = head_dim_;
  q_proj =
      register_module("q_proj", std::make_shared<nn::Linear>(hidden_size, H * Dh, cfg.bias, dtype));
  k_proj = register_module("k_proj",
                           std::make_shared<nn::Linear>(hidden_size, Hkv * Dh, cfg.bias, dtype));
  v_proj = register_module("v_proj",
                           std::make_shared<nn::Linear>(hidden_size, Hkv * Dh, cfg.bias, dtype));
  o_proj = register_module(
      "o_proj", std::make_shared<nn::Linear>(H * Dh, hidden_size, cfg.output_bias, dtype));
  if (cfg.qk_norm) {
    q_norm = register_module("q_norm", std::make_shared<Norm>(Dh, *cfg.qk_norm, dtype));
    k_norm = register_module("k_norm", std::make_shared<Norm>(Dh, *cfg.qk_norm, dtype));
  }
  if (cfg.position.is_rope()) {
    rotary_ = std::make_unique<RotaryEmbedding>(Dh, cfg.position.rope, max_position_embeddings);
  }
  // Learned / sinusoidal positions are added by the backbone at its input; nothing to do here.
  if (cfg.position.type == PositionEmbeddingType::ALiBi) alibi_slopes_ = alibi_slopes(H);
}

Tensor Attention::forward(const Tensor& x, const AttentionContext& ctx, KVCache* cache) const {
  // x (B, T, D)
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t H = cfg_.num_attention_heads, Hkv = cfg_.num_key_value_heads, Dh = head_dim_;
  Tensor q = q_proj->forward(x).view({B, T, H, Dh});    // (B, T, H, Dh)
  Tensor k = k_proj->forward(x).view({B, T, Hkv, Dh});  // (B, T, Hkv, Dh)
  if (q_norm) {  // HF Qwen3Attention: each head normed over head_dim before RoPE
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  q = q.transpose(1, 2);  // (B, H, T, Dh)
  k = k.transpose(1, 2);  // (B, Hkv, T, Dh)
  Tensor v = v_proj->forward(x).view({B, T, Hkv, Dh}).transpose(1, 2);  // (B, Hkv, T, Dh)
  if (rotary_) {
    q = rotary_->apply(q, ctx.positions);
    k = rotary_->apply(k, ctx.positions);
  }

  int64_t past = 0;
  Tensor k_all = k, v_all = v;
  if (cache) {
    past = cache->length();
    Tensor k_prev = cache->keys(), v_prev = cache->values();  // (B, Hkv, past, Dh) views
    auto [kc, vc] = cache->update(k, v);                      // (B, Hkv, past + T, Dh)
    if (past > 0) {
      // With gradients the new keys must stay on the graph; otherwise read the buffer itself.
      bool grad = grad_enabled() && (k.requires_grad() || v.requires_grad());
      k_all = grad ? cat({k_prev, k}, 2) : kc;
      v_all = grad ? cat({v_prev, v}, 2) : vc;
    }
  }

  AttentionOptions opts;
  opts.causal = cfg_.causal;
  opts.window = cfg_.sliding_window.value_or(0);
  opts.scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  opts.query_offset = past;
  // HF: dropout on the softmax probabilities in training only, drawn from the default generator
  // (the stream the Trainer checkpoints). Eval or p = 0 keeps the fused, no-Tq x Tk path.
  if (is_training()) opts.dropout = cfg_.dropout;
  Tensor mask = ctx.key_padding_mask;
  if (!alibi_slopes_.empty()) {
    // (B', H, 1, Tk): a key-only bias, so the fused kernel still never forms Tq x Tk.
    Tensor bias = alibi_bias(alibi_slopes_, ctx.key_positions, past + T, DType::F32);
    mask = mask.defined() ? mask + bias : bias;
  }
  if (mask.defined() && mask.dtype() != q.dtype()) mask = mask.to(q.dtype());
  Tensor out = scaled_dot_product_attention(q, k_all, v_all, mask, opts);  // (B, H, T, Dh)
  out = out.transpose(1, 2).reshape({B, T, H * Dh});                       // (B, T, H*Dh)
  return o_proj->forward(out);
}

}  // namespace lazarus::components
