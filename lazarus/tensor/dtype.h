// Element types: the dtype enum, sizes, names, promotion, and bf16/f16 <-> f32 conversion with
// round-to-nearest-even (as PyTorch rounds).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lazarus {

/// Element type of a tensor. The block-quantized weight types (llama.cpp's layouts, bit for bit:
/// lazarus/tensor/quants.h) store `dtype_block_size` elements per block of `dtype_size` bytes;
/// a quantized tensor's last dim is a whole number of blocks, and only a few ops take one
/// (linear and embedding weights, casts to and from f32).
enum class DType : uint8_t { F32, F64, BF16, F16, I32, I64, Bool, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K };

/// The element types (every dtype but the quantized ones).
inline constexpr DType kAllDTypes[] = {DType::F32, DType::F64, DType::BF16, DType::F16,
                                       DType::I32, DType::I64, DType::Bool};
inline constexpr DType kQuantizedDTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1,
                                             DType::Q4_K, DType::Q5_K, DType::Q6_K};

/// Bytes per element, or per block for a quantized type.
size_t dtype_size(DType dt);
inline constexpr bool is_quantized(DType dt) { return dt >= DType::Q8_0; }
/// Elements per storage block: 1, or 32 / 256 for the quantized types.
inline constexpr int64_t dtype_block_size(DType dt) {
  return !is_quantized(dt) ? 1 : (dt == DType::Q4_K || dt == DType::Q5_K || dt == DType::Q6_K) ? 256 : 32;
}
/// Bytes of `numel` elements (a whole number of blocks).
inline size_t dtype_nbytes(DType dt, int64_t numel) {
  return size_t(numel / dtype_block_size(dt)) * dtype_size(dt);
}
/// "float32", "bfloat16", ... (PyTorch's names).
std::string_view dtype_name(DType dt);
/// "q8_0", "q4_K", ... for the quantized types (llama.cpp's names).
/// Parses a dtype name ("f32", "float32", "bf16", "bfloat16", "q8_0", "q4_k", ...); throws
/// DTypeError.
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
