// Hand-written f32 kernels compiled once per instruction set (generic x86-64, AVX2+FMA, AVX-512)
// and chosen once at start-up from what the CPU reports. Every variant is reachable for tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lazarus/tensor/backend.h"

namespace lazarus::cpu {

struct KernelTable {
  const char* isa;
  /// y[i] = op(x[i]), contiguous.
  void (*unary_f32)(UnaryOp op, const float* x, float* y, int64_t n);
  /// y[i] = op(a[i * sa], b[i * sb]) with sa, sb in {0, 1}; arithmetic ops only.
  void (*binary_f32)(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                     int64_t n);
  /// Softmax / log-softmax of each contiguous row of length n.
  void (*softmax_rows_f32)(const float* x, float* y, int64_t rows, int64_t n, bool log);
  /// RMSNorm of each row; w may be null.
  void (*rms_norm_rows_f32)(const float* x, const float* w, float* y, int64_t rows, int64_t n,
                            float eps);
  /// LayerNorm of each row; w, b may be null.
  void (*layer_norm_rows_f32)(const float* x, const float* w, const float* b, float* y,
                              int64_t rows, int64_t n, float eps);
  /// sum_i a[i] * b[i].
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  /// s[i] = exp(s[i] - m); returns the sum of the new s.
  float (*exp_shift_sum_f32)(float* s, int64_t n, float m);
  /// y[i] = y[i] * alpha + x[i] * beta.
  void (*scale_add_f32)(float* y, float alpha, const float* x, float beta, int64_t n);
  /// x[i] *= a.
  void (*scale_f32)(float* x, float a, int64_t n);
  /// C (M x N, row stride ldc) = [C +] A B, with A(i, k) = A[i * a_rs + k * a_cs] and B row-major
  /// (K x N, row stride ldb). Register-blocked for cache-sized tiles (attention blocks), where a
  /// BLAS call's fixed cost dominates; whole-matrix products go through the adapter (gemm.h).
  void (*gemm_tile_f32)(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
                        const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);
  /// One online-softmax step over the columns of s (rows x cols, row-major; column c holds one
  /// query's scores against `rows` keys). With m0 = m[c] on entry: m[c] = max(m0, max_r s[r][c]);
  /// s[r][c] = exp(s[r][c] - m[c]) (0 while m[c] is -inf); alpha[c] = exp(m0 - m[c]) (0 when m0 is
  /// -inf); l[c] = l[c] * alpha[c] + sum_r s[r][c].
  void (*online_softmax_cols_f32)(float* s, int64_t rows, int64_t cols, float* m, float* l,
                                  float* alpha);
  /// Rotary embedding of one row of 2 * half values with the row's cos/sin (half each), angle
  /// multiplied by `sign` (+1 forward, -1 inverse); rotate-half or interleaved pairs.
  void (*rope_row_f32)(const float* x, const float* c, const float* s, float* y, int64_t half,
                       bool interleaved, float sign);
  /// y[r] = sum_k W[r * ldw + k] * x[k] for r < rows (W row-major, rows of K contiguous floats):
  /// the decode-time product of one activation row with a weight, where a BLAS call's fixed cost
  /// and its packing dominate the few microseconds of work.
  void (*matvec_rows_f32)(const float* W, int64_t ldw, const float* x, float* y, int64_t rows,
                          int64_t K);
  /// matvec_rows_f32 with the weight in bf16 / f16 (raw 16-bit storage), widened to f32 in
  /// registers: decode reads half the bytes and never materialises an f32 copy of the weight.
  void (*matvec_rows_bf16)(const uint16_t* W, int64_t ldw, const float* x, float* y, int64_t rows,
                           int64_t K);
  void (*matvec_rows_f16)(const uint16_t* W, int64_t ldw, const float* x, float* y, int64_t rows,
                          int64_t K);
  /// Exact widening of n bf16 / f16 values to f32.
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n);
  void (*f16_to_f32)(const uint16_t* x, float* y, int64_t n);
  /// Narrowing with round-to-nearest-even (f32_to_bf16_bits / f32_to_f16_bits, element for
  /// element).
  void (*f32_to_bf16)(const float* x, uint16_t* y, int64_t n);
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);
  /// y[r] = the dot product of quantized weight row r (row r at W + r * row_bytes, K elements of
  /// type dt) with an activation row quantized by quants::quantize_act(act_format(dt)): llama.cpp's
  /// vec_dot, integer per block (the generic table runs quants::vec_dot_ref; AVX2 and up have a
  /// kernel for every type).
  void (*matvec_rows_q)(DType dt, const uint8_t* W, int64_t row_bytes, const void* act, float* y,
                        int64_t rows, int64_t K);
  /// C[m * ldc + n] = the same dot product for activation rows m < M (row m at act +
  /// m * act_row_bytes) and weight rows n < N: the prefill GEMM. Register-blocked (several
  /// activation rows by several weight rows per block step); every output runs the arithmetic of
  /// matvec_rows_q in the same order, so it equals that kernel's result bit for bit. The caller
  /// picks the cache blocking (a weight panel of N rows that stays in L2).
  void (*gemm_q)(DType dt, const uint8_t* W, int64_t row_bytes, const void* act,
                 int64_t act_row_bytes, float* C, int64_t ldc, int64_t M, int64_t N, int64_t K);
  /// Cross-entropy of each contiguous row of n logits against t[r] (rows with t[r] == ignore:
  /// loss 0, gradient 0): loss[r] = lse - (1 - smoothing) x[t] - smoothing mean(x). With g non-null
  /// (it may alias x) also g = grad_scale * (softmax(x) - smoothing / n - (1 - smoothing) e_t).
  /// Targets are in range (checked by the caller).
  void (*cross_entropy_rows_f32)(const float* x, const int64_t* t, int64_t rows, int64_t n,
                                 int64_t ignore, float smoothing, float* loss, float* g,
                                 float grad_scale);
};

/// The table chosen for this CPU (best available ISA).
const KernelTable& kernels();
/// Every table this CPU can run (for tests that check each variant against the generic one).
std::vector<const KernelTable*> available_kernels();

}  // namespace lazarus::cpu
