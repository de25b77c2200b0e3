// GEMM adapter over oneDNN (see gemm.h).
#include "lazarus/backend/cpu/gemm.h"

#include <dnnl.h>
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "lazarus/backend/cpu/parallel.h"
#include "lazarus/core/error.h"

namespace lazarus::cpu {

const char* gemm_library() { return "oneDNN sgemm"; }

namespace {
// LAZARUS_ISA=generic|avx2 caps oneDNN's kernels to the same instruction set as ours, so a forced
// run emulates that CPU for matrix products too (oneDNN's own DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA,
// when set, wins). Must run before oneDNN's first call: once, from the first GEMM.
void cap_onednn_isa() {
  static const bool once = [] {
    const char* cap = std::getenv("LAZARUS_ISA");
    if (!cap || std::getenv("DNNL_MAX_CPU_ISA") || std::getenv("ONEDNN_MAX_CPU_ISA")) return true;
    if (std::strcmp(cap, "generic") == 0) dnnl_set_max_cpu_isa(dnnl_cpu_isa_sse41);
    if (std::strcmp(cap, "avx2") == 0) dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2);
    return true;
  }();
  (void)once;
}

// Maps (row stride, col stride) to a BLAS transpose flag and leading dimension.
bool layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, char& trans, int64_t& ld) {
  if (cs == 1 || cols == 1) {
    trans = 'N';
    ld = rows == 1 ? std::max<int64_t>(cols, 1) : rs;
    return ld >= std::max<int64_t>(cols, 1);
  }
  if (rs == 1 || rows == 1) {
    trans = 'T';
    ld = cols == 1 ? std::max<int64_t>(rows, 1) : cs;
    return ld >= std::max<int64_t>(rows, 1);
  }
  return false;
}
}  // namespace

void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs,
              const float* B, int64_t b_rs, int64_t b_cs, float* C, int64_t ldc, bool accumulate,
              bool serial) {
  char ta, tb;
  int64_t lda, ldb;
  if (!layout(M, K, a_rs, a_cs, ta, lda) || !layout(K, N, b_rs, b_cs, tb, ldb)) {
    throw Error(
        fmt::format("[gemm] operand layout not supported (a strides {},{}; b strides {},{})", a_rs,
                    a_cs, b_rs, b_cs));
  }
  if (!serial) threads();  // keeps OpenMP's team size in step with set_num_threads
  cap_onednn_isa();
  dnnl_status_t st =
      dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
  if (st != dnnl_success) {
    throw Error(fmt::format("[gemm] oneDNN sgemm failed with status {} for M={} N={} K={}", int(st),
                            M, N, K));
  }
}

void gemm_f64(int64_t M, int64_t N, int64_t K, const double* A, int64_t a_rs, int64_t a_cs,
              const double* B, int64_t b_rs, int64_t b_cs, double* C, int64_t ldc,
              bool accumulate) {
  // i-k-j order keeps the inner loop contiguous in B and C when b_cs == 1.
  parallel_for(M, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double* c = C + i * ldc;
      if (!accumulate)
        for (int64_t j = 0; j < N; ++j) c[j] = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        double a = A[i * a_rs + k * a_cs];
        const double* b = B + k * b_rs;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j * b_cs];
      }
    }
  });
}

}  // namespace lazarus::cpu
