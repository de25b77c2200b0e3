// The CPU backend's one thread pool: OpenMP's, shared with the BLAS (oneDNN runs on the same
// OpenMP runtime), so our kernels and GEMM never oversubscribe the cores.
#pragma once

#include <cstdint>

namespace lazarus::cpu {

/// Threads for the next parallel region (LAZARUS_NUM_THREADS, else the core count).
int threads();

/// Runs fn(begin, end) over [0, n) split into contiguous chunks of at least `grain` items, in
/// parallel when there is enough work. fn must be safe to run concurrently on disjoint ranges.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  int nt = threads();
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  if (nt <= 1 || chunks <= 1) {
    fn(int64_t(0), n);
    return;
  }
  if (chunks > nt) chunks = nt;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) fn(b, e);
  }
}

}  // namespace lazarus::cpu
