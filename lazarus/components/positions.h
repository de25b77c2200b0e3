// Position embeddings other than RoPE: absolute positions added to the token embeddings (learned,
// GPT-2 style; sinusoidal, "Attention Is All You Need" section 3.5) and ALiBi's per-head linear
// bias on attention scores (Press et al. 2022, "Train Short, Test Long").
#pragma once

#include <memory>
#include <vector>

#include "lazarus/components/rope.h"
#include "lazarus/config/model_config.h"
#include "lazarus/nn/layers.h"

namespace lazarus::components {

/// The (B, T) I64 position of every token of a call: the explicit per-row positions when given
/// (padding), else offset + t for every row ((1, T), broadcast over the batch).
Tensor token_positions(const Positions& pos, int64_t T);

/// ALiBi slopes of `num_heads` heads: for a power of two n, 2^(-8 i / n) for i = 1..n; otherwise
/// the slopes of the closest lower power of two, then every other slope of twice that many
/// (the paper's recipe, as Hugging Face's build_alibi_tensor). Throws ConfigError if n <= 0.
std::vector<double> alibi_slopes(int64_t num_heads);

/// ALiBi's additive score bias as a key-only tensor (B', H, 1, Tk) (B' = 1 without
/// key_positions): slope_h * (kpos_j - kpos_last). Since softmax is invariant to a per-row shift,
/// this equals the standard bias slope_h * (j - i) for a query at i and keys j <= i, without a
/// Tq x Tk tensor, so the fused attention kernel keeps its memory bound. `key_positions`
/// (B, Tk) I64 (kept-token positions under padding) or undefined (= 0..Tk-1).
Tensor alibi_bias(const std::vector<double>& slopes, const Tensor& key_positions, int64_t Tk,
                  DType dtype);

/// The sinusoidal table at `positions` (any shape, integer) -> (*shape, dim) f32:
/// PE[p, 2i] = sin(p / 10000^(2i / dim)), PE[p, 2i + 1] = cos(p / 10000^(2i / dim)).
Tensor sinusoidal_embedding(const Tensor& positions, int64_t dim);

/// The absolute position embedding a backbone adds at its input. Learned: a table
/// (max_position_embeddings, D) named "weight" (checkpoint name `model.embed_positions.weight`);
/// sinusoidal: no parameters.
class AbsolutePositionEmbedding : public nn::Module {
 public:
  /// `type` is Learned or Sinusoidal (ConfigError otherwise).
  AbsolutePositionEmbedding(config::PositionEmbeddingType type, int64_t max_position_embeddings,
                            int64_t dim, DType dtype = DType::F32);
  /// The embeddings of the call's token positions, (B or 1, T, D) in `dtype`. Learned: throws
  /// ShapeError when a position reaches max_position_embeddings.
  Tensor forward(const Positions& pos, int64_t T, DType dtype) const;
  config::PositionEmbeddingType type() const { return type_; }

  Tensor weight;  // learned only

 private:
  config::PositionEmbeddingType type_;
  int64_t max_positions_, dim_;
};

}  // namespace lazarus::components
