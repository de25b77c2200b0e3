// The one GEMM adapter: every matmul in the CPU backend goes through here, so the BLAS vendor is
// swappable in one file. f32 runs on oneDNN's sgemm (chosen by measurement, docs/performance.md);
// f64 (used by gradient checks) on a plain blocked loop.
#pragma once

#include <cstdint>

namespace lazarus::cpu {

/// Row-major C (M x N) = A (M x K) * B (K x N) [+ C if accumulate]. A is read as A[i*lda_r +
/// k*lda_c] (one of the two strides must be 1), B likewise; C is contiguous with row stride ldc.
/// `serial` keeps the call on the calling thread (for use inside our own parallel loops).
void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
              const float* B, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, bool accumulate,
              bool serial);
void gemm_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t a_rs, int64_t a_cs,
              const double* B, int64_t b_rs, int64_t b_cs, double* C, int64_t ldc, bool accumulate);

/// Name of the GEMM library, for benchmarks and `lazarus --version`-style reports.
const char* gemm_library();

}  // namespace lazarus::cpu
