// Rotary position embedding with Hugging Face's frequency scalings (none / linear / dynamic-NTK /
// llama3 / yarn), as computed in transformers' `modeling_rope_utils.py`.
#pragma once

#include <vector>

#include "lazarus/config/model_config.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::components {

/// Where each query token sits: either one shared offset (token t of every row is at offset + t),
/// or explicit per-row positions (left padding).
struct Positions {
  int64_t offset = 0;
  /// (B, T) I64, or undefined for the shared offset.
  Tensor position_ids;
  /// Largest position + 1 in this call (what dynamic-NTK scaling keys on).
  int64_t max_position_plus_one = 0;
};

class RotaryEmbedding {
 public:
  /// `head_dim` rotated dims (even); `max_position_embeddings` is the backbone's, used when the
  /// config gives no original_max_position_embeddings.
  RotaryEmbedding(int64_t head_dim, const config::RoPEConfig& cfg, int64_t max_position_embeddings);

  /// Inverse frequencies (head_dim/2), f32 values; `seq_len` only matters for dynamic scaling.
  std::vector<float> inv_freq(int64_t seq_len) const;
  /// Multiplier applied to cos and sin (yarn's attention factor; 1 otherwise).
  double attention_scaling() const { return attention_scaling_; }

  /// Rotates q or k (B, H, T, Dh) to the given positions. Shared offset: the fused rope kernel;
  /// per-row positions: the composed form (x1 cos - x2 sin, x2 cos + x1 sin per half).
  Tensor apply(const Tensor& x, const Positions& pos) const;

  /// cos and sin tables (positions.size(), Dh/2), f32, already scaled by attention_scaling.
  std::pair<Tensor, Tensor> tables(const std::vector<int64_t>& positions, int64_t seq_len) const;

 private:
  int64_t dim_;
  config::RoPEConfig cfg_;
  int64_t original_max_;
  double attention_scaling_ = 1.0;
};

}  // namespace lazarus::components
