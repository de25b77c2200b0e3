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

bool can_quantize(DType dt) {
  return dt == DType::Q8_0 || dt == DType::Q4_0 || dt == DType::Q4_1;
}

void quantize_row(DType dt, const float* x, void* blocks, int64_t n) {
  check_blocks(dt, n, "quantize");
  if (!can_quantize(dt)) {
    throw DTypeError(fmt::format(
        "[quants] quantizing to {} is not supported yet (q8_0, q4_0 and q4_1 are); {} tensors "
        "can be read from GGUF files",
        dtype_name(dt), dtype_name(dt)));
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
