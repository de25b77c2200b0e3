// Shared helpers for the engine tests: an independent strided reader (raw storage + strides, so
// references never go through the engine's own copy kernels), seeded host data, layout variants of
// one logical tensor, and a normalised closeness check that names the first mismatch.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/dtype.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"
#include "lazarus/tensor/tensor.h"

namespace etest {

using namespace lazarus;  // NOLINT
using Vec = std::vector<double>;

/// Element `e` (absolute element offset into storage) of a tensor's storage, as double.
inline double load_elem(const Tensor& t, int64_t e) {
  const char* base = static_cast<const char*>(t.storage()->data());
  switch (t.dtype()) {
    case DType::F32: {
      float v;
      std::memcpy(&v, base + e * 4, 4);
      return v;
    }
    case DType::F64: {
      double v;
      std::memcpy(&v, base + e * 8, 8);
      return v;
    }
    case DType::BF16: {
      uint16_t v;
      std::memcpy(&v, base + e * 2, 2);
      return bf16_bits_to_f32(v);
    }
    case DType::F16: {
      uint16_t v;
      std::memcpy(&v, base + e * 2, 2);
      return f16_bits_to_f32(v);
    }
    case DType::I32: {
      int32_t v;
      std::memcpy(&v, base + e * 4, 4);
      return v;
    }
    case DType::I64: {
      int64_t v;
      std::memcpy(&v, base + e * 8, 8);
      return double(v);
    }
    case DType::Bool: {
      uint8_t v;
      std::memcpy(&v, base + e, 1);
      return v ? 1.0 : 0.0;
    }
    default:  // quantized: read through t.to(DType::F32)
      break;
  }
  throw DTypeError(std::string("load_elem: no element access for ") +
                   std::string(dtype_name(t.dtype())));
}

/// Multi-index of flat row-major position i in shape s.
inline std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) {
    idx[d] = s[d] ? i % s[d] : 0;
    i = s[d] ? i / s[d] : 0;
  }
  return idx;
}
inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto v : s) n *= v;
  return n;
}
/// Flat row-major index into a tensor of shape `in` for an output index under broadcasting.
inline int64_t bcast_index(const std::vector<int64_t>& out_idx, const Shape& in) {
  int64_t off = int64_t(out_idx.size()) - int64_t(in.size()), flat = 0;
  for (size_t d = 0; d < in.size(); ++d) flat = flat * in[d] + (in[d] == 1 ? 0 : out_idx[d + off]);
  return flat;
}

/// Logical row-major values of t read straight from storage through shape/strides/offset.
inline Vec values(const Tensor& t) {
  int64_t n = t.numel();
  Vec out(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) {
    auto idx = unravel(i, t.shape());
    int64_t e = t.offset();
    for (size_t d = 0; d < idx.size(); ++d) e += idx[d] * t.strides()[d];
    out[i] = load_elem(t, e);
  }
  return out;
}

/// Seeded host data uniform in [lo, hi).
inline Vec rnd(int64_t n, uint64_t seed, double lo = -2, double hi = 2) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Vec v(n);
  for (auto& x : v) x = u(g);
  return v;
}
inline Tensor make(const Vec& v, Shape s, DType dt = DType::F32) {
  return from_vector<double>(v, s, dt);
}
inline Tensor rand_t(Shape s, uint64_t seed, DType dt = DType::F32, double lo = -2, double hi = 2) {
  return make(rnd(numel_of(s), seed, lo, hi), s, dt);
}
/// Values rounded as `dt` stores them (so references start from what the engine sees).
inline double round_to(double v, DType dt) {
  switch (dt) {
    case DType::F32:
      return float(v);
    case DType::BF16:
      return bf16_bits_to_f32(f32_to_bf16_bits(float(v)));
    case DType::F16:
      return f16_bits_to_f32(f32_to_f16_bits(float(v)));
    default:
      return v;
  }
}

/// The same logical tensor in several memory layouts: contiguous, permuted (reversed dims),
/// every-other-element slice of a wider base, narrowed with an offset, and (when a dim is 1)
/// expanded. Names describe the layout for failure messages.
struct Layout {
  std::string name;
  Tensor t;
};
inline std::vector<Layout> layouts(const Shape& s, uint64_t seed, DType dt = DType::F32,
                                   double lo = -2, double hi = 2) {
  std::vector<Layout> out;
  int64_t n = numel_of(s);
  out.push_back({"contiguous", make(rnd(n, seed, lo, hi), s, dt)});
  if (s.empty()) return out;
  int64_t nd = int64_t(s.size());
  {  // permuted: a contiguous base with reversed dims, viewed back
    Shape rs(s.rbegin(), s.rend());
    std::vector<int64_t> perm;
    for (int64_t d = nd - 1; d >= 0; --d) perm.push_back(d);
    out.push_back({"permuted", make(rnd(n, seed + 1, lo, hi), rs, dt).permute(perm)});
  }
  {  // step-2 slice of the last dim of a base twice as wide
    Shape b = s;
    b.back() *= 2;
    out.push_back(
        {"strided", make(rnd(numel_of(b), seed + 2, lo, hi), b, dt).slice(-1, 0, b.back(), 2)});
  }
  {  // narrowed with an offset in dim 0
    Shape b = s;
    b[0] += 3;
    out.push_back({"narrowed", make(rnd(numel_of(b), seed + 3, lo, hi), b, dt).narrow(0, 2, s[0])});
  }
  for (int64_t d = 0; d < nd; ++d) {  // broadcast: a size-1 dim expanded (stride 0)
    if (s[d] > 1) {
      Shape b = s;
      b[d] = 1;
      out.push_back({"expanded", make(rnd(numel_of(b), seed + 4, lo, hi), b, dt).expand(s)});
      break;
    }
  }
  return out;
}

/// Checks |got - want| <= atol + rtol * |want| elementwise (NaN matches NaN, inf matches inf of
/// the same sign); reports the count and the first few mismatches.
inline ::testing::AssertionResult close(const Vec& got, const Vec& want, double rtol, double atol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " vs expected " << want.size();
  }
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w))
      ok = std::isnan(g);
    else if (std::isinf(w))
      ok = g == w;
    else
      ok = std::isfinite(g) && std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok) {
      if (bad < 5) os << "\n  [" << i << "] got " << g << " expected " << w;
      ++bad;
    }
  }
  if (bad)
    return ::testing::AssertionFailure() << bad << " of " << got.size() << " mismatch:" << os.str();
  return ::testing::AssertionSuccess();
}
inline ::testing::AssertionResult close(const Tensor& got, const Vec& want, double rtol = 1e-5,
                                        double atol = 1e-6) {
  return close(values(got), want, rtol, atol);
}

/// f32's unit roundoff, and Higham's gamma_n = n u / (1 - n u): a sum of n products (or any chain
/// of n roundings), in any order, is off by at most gamma_n times the sum of the magnitudes it
/// went through ("Accuracy and Stability of Numerical Algorithms", section 3.1). docs/testing.md
/// says how the tests use it.
inline constexpr double kU32 = 0x1p-24;
inline double gamma_n(double n, double u = kU32) { return n * u / (1 - n * u); }

/// Checks |got - want| <= bound[i] elementwise (as close(), NaN and inf must match).
inline ::testing::AssertionResult within(const Vec& got, const Vec& want, const Vec& bound) {
  if (got.size() != want.size() || got.size() != bound.size()) {
    return ::testing::AssertionFailure() << "sizes " << got.size() << ", " << want.size()
                                         << " and bound " << bound.size();
  }
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    bool ok = std::isnan(w)   ? std::isnan(g)
              : std::isinf(w) ? g == w
                              : std::isfinite(g) && std::fabs(g - w) <= bound[i];
    if (!ok) {
      if (bad < 5) os << "\n  [" << i << "] got " << g << " expected " << w << " bound " << bound[i];
      ++bad;
    }
  }
  if (bad)
    return ::testing::AssertionFailure() << bad << " of " << got.size() << " mismatch:" << os.str();
  return ::testing::AssertionSuccess();
}

/// The bound on |f32 matmul(a, b) - exact| per output element: gamma_{K+1} (K products summed
/// in any order, then the f32 store) times sum_k |a_ik| |b_kj|; `impls` = 2 bounds the difference
/// of two f32 implementations (summation orders) from each other.
inline Vec matmul_bound(const Tensor& a, const Tensor& b, double impls = 1) {
  const int64_t K = a.shape().back();
  Vec mag = values(matmul(abs(a.to(DType::F64)), abs(b.to(DType::F64))));
  for (double& m : mag) m *= impls * gamma_n(double(K + 1));
  return mag;
}

/// Greedy decoding compared without asking two numerically different paths to break near-ties
/// the same way (tests/reference/tolerances.py check_greedy): if the paths' logits differ by at
/// most d, our argmax's logit under the reference is within 2 d of the reference's maximum. So at
/// each step, from our own tokens so far (teacher-forced), our token's reference logit must be
/// within delta = 2 d of the reference's max; where the reference's top two are further apart
/// than delta that means our token is its argmax, so a clearly worse token still fails.
/// ref_logits(seq) returns the reference's next-token logits after seq.
inline ::testing::AssertionResult greedy_within(
    const std::function<Vec(const std::vector<int64_t>&)>& ref_logits, std::vector<int64_t> seq,
    const std::vector<int64_t>& ours, double delta) {
  for (size_t i = 0; i < ours.size(); ++i) {
    Vec l = ref_logits(seq);
    const int64_t tok = ours[i];
    if (tok < 0 || tok >= int64_t(l.size()))
      return ::testing::AssertionFailure()
             << "greedy token " << i << ": " << tok << " out of range";
    size_t best = 0;
    for (size_t v = 1; v < l.size(); ++v)
      if (l[v] > l[best]) best = v;
    if (!(l[size_t(tok)] >= l[best] - delta)) {
      return ::testing::AssertionFailure()
             << "greedy token " << i << ": ours " << tok << " (reference logit " << l[size_t(tok)]
             << ") but the reference's argmax is " << best << " (" << l[best] << "), beyond "
             << delta;
    }
    seq.push_back(tok);
  }
  return ::testing::AssertionSuccess();
}

/// The rows of an integer (B, T) tensor, as generation::generate takes its prompts.
inline std::vector<std::vector<int64_t>> rows(const Tensor& ids) {
  const int64_t B = ids.size(0), T = ids.size(1);
  std::vector<int64_t> v = ids.to(DType::I64).contiguous().to_vector<int64_t>();
  std::vector<std::vector<int64_t>> out;
  for (int64_t b = 0; b < B; ++b) out.emplace_back(v.begin() + b * T, v.begin() + (b + 1) * T);
  return out;
}

/// Expects `fn` to throw exactly E (or a subclass) whose message contains `needle`.
template <class E>
::testing::AssertionResult throws_with(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
  } catch (const E& e) {
    if (std::string(e.what()).find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message '" << e.what() << "' lacks '" << needle << "'";
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw the wrong type: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace etest
