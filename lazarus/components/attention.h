// Self-attention with multi-head, grouped-query and multi-query heads, optional bias, sliding
// window, RoPE or ALiBi, optional per-head q/k norms (Qwen3), and a per-layer KV cache. Parameter names are Hugging Face's (q_proj,
// k_proj, v_proj, o_proj).
#pragma once

#include <memory>
#include <vector>

#include "lazarus/components/ffn.h"
#include "lazarus/components/kv_cache.h"
#include "lazarus/components/rope.h"
#include "lazarus/config/model_config.h"
#include "lazarus/nn/layers.h"

namespace lazarus::components {

/// What every layer of one forward call shares: token positions and the padding mask.
struct AttentionContext {
  Positions positions;
  /// Additive mask (B, 1, 1, Tk) (0 keep, a large negative for padding keys), or undefined.
  Tensor key_padding_mask;
  /// (B, Tk) I64 position of every key (cached and new; kept tokens counted) under padding, or
  /// undefined (key j is at j). ALiBi measures distances with it.
  Tensor key_positions;
};

class Attention : public nn::Module {
 public:
  /// Validates `cfg` against `hidden_size` (ConfigError naming the field).
  Attention(int64_t hidden_size, const config::AttentionConfig& cfg,
            int64_t max_position_embeddings, DType dtype = DType::F32);

  /// x (B, T, D) -> (B, T, D). With `cache`, the new keys/values are appended and the queries
  /// attend to every cached token (their positions continue after the cached ones).
  Tensor forward(const Tensor& x, const AttentionContext& ctx, KVCache* cache = nullptr) const;

  const config::AttentionConfig& config() const { return cfg_; }
  int64_t head_dim() const { return head_dim_; }

  std::shared_ptr<nn::Linear> q_proj, k_proj, v_proj, o_proj;
  /// With cfg.qk_norm: the per-head norms of queries and keys (HF "q_norm" / "k_norm"), else null.
  std::shared_ptr<Norm> q_norm, k_norm;

 private:
  config::AttentionConfig cfg_;
  int64_t head_dim_;
  std::unique_ptr<RotaryEmbedding> rotary_;
  std::vector<double> alibi_slopes_;  // ALiBi only
};

}  // namespace lazarus::components
