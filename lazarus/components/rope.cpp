// RoPE frequencies and application (see rope.h). Frequencies follow transformers'
// modeling_rope_utils.py: default, linear, dynamic (NTK), llama3, yarn.
#include "lazarus/components/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/ops.h"

namespace lazarus::components {

using config::RoPEScalingType;

namespace {

double yarn_get_mscale(double scale, double mscale = 1.0) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// Rotary dim index at which `num_rotations` full turns fit in `max_pos` positions.
double yarn_correction_dim(double num_rotations, int64_t dim, double base, int64_t max_pos) {
  return (dim * std::log(max_pos / (num_rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, const config::RoPEConfig& cfg,
                                 int64_t max_position_embeddings)
    : dim_(head_dim),
      cfg_(cfg),
      original_max_(cfg.original_max_position_embeddings.value_or(max_position_embeddings)) {
  if (head_dim <= 0 || head_dim % 2 != 0) {
    throw ConfigError(
        fmt::format("[RotaryEmbedding] head_dim {} must be positive and even", head_dim));
  }
  cfg.validate("rope");
  if (cfg.scaling == RoPEScalingType::Yarn) {
    if (cfg.attention_factor) {
      attention_scaling_ = *cfg.attention_factor;
    } else if (cfg.mscale && cfg.mscale_all_dim) {
      attention_scaling_ = yarn_get_mscale(cfg.factor, *cfg.mscale) /
                           yarn_get_mscale(cfg.factor, *cfg.mscale_all_dim);
    } else {
      attention_scaling_ = yarn_get_mscale(cfg.factor);
    }
  }
}

std::vector<float> RotaryEmbedding::inv_freq(int64_t seq_len) const {
  const int64_t half = dim_ / 2;
  double base = cfg_.theta;
  if (cfg_.scaling == RoPEScalingType::Dynamic) {
    // Grow the base once the sequence passes the trained context.
    double L = static_cast<double>(std::max(seq_len, original_max_));
    base *=
        std::pow(cfg_.factor * L / original_max_ - (cfg_.factor - 1), double(dim_) / (dim_ - 2));
  }
  std::vector<double> f(half);
  for (int64_t i = 0; i < half; ++i) f[i] = 1.0 / std::pow(base, double(2 * i) / dim_);

  switch (cfg_.scaling) {
    case RoPEScalingType::None:
    case RoPEScalingType::Dynamic:
      break;
    case RoPEScalingType::Linear:
      for (auto& x : f) x /= cfg_.factor;
      break;
    case RoPEScalingType::Llama3: {
      // Long wavelengths are interpolated by `factor`, short ones kept, the band between smoothed.
      double old_ctx = double(original_max_);
      double low_wl = old_ctx / cfg_.low_freq_factor, high_wl = old_ctx / cfg_.high_freq_factor;
      for (auto& x : f) {
        double wavelen = 2 * std::numbers::pi / x;
        double scaled = wavelen > low_wl ? x / cfg_.factor : x;
        bool medium = !(wavelen < high_wl) && !(wavelen > low_wl);
        if (medium) {
          double s = (old_ctx / wavelen - cfg_.low_freq_factor) /
                     (cfg_.high_freq_factor - cfg_.low_freq_factor);
          scaled = (1 - s) * scaled / cfg_.factor + s * scaled;
        }
        x = scaled;
      }
      break;
    }
    case RoPEScalingType::Yarn: {
      // Blend interpolated (x/factor) and extrapolated frequencies with a linear ramp over dims.
      double low = std::floor(yarn_correction_dim(cfg_.beta_fast, dim_, base, original_max_));
      double high = std::ceil(yarn_correction_dim(cfg_.beta_slow, dim_, base, original_max_));
      low = std::max(low, 0.0);
      high = std::min(high, double(dim_ - 1));
      if (low == high) high += 0.001;
      for (int64_t i = 0; i < half; ++i) {
        double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
        double extrapolation_factor = 1.0 - ramp;
        double extrapolated = f[i], interpolated = f[i] / cfg_.factor;
        f[i] = interpolated * (1 - extrapolation_factor) + extrapolated * extrapolation_factor;
      }
      break;
    }
  }
  return std::vector<float>(f.begin(), f.end());
}

std::pair<Tensor, Tensor> RotaryEmbedding::tables(const std::vector<int64_t>& positions,
                                                  int64_t seq_len) const {
  const int64_t half = dim_ / 2, n = static_cast<int64_t>(positions.size());
  std::vector<float> inv = inv_freq(seq_len);
  std::vector<float> c(n * half), s(n * half);
  const double scale = attention_scaling_;
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      // f32 product as in HF (inv_freq @ position_ids in float32), then cos/sin of that value.
      float angle = static_cast<float>(positions[p]) * inv[i];
      c[p * half + i] = static_cast<float>(std::cos(double(angle)) * scale);
      s[p * half + i] = static_cast<float>(std::sin(double(angle)) * scale);
    }
  }
  return {from_vector(c, {n, half}), from_vector(s, {n, half})};
}

Tensor RotaryEmbedding::apply(const Tensor& x, const Positions& pos) const {
  // x (B, H, T, Dh)
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), Dh = x.size(3), half = Dh / 2;
  if (Dh != dim_) {
    throw ShapeError(
        fmt::format("[RotaryEmbedding] head dim {} does not match the rope dim {}", Dh, dim_));
  }
  int64_t seq_len = std::max(pos.max_position_plus_one, pos.offset + T);
  if (!pos.position_ids.defined()) {
    std::vector<int64_t> p(T);
    for (int64_t t = 0; t < T; ++t) p[t] = pos.offset + t;
    auto [c, s] = tables(p, seq_len);  // (T, Dh/2)
    return rope(x, c, s, 0, cfg_.interleaved);
  }
  std::vector<int64_t> p = pos.position_ids.contiguous().to_vector<int64_t>();  // B*T
  auto [c, s] = tables(p, seq_len);
  c = c.view({B, 1, T, half}).to(x.dtype());  // broadcast over heads
  s = s.view({B, 1, T, half}).to(x.dtype());
  if (!cfg_.interleaved) {
    Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);  // (B, H, T, Dh/2) each
    return cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
  }
  Tensor xr = x.reshape({B, H, T, half, 2});  // adjacent pairs
  Tensor a = xr.select(-1, 0), b = xr.select(-1, 1);
  return stack({a * c - b * s, b * c + a * s}, -1).reshape({B, H, T, Dh});
}

}  // namespace lazarus::components
