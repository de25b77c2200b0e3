// Learned / sinusoidal absolute positions and ALiBi (see positions.h).
#include "lazarus/components/positions.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/nn/init.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

using config::PositionEmbeddingType;

Tensor token_positions(const Positions& pos, int64_t T) {
  if (pos.position_ids.defined()) return pos.position_ids.to(DType::I64);
  return arange(double(pos.offset), double(pos.offset + T), 1.0, DType::I64).reshape({1, T});
}

std::vector<double> alibi_slopes(int64_t n) {
  if (n <= 0) throw ConfigError(fmt::format("[alibi] num_attention_heads {} must be > 0", n));
  // Geometric sequence starting at 2^(-8/m) with that ratio, for m heads (m a power of two).
  auto power_of_two_slopes = [](int64_t m) {
    std::vector<double> s(m);
    double start = std::pow(2.0, -8.0 / double(m));
    for (int64_t i = 0; i < m; ++i) s[i] = std::pow(start, double(i + 1));
    return s;
  };
  int64_t p = 1;
  while (p * 2 <= n) p *= 2;
  std::vector<double> slopes = power_of_two_slopes(p);
  if (p != n) {
    // The remaining heads take the odd-indexed slopes of 2p heads (they interleave the first p).
    std::vector<double> extra = power_of_two_slopes(2 * p);
    for (int64_t i = 0; i < n - p; ++i) slopes.push_back(extra[2 * i]);
  }
  return slopes;
}

Tensor alibi_bias(const std::vector<double>& slopes, const Tensor& key_positions, int64_t Tk,
                  DType dtype) {
  const int64_t H = static_cast<int64_t>(slopes.size());
  const int64_t Bk = key_positions.defined() ? key_positions.size(0) : 1;
  std::vector<int64_t> kp;
  if (key_positions.defined()) {
    if (key_positions.dim() != 2 || key_positions.size(1) != Tk) {
      throw ShapeError(fmt::format("[alibi] key_positions {} must be (B, {})",
                                   shape_str(key_positions.shape()), Tk));
    }
    kp = key_positions.to(DType::I64).contiguous().to_vector<int64_t>();
  }
  std::vector<float> bias(Bk * H * Tk);
  for (int64_t b = 0; b < Bk; ++b) {
    const int64_t* row = kp.empty() ? nullptr : kp.data() + b * Tk;
    int64_t last = 0;
    for (int64_t j = 0; j < Tk; ++j) last = std::max(last, row ? row[j] : j);
    for (int64_t h = 0; h < H; ++h) {
      float* out = bias.data() + (b * H + h) * Tk;
      // slope * (j - i) relative to the last key: <= 0, exactly -slope * distance when decoding.
      for (int64_t j = 0; j < Tk; ++j)
        out[j] = float(slopes[h] * double((row ? row[j] : j) - last));
    }
  }
  Tensor t = from_vector(bias, {Bk, H, 1, Tk});  // (B', H, 1, Tk)
  return t.dtype() == dtype ? t : t.to(dtype);
}

Tensor sinusoidal_embedding(const Tensor& positions, int64_t dim) {
  std::vector<int64_t> p = positions.to(DType::I64).contiguous().to_vector<int64_t>();
  std::vector<float> out(p.size() * dim);
  for (int64_t k = 0; k < dim; ++k) {
    // Pair i = k / 2 shares one frequency 10000^(-2i / dim); even dims take sin, odd cos.
    double inv = std::pow(10000.0, -double(2 * (k / 2)) / double(dim));
    for (size_t n = 0; n < p.size(); ++n) {
      double a = double(p[n]) * inv;
      out[n * dim + k] = float(k % 2 == 0 ? std::sin(a) : std::cos(a));
    }
  }
  Shape shape = positions.shape();
  shape.push_back(dim);
  return from_vector(out, shape);
}

AbsolutePositionEmbedding::AbsolutePositionEmbedding(PositionEmbeddingType type,
                                                     int64_t max_position_embeddings, int64_t dim,
                                                     DType dtype)
    : type_(type), max_positions_(max_position_embeddings), dim_(dim) {
  if (type != PositionEmbeddingType::Learned && type != PositionEmbeddingType::Sinusoidal) {
    throw ConfigError(fmt::format(
        "[AbsolutePositionEmbedding] '{}' is not an absolute position embedding (learned, "
        "sinusoidal)",
        config::to_string(type)));
  }
  if (type == PositionEmbeddingType::Learned) {
    weight = nn::init::normal({max_position_embeddings, dim}, 0.02, dtype);  // GPT-2's std
    register_parameter("weight", &weight);
  }
}

Tensor AbsolutePositionEmbedding::forward(const Positions& pos, int64_t T, DType dtype) const {
  Tensor ids = token_positions(pos, T);  // (B or 1, T)
  if (type_ == PositionEmbeddingType::Sinusoidal) {
    Tensor e = sinusoidal_embedding(ids, dim_);
    return e.dtype() == dtype ? e : e.to(dtype);
  }
  int64_t hi =
      pos.position_ids.defined() ? static_cast<int64_t>(amax(ids).item()) : pos.offset + T - 1;
  if (T > 0 && hi >= max_positions_) {
    throw ShapeError(fmt::format(
        "[embed_positions] position {} is beyond the learned table's max_position_embeddings {} "
        "(shorten the input or raise max_position_embeddings)",
        hi, max_positions_));
  }
  Tensor e = embedding(weight, ids);  // (B or 1, T, D)
  return e.dtype() == dtype ? e : e.to(dtype);
}

}  // namespace lazarus::components
