// Reference codecs and dot products of the block-quantized types (see quants.h). Semantics follow
// llama.cpp's ggml (ggml-quants.c for dequantize_row_* and quantize_row_*_ref; ggml-cpu's
// quantize_row_q8_0 / q8_1 as its x86 code computes them, and its generic ggml_vec_dot_*).
#include "lazarus/tensor/quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::quants {

namespace {

float h2f(uint16_t h) { return f16_bits_to_f32(h); }
uint16_t f2h(float f) { return f32_to_f16_bits(f); }

// Round half to even, as ggml's nearest_int and _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT), for
// |x| < 2^22 (callers pass |x| <= 127 and a bit): adding 1.5 * 2^23 leaves no fraction bits, so
// the f32 addition itself rounds x to an integer in the current (round-to-nearest-even) mode, as
// std::nearbyint does, and the subtraction is exact. Inline arithmetic where nearbyint was a libm
// call per activation value (~13% of a quantized prefill).
int nearest_even(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return int((x + kMagic) - kMagic);  // not folded: this file is built without -ffast-math
}

// The 256 4- or 5-bit values of a q4_K / q5_K block (before scales), in element order.
template <bool kFive, class Block>
void k4_values(const Block& b, uint8_t* v) {
  const uint8_t* q = b.qs;
  for (int j = 0; j < 4; ++j, q += 32) {
    for (int l = 0; l < 32; ++l) {
      v[64 * j + l] = q[l] & 0xF;
      v[64 * j + 32 + l] = q[l] >> 4;
      if constexpr (kFive) {
        v[64 * j + l] += (b.qh[l] >> (2 * j) & 1) << 4;
        v[64 * j + 32 + l] += (b.qh[l] >> (2 * j + 1) & 1) << 4;
      }
    }
  }
}

// The 256 signed 6-bit values of a q6_K block, in element order.
void q6_values(const BlockQ6_K& b, int8_t* v) {
  for (int n = 0; n < 2; ++n) {
    const uint8_t* ql = b.ql + 64 * n;
    const uint8_t* qh = b.qh + 32 * n;
    int8_t* o = v + 128 * n;
    for (int l = 0; l < 32; ++l) {
      o[l] = int8_t(((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32);
      o[l + 32] = int8_t(((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32);
      o[l + 64] = int8_t(((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32);
      o[l + 96] = int8_t(((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32);
    }
  }
}

// ---- K-quant reference quantizers (llama.cpp ggml-quants.c: make_qkx2_quants, make_qx_quants,
// quantize_row_q4_K_ref / q5_K_ref / q6_K_ref), in f32 with the C reference's order of
// operations so the bytes match llama-quantize's without an importance matrix.

// Below this, a group counts as all zero (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// An affine grid x ~ scale * l - the_min (l in 0..nmax) for the n values x, chosen by a weighted
// least-squares search: the range grid first, then nstep + 1 trial inverse scales
// (rmin + rdelta * is + nmax) / (max - min), each refitted by weighted least squares (the min
// kept <= 0), keeping the smallest weighted squared error. Returns the scale; L gets the levels.
float make_qkx2_quants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]), max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t(0));
    *the_min = -min;
    return 0.0f;
  }
  float iscale = float(nmax) / (max - min), scale = 1 / iscale, best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = uint8_t(std::clamp(nearest_even(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * float(L[i]) + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_even(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = uint8_t(l);
      const float wl = w[i] * float(l);
      sum_l += wl;
      sum_l2 += wl * float(l);
      sum_xl += wl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * float(Laux[i]) + this_min - x[i];
        cur_error += w[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// A symmetric grid x ~ scale * (L - nmax) (L in 0..2 nmax - 1) for n values, weights x^2
// (make_qx_quants with rmse_type 1): the scale -nmax / (the value of largest magnitude), refitted
// by weighted least squares, then 18 trial scales -(nmax + 0.1 is) / max, keeping the best fit.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t(0));
    return 0.0f;
  }
  auto fit = [&](float iscale, float& sumlx, float& suml2, int8_t* out) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_even(iscale * x[i]), -nmax, nmax - 1);
      if (out) out[i] = int8_t(l + nmax);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * float(l);
      suml2 += w * float(l) * float(l);
    }
  };
  float sumlx, suml2;
  fit(-float(nmax) / max, sumlx, suml2, L);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(float(nmax) + 0.1f * float(is)) / max;
    fit(iscale, sumlx, suml2, nullptr);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      fit(iscale, sumlx, suml2, L);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// quantize_row_q4_K_ref (nmax 15) / quantize_row_q5_K_ref (nmax 31) for one super-block: per 32
// values a weighted (sqrt(mean x^2) + |x|) affine search, the 8 scales and 8 mins then stored as
// 6-bit multiples of two f16 super-block scales, and the levels recomputed against the stored
// scales. Writes d, dmin, the 12 scale bytes and the 256 levels.
void quantize_k_affine(const float* x, int nmax, uint16_t& d_out, uint16_t& dmin_out,
                       uint8_t* scales_out, uint8_t* L) {
  const bool five = nmax == 31;
  uint8_t Laux[32];
  float w[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xj = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xj[l] * xj[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xj[l]);
    scales[j] = make_qkx2_quants(32, nmax, xj, w, L + 32 * j, &mins[j], Laux, five ? -0.5f : -1.0f,
                                 0.1f, five ? 15 : 20);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(scales_out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    // As C: the int converted to uint8_t (modular), then capped at 63.
    const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_even(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_even(inv_min * mins[j])));
    if (j < 4) {
      scales_out[j] = ls;
      scales_out[j + 4] = lm;
    } else {
      scales_out[j + 4] = uint8_t((ls & 0xF) | (lm & 0xF) << 4);
      scales_out[j - 4] |= uint8_t((ls >> 4) << 6);
      scales_out[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  d_out = f2h(max_scale / 63.0f);
  dmin_out = f2h(max_min / 63.0f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales_out, sc, m);
    const float d = h2f(d_out) * float(sc);
    if (d == 0.0f) continue;  // keeps the search's levels
    const float dm = h2f(dmin_out) * float(m);
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] = uint8_t(std::clamp(nearest_even((x[32 * j + l] + dm) / d), 0, nmax));
  }
}

void quantize_q4_K(const float* x, BlockQ4_K& b) {
  uint8_t L[kQKK];
  quantize_k_affine(x, 15, b.d, b.dmin, b.scales, L);
  for (int c = 0; c < 4; ++c)  // per 64 values: the first 32 in the low nibbles, the next 32 high
    for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = uint8_t(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

void quantize_q5_K(const float* x, BlockQ5_K& b) {
  uint8_t L[kQKK];
  quantize_k_affine(x, 31, b.d, b.dmin, b.scales, L);
  std::memset(b.qh, 0, sizeof b.qh);
  for (int c = 0; c < 4; ++c) {  // as q4_K, the fifth bit of value 64 c + l (+ 32) in bit 2c (+1)
    for (int l = 0; l < 32; ++l) {
      const uint8_t a = L[64 * c + l], e = L[64 * c + 32 + l];
      b.qh[l] |= uint8_t((a >> 4) << (2 * c) | (e >> 4) << (2 * c + 1));
      b.qs[32 * c + l] = uint8_t((a & 0xF) | (e & 0xF) << 4);
    }
  }
}

// quantize_row_q6_K_ref: per 16 values a symmetric 6-bit fit (make_qx_quants, nmax 32), the 16
// scales stored as int8 multiples of one f16 scale (the largest-magnitude scale maps to -128,
// capped at 127), and the levels recomputed against the stored scales.
void quantize_q6_K(const float* x, BlockQ6_K& b) {
  int8_t L[kQKK];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
    if (std::fabs(scales[ib]) > max_abs_scale) max_abs_scale = std::fabs(scales[ib]), max_scale = scales[ib];
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(&b, 0, sizeof b);
    return;
  }
  const float iscale = -128.0f / max_scale;
  b.d = f2h(1 / iscale);
  for (int ib = 0; ib < 16; ++ib) b.scales[ib] = int8_t(std::min(127, nearest_even(iscale * scales[ib])));
  for (int j = 0; j < 16; ++j) {
    const float d = h2f(b.d) * float(b.scales[j]);
    if (d == 0.0f) continue;
    for (int l = 0; l < 16; ++l)
      L[16 * j + l] = int8_t(std::clamp(nearest_even(x[16 * j + l] / d), -32, 31) + 32);
  }
  // Per 128 values (half n): quarter k's low nibbles in ql (quarters 0/1 low, 2/3 high nibble of
  // the same 64 bytes), the two high bits of all four quarters in one qh byte.
  for (int n = 0; n < 2; ++n) {
    const int8_t* Lh = L + 128 * n;
    uint8_t* ql = b.ql + 64 * n;
    uint8_t* qh = b.qh + 32 * n;
    for (int l = 0; l < 32; ++l) {
      const auto q = [&](int k) { return uint8_t(Lh[32 * k + l]); };
      ql[l] = uint8_t((q(0) & 0xF) | (q(2) & 0xF) << 4);
      ql[l + 32] = uint8_t((q(1) & 0xF) | (q(3) & 0xF) << 4);
      qh[l] = uint8_t((q(0) >> 4) | (q(1) >> 4) << 2 | (q(2) >> 4) << 4 | (q(3) >> 4) << 6);
    }
  }
}

template <class Block>
const Block* as(const void* p) {
  return static_cast<const Block*>(p);
}

void check_blocks(DType dt, int64_t n, const char* what) {
  if (!is_quantized(dt)) {
    throw DTypeError(fmt::format("[quants] {}: {} is not a quantized type", what, dtype_name(dt)));
  }
  if (n < 0 || n % dtype_block_size(dt) != 0) {
    throw ShapeError(fmt::format("[quants] {}: {} values are not whole {} blocks of {}", what, n,
                                 dtype_name(dt), dtype_block_size(dt)));
  }
}

}  // namespace

void dequantize_row(DType dt, const void* blocks, float* y, int64_t n) {
  check_blocks(dt, n, "dequantize");
  const int64_t nb = n / dtype_block_size(dt);
  switch (dt) {
    case DType::Q8_0:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ8_0& b = as<BlockQ8_0>(blocks)[i];
        const float d = h2f(b.d);
        for (int j = 0; j < kQK; ++j) y[i * kQK + j] = float(b.qs[j]) * d;
      }
      return;
    case DType::Q4_0:
    case DType::Q4_1:
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* qs;
        float d, m;
        if (dt == DType::Q4_0) {
          const BlockQ4_0& b = as<BlockQ4_0>(blocks)[i];
          qs = b.qs, d = h2f(b.d), m = -8.0f * d;
        } else {
          const BlockQ4_1& b = as<BlockQ4_1>(blocks)[i];
          qs = b.qs, d = h2f(b.d), m = h2f(b.m);
        }
        for (int j = 0; j < kQK / 2; ++j) {
          if (dt == DType::Q4_0) {  // (q - 8) d, as ggml rounds it
            y[i * kQK + j] = float((qs[j] & 0xF) - 8) * d;
            y[i * kQK + j + 16] = float((qs[j] >> 4) - 8) * d;
          } else {
            y[i * kQK + j] = float(qs[j] & 0xF) * d + m;
            y[i * kQK + j + 16] = float(qs[j] >> 4) * d + m;
          }
        }
      }
      return;
    case DType::Q4_K:
    case DType::Q5_K:
      for (int64_t i = 0; i < nb; ++i) {
        uint8_t v[kQKK];
        const uint8_t* scales;
        float d, dmin;
        if (dt == DType::Q4_K) {
          const BlockQ4_K& b = as<BlockQ4_K>(blocks)[i];
          k4_values<false>(b, v);
          scales = b.scales, d = h2f(b.d), dmin = h2f(b.dmin);
        } else {
          const BlockQ5_K& b = as<BlockQ5_K>(blocks)[i];
          k4_values<true>(b, v);
          scales = b.scales, d = h2f(b.d), dmin = h2f(b.dmin);
        }
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          scale_min_k4(j, scales, sc, m);
          const float d1 = d * float(sc), m1 = dmin * float(m);
          for (int l = 0; l < 32; ++l) y[i * kQKK + 32 * j + l] = d1 * float(v[32 * j + l]) - m1;
        }
      }
      return;
    case DType::Q6_K:
      for (int64_t i = 0; i < nb; ++i) {
        const BlockQ6_K& b = as<BlockQ6_K>(blocks)[i];
        int8_t v[kQKK];
        q6_values(b, v);
        const float d = h2f(b.d);
        // ggml: y = d * scale * q, with scale of the 16 elements at (l / 16) + 2 k for quarter k.
        for (int e = 0; e < kQKK; ++e) {
          const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
          const int is = 8 * half + l / 16 + 2 * quarter;
          y[i * kQKK + e] = d * float(b.scales[is]) * float(v[e]);
        }
      }
      return;
    default:
      break;
  }
  throw DTypeError(fmt::format("[quants] dequantize: {} is not a quantized type", dtype_name(dt)));
}

bool can_quantize(DType dt) { return is_quantized(dt); }

void quantize_row(DType dt, const float* x, void* blocks, int64_t n) {
  check_blocks(dt, n, "quantize");
  if (dt == DType::Q4_K || dt == DType::Q5_K || dt == DType::Q6_K) {
    for (int64_t i = 0; i < n / kQKK; ++i) {
      const float* xb = x + i * kQKK;
      if (dt == DType::Q4_K) quantize_q4_K(xb, static_cast<BlockQ4_K*>(blocks)[i]);
      if (dt == DType::Q5_K) quantize_q5_K(xb, static_cast<BlockQ5_K*>(blocks)[i]);
      if (dt == DType::Q6_K) quantize_q6_K(xb, static_cast<BlockQ6_K*>(blocks)[i]);
    }
    return;
  }
  const int64_t nb = n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK;
    if (dt == DType::Q8_0) {  // quantize_row_q8_0_ref
      float amax = 0.0f;
      for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      BlockQ8_0& b = static_cast<BlockQ8_0*>(blocks)[i];
      b.d = f2h(d);
      for (int j = 0; j < kQK; ++j) b.qs[j] = int8_t(std::round(xb[j] * id));
    } else if (dt == DType::Q4_0) {  // quantize_row_q4_0_ref: d from the signed extreme
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < kQK; ++j) {
        if (amax < std::fabs(xb[j])) amax = std::fabs(xb[j]), max = xb[j];
      }
      const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      BlockQ4_0& b = static_cast<BlockQ4_0*>(blocks)[i];
      b.d = f2h(d);
      for (int j = 0; j < kQK / 2; ++j) {
        const uint8_t lo = uint8_t(std::min(15, int(int8_t(xb[j] * id + 8.5f))));
        const uint8_t hi = uint8_t(std::min(15, int(int8_t(xb[j + 16] * id + 8.5f))));
        b.qs[j] = uint8_t(lo | hi << 4);
      }
    } else {  // quantize_row_q4_1_ref
      float lo = xb[0], hi = xb[0];
      for (int j = 1; j < kQK; ++j) lo = std::min(lo, xb[j]), hi = std::max(hi, xb[j]);
      const float d = (hi - lo) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      BlockQ4_1& b = static_cast<BlockQ4_1*>(blocks)[i];
      b.d = f2h(d);
      b.m = f2h(lo);
      for (int j = 0; j < kQK / 2; ++j) {
        const uint8_t a = uint8_t(std::min(15, int(int8_t((xb[j] - lo) * id + 0.5f))));
        const uint8_t c = uint8_t(std::min(15, int(int8_t((xb[j + 16] - lo) * id + 0.5f))));
        b.qs[j] = uint8_t(a | c << 4);
      }
    }
  }
}

ActFormat act_format(DType dt) {
  switch (dt) {
    case DType::Q8_0:
    case DType::Q4_0:
      return ActFormat::Q8_0;
    case DType::Q4_1:
      return ActFormat::Q8_1;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return ActFormat::Q8_K;
    default:
      break;
  }
  throw DTypeError(fmt::format("[quants] {} is not a quantized type", dtype_name(dt)));
}

size_t act_bytes(ActFormat f, int64_t n) {
  switch (f) {
    case ActFormat::Q8_0:
      return size_t(n / kQK) * sizeof(BlockQ8_0);
    case ActFormat::Q8_1:
      return size_t(n / kQK) * sizeof(BlockQ8_1);
    case ActFormat::Q8_K:
      return size_t(n / kQKK) * sizeof(BlockQ8_K);
  }
  return 0;
}

void quantize_act(ActFormat f, const float* x, void* out, int64_t n) {
  if (f == ActFormat::Q8_K) {  // quantize_row_q8_K_ref
    for (int64_t i = 0; i < n / kQKK; ++i) {
      const float* xb = x + i * kQKK;
      BlockQ8_K& b = static_cast<BlockQ8_K*>(out)[i];
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < kQKK; ++j) {
        if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), max = xb[j];
      }
      if (amax == 0.0f) {
        std::memset(&b, 0, sizeof b);
        continue;
      }
      const float iscale = -127.0f / max;
      for (int j = 0; j < kQKK; ++j) b.qs[j] = int8_t(std::min(127, nearest_even(iscale * xb[j])));
      for (int j = 0; j < kQKK / 16; ++j) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += b.qs[16 * j + l];
        b.bsums[j] = int16_t(sum);
      }
      b.d = 1.0f / iscale;
    }
    return;
  }
  // quantize_row_q8_0 / q8_1 as ggml-cpu's x86 code: scale 127 / amax, round half to even.
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* xb = x + i * kQK;
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int8_t* qs;
    if (f == ActFormat::Q8_0) {
      BlockQ8_0& b = static_cast<BlockQ8_0*>(out)[i];
      b.d = f2h(d);
      qs = b.qs;
    } else {
      BlockQ8_1& b = static_cast<BlockQ8_1*>(out)[i];
      b.d = f2h(d);
      qs = b.qs;
    }
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += qs[j] = int8_t(nearest_even(xb[j] * id));
    if (f == ActFormat::Q8_1) static_cast<BlockQ8_1*>(out)[i].s = f2h(d * float(sum));
  }
}

float vec_dot_ref(DType dt, const void* w, const void* act, int64_t n) {
  check_blocks(dt, n, "vec_dot");
  float sum = 0.0f;
  if (act_format(dt) != ActFormat::Q8_K) {
    for (int64_t i = 0; i < n / kQK; ++i) {
      const int8_t* y = act_format(dt) == ActFormat::Q8_0 ? as<BlockQ8_0>(act)[i].qs
                                                          : as<BlockQ8_1>(act)[i].qs;
      const float dy = h2f(act_format(dt) == ActFormat::Q8_0 ? as<BlockQ8_0>(act)[i].d
                                                             : as<BlockQ8_1>(act)[i].d);
      int isum = 0;
      if (dt == DType::Q8_0) {
        const BlockQ8_0& b = as<BlockQ8_0>(w)[i];
        for (int j = 0; j < kQK; ++j) isum += b.qs[j] * y[j];
        sum += float(isum) * (h2f(b.d) * dy);
      } else if (dt == DType::Q4_0) {
        const BlockQ4_0& b = as<BlockQ4_0>(w)[i];
        for (int j = 0; j < kQK / 2; ++j)
          isum += ((b.qs[j] & 0xF) - 8) * y[j] + ((b.qs[j] >> 4) - 8) * y[j + 16];
        sum += float(isum) * (h2f(b.d) * dy);
      } else {
        const BlockQ4_1& b = as<BlockQ4_1>(w)[i];
        for (int j = 0; j < kQK / 2; ++j) isum += (b.qs[j] & 0xF) * y[j] + (b.qs[j] >> 4) * y[j + 16];
        sum += (h2f(b.d) * dy) * float(isum) + h2f(b.m) * h2f(as<BlockQ8_1>(act)[i].s);
      }
    }
    return sum;
  }
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const BlockQ8_K& a = as<BlockQ8_K>(act)[i];
    if (dt == DType::Q6_K) {
      const BlockQ6_K& b = as<BlockQ6_K>(w)[i];
      int8_t v[kQKK];
      q6_values(b, v);
      int isum = 0;
      for (int g = 0; g < 16; ++g) {  // group g of 16 elements has scale g's sub-block index
        const int half = g / 8, quarter = (g % 8) / 2, is = 8 * half + g % 2 + 2 * quarter;
        int s = 0;
        for (int l = 0; l < 16; ++l) s += v[16 * g + l] * a.qs[16 * g + l];
        isum += b.scales[is] * s;
      }
      sum += h2f(b.d) * a.d * float(isum);
      continue;
    }
    uint8_t v[kQKK];
    const uint8_t* scales;
    float d, dmin;
    if (dt == DType::Q4_K) {
      const BlockQ4_K& b = as<BlockQ4_K>(w)[i];
      k4_values<false>(b, v);
      scales = b.scales, d = h2f(b.d), dmin = h2f(b.dmin);
    } else {
      const BlockQ5_K& b = as<BlockQ5_K>(w)[i];
      k4_values<true>(b, v);
      scales = b.scales, d = h2f(b.d), dmin = h2f(b.dmin);
    }
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      scale_min_k4(j, scales, sc, m);
      int s = 0;
      for (int l = 0; l < 32; ++l) s += v[32 * j + l] * a.qs[32 * j + l];
      isum += sc * s;
      msum += m * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
    }
    sum += d * a.d * float(isum) - dmin * a.d * float(msum);
  }
  return sum;
}

}  // namespace lazarus::quants
