// Block-quantized weights in llama.cpp's layouts (ggml-common.h, bit for bit, so GGUF tensors are
// used in place): the block structs, dequantization of every type, llama.cpp's
// reference quantizers (quantize_row_*_ref in ggml-quants.c) for every type,
// and the activation formats its CPU dot products pair with each weight type (q8_0 / q8_1 / q8_K).
// The optimised products live in the CPU kernel tables (backend/cpu/kernels.h); these are the
// reference they are tested against.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lazarus/tensor/dtype.h"

namespace lazarus::quants {

inline constexpr int64_t kQK = 32;    // elements per q8_0 / q4_0 / q4_1 block
inline constexpr int64_t kQKK = 256;  // elements per K-quant super-block

struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[kQK];
};
struct BlockQ4_0 {
  uint16_t d;             // f16 scale; x = d (q - 8)
  uint8_t qs[kQK / 2];    // element j in the low nibble of qs[j], element j + 16 in the high one
};
struct BlockQ4_1 {
  uint16_t d, m;  // f16 scale and min; x = d q + m
  uint8_t qs[kQK / 2];
};
struct BlockQ4_K {
  uint16_t d, dmin;      // f16 super-block scales of the 6-bit sub-block scales and mins
  uint8_t scales[12];    // 8 scales and 8 mins, 6 bits each (get_scale_min_k4)
  uint8_t qs[kQKK / 2];  // per 64 elements: 32 bytes, low nibbles first then high nibbles
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];  // the fifth bit of each element
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];      // low 4 bits
  uint8_t qh[kQKK / 4];      // high 2 bits
  int8_t scales[kQKK / 16];  // one per 16 elements
  uint16_t d;                // f16
};
// Activations: q8_1 (q8_0 with s = d * sum(qs), for q4_1) and q8_K (for the K-quants).
struct BlockQ8_1 {
  uint16_t d, s;
  int8_t qs[kQK];
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];  // sums of each 16 qs
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_1) == 36 && sizeof(BlockQ8_K) == 292);

/// The 6-bit scale and min of sub-block j (0..7) of a q4_K / q5_K block.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

/// y[0..n) = the values of n elements (whole blocks) of quantized type `dt` at `blocks`.
void dequantize_row(DType dt, const void* blocks, float* y, int64_t n);

/// True for the types quantize_row can write: every quantized type (q8_0, q4_0, q4_1, q4_K, q5_K,
/// q6_K).
bool can_quantize(DType dt);
/// Quantizes n values (whole blocks) with llama.cpp's reference quantizer for `dt`
/// (quantize_row_*_ref: round to nearest for q8_0 / q4_0 / q4_1; for the K-quants the per
/// sub-block scale searches make_qkx2_quants (q4_K, q5_K) and make_qx_quants (q6_K), no importance
/// matrix), with the C reference's f32 order of operations, so the bytes are llama-quantize's.
/// Finite input is assumed: values whose block scale overflows f16 (|x| beyond ~65504 x the
/// format's largest level) give an infinite scale, as in llama.cpp. DTypeError for a type
/// can_quantize rejects.
void quantize_row(DType dt, const float* x, void* blocks, int64_t n);

/// The activation format llama.cpp's CPU dot product pairs with weight type `dt` (q8_0 for q8_0
/// and q4_0, q8_1 for q4_1, q8_K for the K-quants), and its bytes per `n` elements.
enum class ActFormat : uint8_t { Q8_0, Q8_1, Q8_K };
ActFormat act_format(DType dt);
size_t act_bytes(ActFormat f, int64_t n);
/// Quantizes an activation row of n values (a multiple of the format's block) as llama.cpp's
/// quantize_row_q8_0 / q8_1 / q8_K do.
void quantize_act(ActFormat f, const float* x, void* out, int64_t n);

/// The reference dot product of one weight row (n elements of type `dt`) with an activation row
/// quantized by quantize_act(act_format(dt)): exact integer block sums, scaled in f32 as ggml's
/// generic ggml_vec_dot_*.
float vec_dot_ref(DType dt, const void* w, const void* act, int64_t n);

}  // namespace lazarus::quants
