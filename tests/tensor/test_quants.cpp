// Block-quantized weights: the layouts decoded by hand from llama.cpp's definitions, quantization
// within each format's error bound, every CPU kernel table's integer dot products against the
// reference, and linear / embedding / casts on quantized tensors. (Bit-for-bit agreement with an
// independent implementation of the formats is checked by tests/reference/check_quants.py.)
#include <cstring>

#include <fmt/format.h>

#include "lazarus/backend/cpu/kernels.h"
#include "lazarus/tensor/quants.h"
#include "test_helpers.h"

using namespace etest;
namespace q = lazarus::quants;

namespace {

std::vector<float> floats(const Vec& v) { return {v.begin(), v.end()}; }

std::vector<uint8_t> quantize(DType dt, const std::vector<float>& x) {
  std::vector<uint8_t> b(dtype_nbytes(dt, int64_t(x.size())));
  q::quantize_row(dt, x.data(), b.data(), int64_t(x.size()));
  return b;
}
std::vector<float> dequantize(DType dt, const void* b, int64_t n) {
  std::vector<float> y(size_t(n), 0.0f);
  q::dequantize_row(dt, b, y.data(), n);
  return y;
}

// Random blocks of any type: random bytes with sane f16 scales (|d| < 2^-4), so every bit of the
// quant fields is exercised.
std::vector<uint8_t> random_blocks(DType dt, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(dtype_nbytes(dt, n));
  for (auto& x : b) x = uint8_t(rng());
  const size_t bs = dtype_size(dt);
  auto scale = [&](size_t off) {
    const uint16_t h = f32_to_f16_bits(std::uniform_real_distribution<float>(-0.06f, 0.06f)(rng));
    std::memcpy(b.data() + off, &h, 2);
  };
  for (size_t blk = 0; blk < b.size() / bs; ++blk) {
    const size_t o = blk * bs;
    if (dt == DType::Q6_K) {
      scale(o + 208);
    } else {
      scale(o);
      if (dt != DType::Q8_0 && dt != DType::Q4_0) scale(o + 2);  // q4_1 m, K-quants dmin
    }
  }
  return b;
}

// |the constant part of each element| (what the element would be with all its quants zero: q4_1's
// m, the K-quants' dmin m): the integer kernels sum the scaled and constant parts separately, so
// their rounding is bounded by (|w| + |offset|) |x|, not |w| |x|.
std::vector<float> offsets(DType dt, const uint8_t* w, int64_t n) {
  size_t lo = 0, hi = 0;  // the quant bytes of one block
  if (dt == DType::Q4_1) lo = 4, hi = 20;
  if (dt == DType::Q4_K) lo = 16, hi = 144;
  if (dt == DType::Q5_K) lo = 16, hi = 176;
  if (hi == 0) return std::vector<float>(size_t(n), 0.0f);
  std::vector<uint8_t> z(w, w + dtype_nbytes(dt, n));
  for (size_t b = 0; b < z.size(); b += dtype_size(dt)) std::memset(z.data() + b + lo, 0, hi - lo);
  auto y = dequantize(dt, z.data(), n);
  for (auto& v : y) v = std::fabs(v);
  return y;
}

}  // namespace

TEST(Quants, LayoutsDecodeAsLlamaCppDefinesThem) {
  // q8_0: x = d q.
  q::BlockQ8_0 a{};
  a.d = f32_to_f16_bits(0.5f);
  for (int j = 0; j < 32; ++j) a.qs[j] = int8_t(j - 16);
  auto y = dequantize(DType::Q8_0, &a, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[size_t(j)], 0.5f * float(j - 16));
  // q4_0: element j in the low nibble of qs[j], j + 16 in the high one; x = d (q - 8).
  q::BlockQ4_0 b{};
  b.d = f32_to_f16_bits(0.25f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | (15 - j) << 4);
  y = dequantize(DType::Q4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[size_t(j)], 0.25f * float(j - 8));
    EXPECT_EQ(y[size_t(j + 16)], 0.25f * float(15 - j - 8));
  }
  // q4_1: x = d q + m.
  q::BlockQ4_1 c{};
  c.d = f32_to_f16_bits(2.0f);
  c.m = f32_to_f16_bits(-3.0f);
  for (int j = 0; j < 16; ++j) c.qs[j] = uint8_t(j | j << 4);
  y = dequantize(DType::Q4_1, &c, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[size_t(j)], 2.0f * float(j % 16) - 3.0f);
  // q4_K: sub-block j has 6-bit scale / min; j < 4 in the low 6 bits of scales[j] / scales[j + 4],
  // j >= 4 split over the high bits. Element 64 c + l (l < 32) is the low nibble of qs[32 c + l].
  q::BlockQ4_K k{};
  k.d = f32_to_f16_bits(1.0f);
  k.dmin = f32_to_f16_bits(0.5f);
  uint8_t sc[8] = {1, 2, 3, 4, 61, 62, 63, 5}, mn[8] = {7, 8, 9, 10, 33, 34, 35, 36};
  for (int j = 0; j < 4; ++j) {
    k.scales[j] = uint8_t(sc[j] | (sc[j + 4] >> 4) << 6);
    k.scales[j + 4] = uint8_t(mn[j] | (mn[j + 4] >> 4) << 6);
    k.scales[j + 8] = uint8_t((sc[j + 4] & 0xF) | (mn[j + 4] & 0xF) << 4);
  }
  for (int i = 0; i < 128; ++i) k.qs[i] = uint8_t((i % 16) | ((i + 3) % 16) << 4);
  y = dequantize(DType::Q4_K, &k, 256);
  for (int e = 0; e < 256; ++e) {
    const int c = e / 64, l = e % 32, sub = e / 32;
    const int nib = (e % 64) < 32 ? (l % 16) : ((l + 3) % 16);
    const uint8_t byte = k.qs[32 * c + l];
    ASSERT_EQ(nib, (e % 64) < 32 ? byte & 0xF : byte >> 4);
    EXPECT_EQ(y[size_t(e)], 1.0f * float(sc[sub]) * float(nib) - 0.5f * float(mn[sub])) << e;
  }
  // q6_K: value = (4 low bits | 2 high bits << 4) - 32, times d and the scale of its 16.
  q::BlockQ6_K s{};
  s.d = f32_to_f16_bits(0.125f);
  for (int i = 0; i < 16; ++i) s.scales[i] = int8_t(i - 8);
  for (int i = 0; i < 128; ++i) s.ql[i] = uint8_t(i * 7);
  for (int i = 0; i < 64; ++i) s.qh[i] = uint8_t(i * 13);
  y = dequantize(DType::Q6_K, &s, 256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const uint8_t lo = s.ql[64 * h + l + 32 * (quarter & 1)];
    const int low = quarter < 2 ? lo & 0xF : lo >> 4;
    const int high = s.qh[32 * h + l] >> (2 * quarter) & 3;
    const int scale = s.scales[8 * h + l / 16 + 2 * quarter];
    EXPECT_EQ(y[size_t(e)], 0.125f * float(scale) * float((low | high << 4) - 32)) << e;
  }
}

// Round to nearest: per element |x - x'| <= d / 2 (q4_0: d where the -8 end clamps to 15), plus
// the stored f16 scale's rounding (2^-11 relative) times the largest quant, plus q4_1's f16 min.
TEST(Quants, QuantizeRoundTripsWithinTheFormatsBound) {
  Vec v = rnd(32 * 40, 11, -3, 3);
  std::vector<float> x = floats(v);
  for (int j = 0; j < 32; ++j) x[size_t(32 + j)] = 0.0f;  // an all-zero block
  x[64 + 5] = 1e-30f;                                      // a block with one tiny value
  for (DType dt : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    auto y = dequantize(dt, quantize(dt, x).data(), int64_t(x.size()));
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float lo = x[b * 32], hi = lo, amax = 0;
      for (size_t j = 0; j < 32; ++j) {
        lo = std::min(lo, x[b * 32 + j]), hi = std::max(hi, x[b * 32 + j]);
        amax = std::max(amax, std::fabs(x[b * 32 + j]));
      }
      const double f16 = 0x1p-11;
      double bound = 0;
      if (dt == DType::Q8_0) bound = amax / 127.0 / 2 + 127 * (amax / 127.0) * f16;
      if (dt == DType::Q4_0) bound = amax / 8.0 + 8 * (amax / 8.0) * f16;
      if (dt == DType::Q4_1)
        bound = (hi - lo) / 15.0 / 2 + 15 * ((hi - lo) / 15.0) * f16 + std::fabs(lo) * f16;
      bound = bound * (1 + 1e-6) + 1e-45;
      for (size_t j = 0; j < 32; ++j) {
        ASSERT_LE(std::fabs(double(y[b * 32 + j]) - x[b * 32 + j]), bound)
            << dtype_name(dt) << " block " << b << " element " << j;
      }
    }
  }
}

namespace {

// Rows of 256-value super-blocks that exercise the K-quants' special cases: random, heavy-tailed,
// all positive (min clamped to 0), constant, all zero, one nonzero value, tiny (f16 scales
// underflow to subnormals or 0), huge (scales near f16's top), a sub-block of zeros next to large
// values (a 6-bit scale of 0).
std::vector<float> k_rows() {
  std::mt19937 rng(41);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x;
  auto add = [&](auto f) {
    for (int i = 0; i < 256; ++i) x.push_back(f(i));
  };
  for (int r = 0; r < 6; ++r) add([&](int) { return nd(rng) * 0.3f; });
  add([&](int) { float v = nd(rng); return v * v * v; });
  add([&](int) { return std::fabs(nd(rng)) + 1.0f; });
  add([&](int) { return 0.5f; });
  add([&](int) { return -3.0f; });
  add([&](int) { return 0.0f; });
  add([&](int i) { return i == 77 ? -2.5f : 0.0f; });
  add([&](int) { return nd(rng) * 1e-6f; });
  add([&](int) { return nd(rng) * 1e-30f; });
  add([&](int) { return nd(rng) * 3e3f; });
  add([&](int i) { return i < 32 ? 0.0f : nd(rng) * 100.0f; });
  add([&](int i) { return i < 32 ? nd(rng) * 1e-4f : nd(rng) * 100.0f; });
  return x;
}

// The stored sub-block grids of one K-quant super-block: value(l) = d[s] l - m[s] for level l in
// [lo, hi], for each sub-block s (32 values for q4_K / q5_K, 16 for q6_K).
struct KGrid {
  int sub = 32, lo = 0, hi = 15;
  float d[16], m[16];
  float D = 0, Dmin = 0;  // the f16 super-block scales
};
KGrid k_grid(DType dt, const uint8_t* blk) {
  KGrid g;
  if (dt == DType::Q6_K) {
    const auto& b = *reinterpret_cast<const q::BlockQ6_K*>(blk);
    g.sub = 16, g.lo = -32, g.hi = 31, g.D = f16_bits_to_f32(b.d);
    for (int s = 0; s < 16; ++s) g.d[s] = g.D * float(b.scales[s]), g.m[s] = 0;
    return g;
  }
  const uint8_t* scales = dt == DType::Q4_K ? reinterpret_cast<const q::BlockQ4_K*>(blk)->scales
                                            : reinterpret_cast<const q::BlockQ5_K*>(blk)->scales;
  uint16_t dh[2];
  std::memcpy(dh, blk, 4);
  g.hi = dt == DType::Q4_K ? 15 : 31, g.D = f16_bits_to_f32(dh[0]), g.Dmin = f16_bits_to_f32(dh[1]);
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, mn;
    q::scale_min_k4(s, scales, sc, mn);
    g.d[s] = g.D * float(sc), g.m[s] = g.Dmin * float(mn);
  }
  return g;
}

}  // namespace

// K-quants (llama.cpp's quantize_row_q{4,5,6}_K_ref), two bounds per value, derived:
//  (a) nearest level: the quantizer recomputes every level against the stored scales (d, m), so
//      each value is the grid point d l - m (l in the format's range) nearest x, up to the f32
//      rounding of (x + m) / d and of d l - m (a few ulps of max(|x|, |d l|, m));
//  (b) the grid fits the data. q4_K / q5_K (nmax N = 15 / 31): the scale search starts from the
//      sub-block's range grid s0 = (max - min(min, 0)) / N (every error <= s0 / 2) and only keeps a
//      fit of smaller weighted squared error, weights w = rms(x) + |x| with sum w / min w <= 64
//      (sum |x| <= 32 rms), so each value is within sqrt(64) s0 / 2 = 4 s0 of the search's grid.
//      Storing the scales moves each level by at most N |d' - d| + |m' - m|, where a 6-bit
//      multiple of the f16 super-scale D = f16(S / 63) errs by S / 126 (rounding to a multiple)
//      plus 63 |D - S / 63| <= 2^-11 S + 63 2^-25 (f16: 2^-11 relative, 2^-25 absolute near
//      subnormals), S <= 63 (D + 2^-25) / (1 - 2^-11); the same for the mins with Dmin. Re-picking
//      the nearest level cannot do worse. q6_K (nmax 32, weights x^2): the search starts from
//      scale amax / 32 (errors <= amax / 32, clamping included), so the weighted sum is
//      <= 16 amax^2 (amax / 32)^2 and a value x is within amax^2 / (8 |x|) of the search's grid;
//      the int8 multiple of D = f16(max scale / 128) errs by D / 2 + 128 (2^-11 D + 2^-25) per
//      level step, times |l| <= 32; and level 0 (value 0) is always on the grid: error <= |x|.
TEST(Quants, KQuantsRoundTripWithinTheFormatsBound) {
  const std::vector<float> x = k_rows();
  const int64_t n = int64_t(x.size());
  const double f16r = 0x1p-11, f16a = 0x1p-25;
  for (DType dt : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    ASSERT_TRUE(q::can_quantize(dt));
    auto b = quantize(dt, x);
    auto y = dequantize(dt, b.data(), n);
    for (int64_t blk = 0; blk < n / 256; ++blk) {
      const KGrid g = k_grid(dt, b.data() + blk * int64_t(dtype_size(dt)));
      const double S = (dt == DType::Q6_K ? 128.0 : 63.0) * (std::fabs(g.D) + f16a) / (1 - f16r);
      const double M = 63.0 * (g.Dmin + f16a) / (1 - f16r);
      for (int s = 0; s < 256 / g.sub; ++s) {
        const float* xs = x.data() + blk * 256 + s * g.sub;
        const float* ys = y.data() + blk * 256 + s * g.sub;
        double lo = xs[0], hi = xs[0], amax = 0;
        for (int l = 0; l < g.sub; ++l) {
          lo = std::min(lo, double(xs[l])), hi = std::max(hi, double(xs[l]));
          amax = std::max(amax, std::fabs(double(xs[l])));
        }
        for (int l = 0; l < g.sub; ++l) {
          const double xv = xs[l], err = std::fabs(double(ys[l]) - xv);
          const std::string where = fmt::format("{} block {} sub-block {} value {} (x = {})",
                                                dtype_name(dt), blk, s, l, xv);
          // (a) the nearest level of the stored grid (when d = 0 the levels are the search's).
          if (g.d[s] != 0.0f) {
            double best = INFINITY;
            for (int lv = g.lo; lv <= g.hi; ++lv)
              best = std::min(best, std::fabs(double(g.d[s]) * lv - g.m[s] - xv));
            const double ulps = 4 * 0x1p-24 * (std::fabs(xv) + std::fabs(g.d[s]) * 32 + g.m[s]);
            ASSERT_LE(err, best + ulps) << "(a) " << where;
          }
          // (b) the grid fits the data.
          double bound;
          if (dt == DType::Q6_K) {
            const double dstep = std::fabs(g.D) / 2 + 128 * (f16r * std::fabs(g.D) + f16a);
            bound = std::fabs(xv);
            if (xv != 0) bound = std::min(bound, amax * amax / (8 * std::fabs(xv)) + 32 * dstep);
          } else {
            const int N = g.hi;
            const double s0 = (hi - std::min(lo, 0.0)) / N;
            bound = 4 * s0 + N * (S / 126 + f16r * S + 63 * f16a) + (M / 126 + f16r * M + 63 * f16a);
          }
          bound = bound * (1 + 1e-5) + 1e-6 * amax + 1e-45;
          ASSERT_LE(err, bound) << "(b) " << where;
        }
      }
    }
    // Special rows exactly: all zero -> 0, and the constant rows are on the grid of their own
    // range (q4_K / q5_K: min = min(x, 0), one level; q6_K: one level l = -32 of d = -x / 32).
    for (int64_t i = 10 * 256; i < 11 * 256; ++i) ASSERT_EQ(y[size_t(i)], 0.0f) << dtype_name(dt);
    const float c = 0.5f;
    for (int64_t i = 8 * 256; i < 9 * 256; ++i)
      ASSERT_NEAR(y[size_t(i)], c, c * (32 * f16r + 1e-6)) << dtype_name(dt);
  }
}

// Super-blocks whose sub-blocks already lie on a full grid (every level of the format, one scale
// per type that the stored form holds exactly: q4_K / q5_K d = 63 * 2^-10 = 63 D with D = 2^-10 an
// f16 and 6-bit scale 63, so whatever ulps the search leaves on its scales round away; q6_K
// d = 1/8 = -128 D): quantizing the dequantized values reproduces the same bytes.
TEST(Quants, KQuantsReproduceStableBlocks) {
  for (DType dt : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    std::vector<float> x(512);
    const int N = dt == DType::Q4_K ? 15 : dt == DType::Q5_K ? 31 : 32;
    for (size_t i = 0; i < x.size(); ++i) {
      const int l = int(i % (dt == DType::Q6_K ? 16 : 32)), blk = int(i / 256);
      if (dt == DType::Q6_K) {  // levels -32, -28, ..., 28 in every 16 (so -32 d is the extreme)
        x[i] = 0.125f * float(((l + blk) * 4) % 64 - 32);
      } else {  // 7 l mod (N + 1) covers 0..N in every 32
        x[i] = 63.0f / 1024.0f * float((l * 7 + blk) % (N + 1));
      }
    }
    auto b1 = quantize(dt, x);
    auto y1 = dequantize(dt, b1.data(), 512);
    auto b2 = quantize(dt, y1);
    EXPECT_EQ(b1, b2) << dtype_name(dt);
    auto y2 = dequantize(dt, b2.data(), 512);
    EXPECT_EQ(y1, y2) << dtype_name(dt);
  }
}

// The activation quantizers round half to even (as ggml's x86 code and nearest_int): with the
// block's largest |x| = 127 the scale is exactly 1 (q8_0 / q8_1) or -1 (q8_K), so x = k + 0.5 is
// a tie, and every quant must be std::nearbyint of x (or of -x).
TEST(Quants, ActivationQuantizationRoundsHalfToEven) {
  std::vector<float> x(256);
  for (size_t j = 0; j < x.size(); ++j) x[j] = float(int(j % 254) - 127) + 0.5f;  // -126.5 .. 126.5
  for (size_t j = 0; j < x.size(); j += 32) x[j] = 127.0f;  // each 32-block's max (and q8_K's)
  for (auto f : {q::ActFormat::Q8_0, q::ActFormat::Q8_1, q::ActFormat::Q8_K}) {
    std::vector<uint8_t> out(q::act_bytes(f, 256));
    q::quantize_act(f, x.data(), out.data(), 256);
    for (size_t j = 0; j < x.size(); ++j) {
      int8_t got;
      if (f == q::ActFormat::Q8_K) {
        got = reinterpret_cast<const q::BlockQ8_K*>(out.data())->qs[j];
        ASSERT_EQ(got, int8_t(std::nearbyint(-x[j]))) << "q8_K " << j;
      } else {
        const size_t bs = f == q::ActFormat::Q8_0 ? sizeof(q::BlockQ8_0) : sizeof(q::BlockQ8_1);
        got = int8_t(out[(j / 32) * bs + bs - 32 + j % 32]);
        ASSERT_EQ(got, int8_t(std::nearbyint(x[j]))) << int(f) << " " << j;
      }
    }
  }
}

// The integer dot products of every kernel table against the reference and against the f64
// product of the dequantized rows: block sums are exact, so only the f32 sum over blocks errs.
TEST(Quants, EveryKernelTableMatchesTheReferenceDotProducts) {
  const int64_t K = 1024, rows = 7;
  std::vector<float> xv = floats(rnd(size_t(K), 12, -2, 2));
  for (DType dt : kQuantizedDTypes) {
    auto w = random_blocks(dt, rows * K, 13);
    const int64_t rb = int64_t(dtype_nbytes(dt, K));
    const auto f = q::act_format(dt);
    std::vector<uint8_t> act(q::act_bytes(f, K));
    q::quantize_act(f, xv.data(), act.data(), K);
    // The activation's own values, recovered from its blocks.
    std::vector<double> xa(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      if (f == q::ActFormat::Q8_K) {
        const auto& b = reinterpret_cast<const q::BlockQ8_K*>(act.data())[k / 256];
        xa[size_t(k)] = double(b.d) * b.qs[k % 256];
      } else {
        const size_t bs = f == q::ActFormat::Q8_0 ? sizeof(q::BlockQ8_0) : sizeof(q::BlockQ8_1);
        const uint8_t* b = act.data() + size_t(k / 32) * bs;
        uint16_t d;
        std::memcpy(&d, b, 2);
        xa[size_t(k)] = double(f16_bits_to_f32(d)) * int8_t(b[bs - 32 + size_t(k % 32)]);
      }
      // The activation quantization itself is within half a step of x.
      ASSERT_LE(std::fabs(xa[size_t(k)] - xv[size_t(k)]), 2.0 / 127 * 0.5 * 1.001 + 1e-3)
          << dtype_name(dt);
    }
    for (const auto* kt : lazarus::cpu::available_kernels()) {
      std::vector<float> y(static_cast<size_t>(rows));
      kt->matvec_rows_q(dt, w.data(), rb, act.data(), y.data(), rows, K);
      for (int64_t r = 0; r < rows; ++r) {
        auto wr = dequantize(dt, w.data() + r * rb, K);
        auto off = offsets(dt, w.data() + r * rb, K);
        double exact = 0, mag = 0, offmag = 0;
        for (int64_t k = 0; k < K; ++k) {
          exact += double(wr[size_t(k)]) * xa[size_t(k)];
          mag += (std::fabs(double(wr[size_t(k)])) + off[size_t(k)]) * std::fabs(xa[size_t(k)]);
          offmag += off[size_t(k)] * std::fabs(xa[size_t(k)]);
        }
        // Per block a few f32 roundings, then a sum over blocks; q4_1's m s uses s = d sum(q)
        // rounded to f16 (2^-11 relative).
        double bound = gamma_n(double(K / 32 + 8)) * mag;
        if (dt == DType::Q4_1) bound += 0x1p-11 * 1.001 * offmag;
        const float ref = q::vec_dot_ref(dt, w.data() + r * rb, act.data(), K);
        EXPECT_NEAR(y[size_t(r)], exact, bound) << kt->isa << " " << dtype_name(dt) << " row " << r;
        EXPECT_NEAR(ref, exact, bound) << "reference " << dtype_name(dt) << " row " << r;
      }
    }
  }
}

// The prefill GEMM of every table against the same table's decode kernel, output by output: each
// output runs the decode kernel's arithmetic in the same order (integer block sums, then the same
// f32 operations), so they agree bit for bit; the decode kernel is checked against the reference
// above. M and N leave tails after every tile size the tables use (MR in {2, 4}, R in {2, 4}),
// K spans several blocks, and C has a row stride wider than N.
TEST(Quants, EveryKernelTablesGemmEqualsItsRowKernel) {
  const int64_t N = 11, ldc = N + 3;
  for (DType dt : kQuantizedDTypes) {
    const int64_t K = dt == DType::Q4_K || dt == DType::Q5_K || dt == DType::Q6_K ? 768 : 224;
    auto w = random_blocks(dt, N * K, 41);
    const int64_t rb = int64_t(dtype_nbytes(dt, K));
    const auto f = q::act_format(dt);
    const int64_t ab = int64_t(q::act_bytes(f, K));
    for (int64_t M : {1, 2, 3, 5, 9}) {
      std::vector<float> xv = floats(rnd(M * K, uint64_t(42 + M), -3, 3));
      std::vector<uint8_t> act(static_cast<size_t>(M * ab));
      for (int64_t m = 0; m < M; ++m) {
        q::quantize_act(f, xv.data() + m * K, act.data() + m * ab, K);
      }
      for (const auto* kt : lazarus::cpu::available_kernels()) {
        std::vector<float> c(static_cast<size_t>(M * ldc), -7.0f);
        kt->gemm_q(dt, w.data(), rb, act.data(), ab, c.data(), ldc, M, N, K);
        for (int64_t m = 0; m < M; ++m) {
          std::vector<float> y(static_cast<size_t>(N));
          kt->matvec_rows_q(dt, w.data(), rb, act.data() + m * ab, y.data(), N, K);
          for (int64_t n = 0; n < N; ++n) {
            ASSERT_EQ(c[size_t(m * ldc + n)], y[size_t(n)])
                << kt->isa << " " << dtype_name(dt) << " M=" << M << " m=" << m << " n=" << n;
          }
          for (int64_t n = N; n < ldc; ++n) {  // the gap between rows is left alone
            ASSERT_EQ(c[size_t(m * ldc + n)], -7.0f) << kt->isa << " " << dtype_name(dt);
          }
        }
        if (std::string(kt->isa) == "generic") {  // the generic table is the reference loop
          for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < N; ++n) {
              ASSERT_EQ(c[size_t(m * ldc + n)],
                        q::vec_dot_ref(dt, w.data() + n * rb, act.data() + m * ab, K))
                  << dtype_name(dt);
            }
          }
        }
      }
    }
  }
}

// linear at prefill lengths (the GEMM path, panels split over the threads) gives every row exactly
// what a one-row call (the decode path) gives it, for every type.
TEST(Quants, LinearPrefillEqualsRowByRow) {
  const int64_t M = 37, N = 203, K = 512;
  for (DType dt : kQuantizedDTypes) {
    auto wb = random_blocks(dt, N * K, 51);
    Tensor w = empty({N, K}, dt);
    std::memcpy(w.raw_data(), wb.data(), wb.size());
    Tensor x = rand_t({M, K}, 52);
    Vec y = values(linear(x, w));
    for (int64_t m = 0; m < M; ++m) {
      Vec ym = values(linear(x.narrow(0, m, 1).contiguous(), w));
      for (int64_t n = 0; n < N; ++n) {
        ASSERT_EQ(y[size_t(m * N + n)], ym[size_t(n)]) << dtype_name(dt) << " m=" << m << " n=" << n;
      }
    }
  }
}

// linear with a quantized weight quantizes the activations as llama.cpp does (at any length), then
// takes integer dot products per block: against the f32 product with the dequantized weight.
TEST(Quants, LinearAndEmbeddingUseTheQuantizedWeight) {
  const int64_t N = 19, K = 256;
  for (DType dt : kQuantizedDTypes) {
    auto wb = random_blocks(dt, N * K, 21);
    Tensor w = empty({N, K}, dt);
    std::memcpy(w.raw_data(), wb.data(), wb.size());
    Tensor wf = w.to(DType::F32);
    ASSERT_EQ(wf.dtype(), DType::F32);
    for (int64_t M : {1, 3, 9}) {
      Tensor x = rand_t({M, K}, 22);
      Tensor y = linear(x, w);
      ASSERT_EQ(y.shape(), (Shape{M, N}));
      Vec want = values(linear(x, wf));
      auto off = offsets(dt, wb.data(), N * K);
      Tensor wmag = abs(wf.to(DType::F64)) + from_vector(off, {N, K}).to(DType::F64);
      Vec mag = values(matmul(abs(x.to(DType::F64)), wmag.t()));
      Vec bound(want.size());
      // Activation quantization moves each x by at most half a step of its block's scale
      // (amax / 127 <= 2 / 127 here), f16 scale rounding included; q4_1 adds its f16 block sums.
      Vec wabs = values(sum(abs(wf), {1})), oabs = values(sum(abs(from_vector(off, {N, K})), {1}));
      for (size_t i = 0; i < want.size(); ++i) {
        bound[i] = gamma_n(double(K + 8)) * mag[i] * 2;
        bound[i] += wabs[i % size_t(N)] * (2.0 / 127) * (0.5 + 128 * 0x1p-11);
        if (dt == DType::Q4_1) bound[i] += 0x1p-11 * 1.001 * oabs[i % size_t(N)] * 2;
      }
      EXPECT_TRUE(within(values(y), want, bound)) << dtype_name(dt) << " M=" << M;
    }
    // Batched input and a bf16 activation keep their shapes and dtype.
    Tensor xb = rand_t({2, 3, K}, 23, DType::BF16);
    Tensor yb = linear(xb, w);
    EXPECT_EQ(yb.shape(), (Shape{2, 3, N}));
    EXPECT_EQ(yb.dtype(), DType::BF16);
    // Embedding rows are the dequantized rows, exactly.
    Tensor ids = from_vector<int64_t>({4, 0, 18, 4}, {2, 2}, DType::I64);
    Tensor e = embedding(w, ids);
    EXPECT_EQ(e.shape(), (Shape{2, 2, K}));
    EXPECT_TRUE(close(e, values(embedding(wf, ids)), 0, 0)) << dtype_name(dt);
  }
}

TEST(Quants, CastsShapesAndErrors) {
  Tensor x = rand_t({3, 64}, 31);
  Tensor q8 = x.to(DType::Q8_0);
  EXPECT_EQ(q8.nbytes(), size_t(3 * 2 * 34));
  auto ref = dequantize(DType::Q8_0, quantize(DType::Q8_0, floats(values(x))).data(), 192);
  EXPECT_TRUE(close(q8.to(DType::F32), Vec(ref.begin(), ref.end()), 0, 0));
  // A row of a quantized matrix is a view on whole blocks.
  EXPECT_TRUE(close(q8.select(0, 2).to(DType::F32), Vec(ref.begin() + 128, ref.end()), 0, 0));
  EXPECT_THROW(empty({3, 33}, DType::Q8_0), ShapeError);
  EXPECT_THROW(empty({3, 32}, DType::Q4_K), ShapeError);
  EXPECT_THROW(rand_t({2, 255}, 32).to(DType::Q6_K), ShapeError);
  EXPECT_EQ(rand_t({2, 256}, 32).to(DType::Q6_K).nbytes(), size_t(2 * 210));
  EXPECT_THROW(q8.t().contiguous(), Error);
  EXPECT_THROW(q8 + q8, DTypeError);
  EXPECT_THROW(linear(rand_t({2, 64}, 33, DType::F64), q8), DTypeError);
  EXPECT_EQ(dtype_from_string("Q4_K"), DType::Q4_K);
  EXPECT_EQ(dtype_from_string("q8_0"), DType::Q8_0);
  EXPECT_EQ(dtype_name(DType::Q5_K), "q5_K");
}
