// Micro benchmarks of the tensor engine's CPU kernels, one per kernel and shape class: prefill
// GEMM, decode GEMV, the same GEMMs straight through oneDNN's sgemm (the BLAS our adapter calls, to
// show the adapter's overhead), softmax, rms_norm, layer_norm, rope and causal attention; plus the
// machine's ceilings (AVX-512 FMA peak, memory bandwidth) measured the same way.
//
// Names are "op/shape" so bench/compare.py can rebuild each case in PyTorch. Every benchmark uses
// wall-clock time (the kernels are multi-threaded) and reports GFLOP/s or GB/s counters.
// Threads: LAZARUS_NUM_THREADS (default: all cores).
#include <benchmark/benchmark.h>
#include <dnnl.h>
#include <immintrin.h>
#include <omp.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/quants.h"
#include "lazarus/tensor/random.h"

namespace lz = lazarus;

namespace {

using benchmark::Counter;

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) {
    if (!s.empty()) s.push_back('x');
    s.append(std::to_string(v));
  }
  return s;
}

void set_rates(benchmark::State& st, double flops, double bytes) {
  if (flops > 0) st.counters["GFLOP/s"] = Counter(flops * 1e-9, Counter::kIsIterationInvariantRate);
  if (bytes > 0) st.counters["GB/s"] = Counter(bytes * 1e-9, Counter::kIsIterationInvariantRate);
}

template <class F>
void reg(const std::string& name, F&& fn) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(fn))
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

lz::Tensor randn(lz::Shape s, uint64_t seed) {
  lz::Generator g(seed);
  return lz::randn(std::move(s), lz::DType::F32, 0.0, 1.0, &g);
}

// ---- GEMM: our ops vs the BLAS they call ----

// a (M, K) @ b (K, N) through lazarus::matmul.
void add_matmul(int64_t M, int64_t K, int64_t N) {
  reg("matmul/" + dims({M, K, N}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor a = randn({M, K}, 1), b = randn({K, N}, 2);
    for (auto _ : st) benchmark::DoNotOptimize(lz::matmul(a, b));
    set_rates(st, 2.0 * M * N * K, 4.0 * (M * K + K * N + M * N));
  });
}

// x (M, K) @ W^T with W (N, K) through lazarus::linear (shape named M x K x N), x and W in
// `dt` (bf16 / f16: the half-weight kernels).
void add_linear(int64_t M, int64_t K, int64_t N, lz::DType dt = lz::DType::F32) {
  std::string tag = dt == lz::DType::F32 ? "" : "_" + std::string(lz::dtype_name(dt));
  reg("linear" + tag + "/" + dims({M, K, N}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor x = randn({M, K}, 3).to(dt), w = randn({N, K}, 4).to(dt);
    for (auto _ : st) benchmark::DoNotOptimize(lz::linear(x, w));
    set_rates(st, 2.0 * M * N * K, double(lz::dtype_size(dt)) * double(M * K + K * N + M * N));
  });
}

// A (N, K) weight of quantized type dt, quantized from randn by llama.cpp's quantizer for the type
// (every block type has one).
lz::Tensor quantized_weight(int64_t N, int64_t K, lz::DType dt) { return randn({N, K}, 4).to(dt); }

// Decode with a quantized weight: x f32 (M, K) times W^T, W (N, K) in `dt`; GB/s counts the
// weight's bytes, the traffic that bounds decode.
void add_linear_quantized(int64_t M, int64_t K, int64_t N, lz::DType dt) {
  reg("linear_" + std::string(lz::dtype_name(dt)) + "/" + dims({M, K, N}),
      [=](benchmark::State& st) {
        lz::NoGradGuard ng;
        lz::Tensor x = randn({M, K}, 3), w = quantized_weight(N, K, dt);
        for (auto _ : st) benchmark::DoNotOptimize(lz::linear(x, w));
        set_rates(st, 2.0 * M * N * K, double(w.nbytes()));
      });
}

// The alternative to the integer prefill GEMM: dequantize the weight to f32 on every call, then
// the f32 GEMM (oneDNN sgemm through linear). Not llama.cpp's arithmetic (activations stay f32);
// measured for comparison only.
void add_linear_dequant_f32(int64_t M, int64_t K, int64_t N, lz::DType dt) {
  reg("linear_" + std::string(lz::dtype_name(dt)) + "_dequant_f32/" + dims({M, K, N}),
      [=](benchmark::State& st) {
        lz::NoGradGuard ng;
        lz::Tensor x = randn({M, K}, 3), w = quantized_weight(N, K, dt);
        for (auto _ : st) benchmark::DoNotOptimize(lz::linear(x, w.to(lz::DType::F32)));
        set_rates(st, 2.0 * M * N * K, double(w.nbytes()));
      });
}

// The same products straight through dnnl_sgemm (row-major, as our adapter calls it), C
// preallocated.
void add_dnnl(int64_t M, int64_t K, int64_t N, bool trans_b) {
  std::string name = std::string(trans_b ? "dnnl_sgemm_nt/" : "dnnl_sgemm_nn/") + dims({M, K, N});
  reg(name, [=](benchmark::State& st) {
    omp_set_num_threads(lz::num_threads());
    lz::Tensor a = randn({M, K}, 1), b = trans_b ? randn({N, K}, 4) : randn({K, N}, 2);
    lz::Tensor c = lz::zeros({M, N});
    for (auto _ : st) {
      dnnl_sgemm('N', trans_b ? 'T' : 'N', M, N, K, 1.0f, a.data<float>(), K, b.data<float>(),
                 trans_b ? K : N, 0.0f, c.data<float>(), N);
      benchmark::ClobberMemory();
    }
    set_rates(st, 2.0 * M * N * K, 4.0 * (M * K + K * N + M * N));
  });
}

// ---- fused row ops ----

void add_softmax(int64_t rows, int64_t n) {
  reg("softmax/" + dims({rows, n}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor x = randn({rows, n}, 5);
    for (auto _ : st) benchmark::DoNotOptimize(lz::softmax(x, -1));
    set_rates(st, 0, 2.0 * 4.0 * rows * n);
  });
}

void add_rms_norm(int64_t rows, int64_t n) {
  reg("rms_norm/" + dims({rows, n}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor x = randn({rows, n}, 6), w = randn({n}, 7);
    for (auto _ : st) benchmark::DoNotOptimize(lz::rms_norm(x, w, 1e-6));
    set_rates(st, 0, 2.0 * 4.0 * rows * n);
  });
}

void add_layer_norm(int64_t rows, int64_t n) {
  reg("layer_norm/" + dims({rows, n}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor x = randn({rows, n}, 8), w = randn({n}, 9), b = randn({n}, 10);
    for (auto _ : st) benchmark::DoNotOptimize(lz::layer_norm(x, w, b, 1e-5));
    set_rates(st, 0, 2.0 * 4.0 * rows * n);
  });
}

// Rotate-half (Llama) rope on x (B, H, T, Dh).
void add_rope(int64_t B, int64_t H, int64_t T, int64_t Dh) {
  reg("rope/" + dims({B, H, T, Dh}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor x = randn({B, H, T, Dh}, 11);
    auto [c, s] = lz::rope_tables(Dh, T, 10000.0);
    for (auto _ : st) benchmark::DoNotOptimize(lz::rope(x, c, s, 0, false));
    set_rates(st, 0, 4.0 * (2.0 * B * H * T * Dh + T * Dh));
  });
}

// Causal self-attention, q/k/v (B, H, T, Dh), no gradient. FLOPs counted are the useful ones:
// query i meets i + 1 keys, 2 * Dh for q.k and 2 * Dh for p * v each.
void add_attention(int64_t B, int64_t H, int64_t T, int64_t Dh) {
  reg("attention_causal/" + dims({B, H, T, Dh}), [=](benchmark::State& st) {
    lz::NoGradGuard ng;
    lz::Tensor q = randn({B, H, T, Dh}, 12), k = randn({B, H, T, Dh}, 13),
               v = randn({B, H, T, Dh}, 14);
    lz::AttentionOptions o;
    o.causal = true;
    for (auto _ : st) benchmark::DoNotOptimize(lz::scaled_dot_product_attention(q, k, v, {}, o));
    set_rates(st, 4.0 * B * H * Dh * (double(T) * (T + 1) / 2), 0);
  });
}

// The same forward with gradients on, then its backward (a training step's attention): FLOPs
// counted as forward + twice that for the backward (dq, dk, dv), the useful ones.
void add_attention_train(int64_t B, int64_t H, int64_t T, int64_t Dh) {
  reg("attention_causal_train/" + dims({B, H, T, Dh}), [=](benchmark::State& st) {
    lz::Tensor q = randn({B, H, T, Dh}, 12), k = randn({B, H, T, Dh}, 13),
               v = randn({B, H, T, Dh}, 14), g = randn({B, H, T, Dh}, 15);
    for (lz::Tensor* t : {&q, &k, &v}) t->requires_grad_();
    lz::AttentionOptions o;
    o.causal = true;
    for (auto _ : st) {
      for (lz::Tensor* t : {&q, &k, &v}) t->set_grad(lz::Tensor());
      lz::Tensor out = lz::scaled_dot_product_attention(q, k, v, {}, o);
      out.backward(g);
      benchmark::DoNotOptimize(q.grad());
    }
    set_rates(st, 3 * 4.0 * B * H * Dh * (double(T) * (T + 1) / 2), 0);
  });
}

// ---- ceilings ----

// Peak f32 FMA throughput: 12 independent AVX-512 FMA chains per thread, all threads.
__attribute__((target("avx512f"))) double fma_peak_kernel(int64_t iters) {
  double total = 0;
#pragma omp parallel reduction(+ : total)
  {
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it) {
      for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, s);
    for (float f : lanes) total += double(f);
  }
  return total;
}

void add_ceilings() {
  if (__builtin_cpu_supports("avx512f")) {
    reg("ceiling_fma_peak/avx512", [](benchmark::State& st) {
      omp_set_num_threads(lz::num_threads());
      constexpr int64_t kIters = 1 << 20;
      for (auto _ : st) benchmark::DoNotOptimize(fma_peak_kernel(kIters));
      set_rates(st, 2.0 * 16 * 12 * kIters * lz::num_threads(), 0);
    });
  }
  // y = 2 * x over 64 MiB arrays (read + write, the traffic pattern of every row op above).
  reg("ceiling_bandwidth/scale_64MiB", [](benchmark::State& st) {
    omp_set_num_threads(lz::num_threads());
    const int64_t n = int64_t(16) << 20;
    std::vector<float> x(size_t(n), 1.0f), y(size_t(n), 0.0f);
    for (auto _ : st) {
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; ++i) y[size_t(i)] = 2.0f * x[size_t(i)];
      benchmark::ClobberMemory();
    }
    set_rates(st, 0, 2.0 * 4.0 * n);
  });
  // Read-only sum over 128 MiB (the traffic pattern of decode GEMV).
  reg("ceiling_bandwidth/read_128MiB", [](benchmark::State& st) {
    omp_set_num_threads(lz::num_threads());
    const int64_t n = int64_t(32) << 20;
    std::vector<float> x(size_t(n), 1.0f);
    for (auto _ : st) {
      float s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
      for (int64_t i = 0; i < n; ++i) s += x[size_t(i)];
      benchmark::DoNotOptimize(s);
    }
    set_rates(st, 0, 4.0 * n);
  });
}

void register_all() {
  add_ceilings();
  // prefill GEMM (512 tokens, 2048 wide) and decode GEMV (1 token, 2048 -> 5632 MLP up-projection)
  add_matmul(512, 2048, 2048);
  add_dnnl(512, 2048, 2048, false);
  add_linear(512, 2048, 2048);
  add_dnnl(512, 2048, 2048, true);
  add_linear(1, 2048, 5632);
  add_dnnl(1, 2048, 5632, true);
  // the same in bf16 / f16 (weights used in place), and a tied vocabulary head (576 -> 49152)
  for (lz::DType dt : {lz::DType::BF16, lz::DType::F16}) {
    add_linear(512, 2048, 2048, dt);
    add_linear(1, 2048, 5632, dt);
  }
  for (lz::DType dt : lz::kQuantizedDTypes) add_linear_quantized(1, 2048, 5632, dt);
  // quantized prefill (512 tokens) at smollm2-135m's MLP shapes: up (576 -> 1536, K a multiple of
  // 32 only) and down (1536 -> 576, K a multiple of 256 as the K-quants need); the f32 shape beside
  for (lz::DType dt : lz::kQuantizedDTypes) {
    if (dtype_block_size(dt) == 32) add_linear_quantized(512, 576, 1536, dt);
    add_linear_quantized(512, 1536, 576, dt);
    add_linear_dequant_f32(512, 1536, 576, dt);
  }
  add_linear(512, 576, 1536);
  add_linear(512, 1536, 576);
  add_linear(1, 576, 49152);
  add_linear(1, 576, 49152, lz::DType::BF16);
  // softmax: attention-score rows and a vocabulary row block
  add_softmax(4096, 1024);
  add_softmax(64, 32000);
  // norms: a prefill block (L2/L3 resident) and a large one (DRAM)
  for (auto [r, n] : {std::pair<int64_t, int64_t>{512, 2048}, {4096, 4096}}) {
    add_rms_norm(r, n);
    add_layer_norm(r, n);
  }
  add_rope(1, 16, 512, 128);
  add_rope(1, 16, 2048, 128);
  for (auto [H, Dh] : {std::pair<int64_t, int64_t>{16, 64}, {8, 128}}) {
    for (int64_t T : {128, 512, 1024, 2048}) add_attention(1, H, T, Dh);
  }
  for (int64_t T : {128, 512, 1024}) add_attention_train(1, 16, T, 64);
  add_attention_train(8, 8, 128, 32);  // bench/train_bench's model: batch 8 x 128, 8 heads of 32
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("threads", std::to_string(lz::num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
