// Thread-count control for the CPU backend and the BLAS beneath it.
#include "lazarus/backend/cpu/parallel.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/tensor/backend.h"

namespace lazarus {

namespace {
int initial_threads() {
  if (const char* env = std::getenv("LAZARUS_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 4096) return int(v);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : int(hc);
}
std::atomic<int>& thread_count() {
  static std::atomic<int> n{initial_threads()};
  return n;
}
}  // namespace

int num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1 || n > 4096) {
    throw ConfigError(
        fmt::format("[set_num_threads] thread count must be in [1, 4096], got {}", n));
  }
  thread_count().store(n, std::memory_order_relaxed);
  omp_set_num_threads(n);
}

namespace cpu {
int threads() {
  int n = num_threads();
  // oneDNN sizes its teams with omp_get_max_threads() of the calling thread: keep it in step.
  if (!omp_in_parallel() && omp_get_max_threads() != n) omp_set_num_threads(n);
  return omp_in_parallel() ? 1 : n;
}
}  // namespace cpu

}  // namespace lazarus
