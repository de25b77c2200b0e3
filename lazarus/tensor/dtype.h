// Element types: the dtype enum, sizes, names, promotion, and bf16/f16 <-> f32 conversion with
// round-to-nearest-even (as PyTorch rounds).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lazarus {

/// Element type of a tensor. Block-quantized weight types (q8_0, q4_0) will join as entries whose
/// size is per block (see dtype_block_size), so the enum is the one place they are added.
enum class DType : uint8_t { F32, F64, BF16, F16, I32, I64, Bool };

inline constexpr DType kAllDTypes[] = {DType::F32, DType::F64, DType::BF16, DType::F16,
                                       DType::I32, DType::I64, DType::Bool};

/// Bytes per element.
size_t dtype_size(DType dt);
/// Elements per storage block (1 for every dtype today; >1 for block-quantized types later).
inline constexpr int64_t dtype_block_size(DType) { return 1; }
/// "float32", "bfloat16", ... (PyTorch's names).
std::string_view dtype_name(DType dt);
/// Parses a dtype name ("f32", "float32", "bf16", "bfloat16", ...); throws DTypeError.
DType dtype_from_string(std::string_view s);
bool is_floating(DType dt);
bool is_integral(DType dt);  // ints and bool
/// PyTorch's promotion for two tensor operands: bool < ints < floats; bf16+f16 -> f32.
DType promote_types(DType a, DType b);
/// The dtype kernels compute in: f32 for bf16/f16, the type itself otherwise.
inline DType compute_dtype(DType dt) {
  return (dt == DType::BF16 || dt == DType::F16) ? DType::F32 : dt;
}

// ---- 16-bit float conversion ----

/// f32 -> bf16 bits, round to nearest even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_bits_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

/// f32 -> IEEE half bits, round to nearest even, overflow to inf, subnormals kept.
inline uint16_t f32_to_f16_bits(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow / inf
  if (ax < 0x38800000u) {  // subnormal or zero in half: add magic so the FPU rounds for us
    float v = std::bit_cast<float>(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(v) - 0x3f000000u));
  }
  uint32_t mant_odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (ax >> 13));
}
inline float f16_bits_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return std::bit_cast<float>(sign);
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // mant * 2^-24
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

/// Storage types for 16-bit floats: plain bit containers, converted explicitly.
struct BF16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

}  // namespace lazarus
