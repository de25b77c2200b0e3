// Branch-free float math that compilers vectorize: exp (Cephes polynomial, ~1 ulp), tanh.
// Reference: Cephes Math Library, expf.c / tanhf.c (S. L. Moshier).
#pragma once

#include <bit>
#include <cstdint>

namespace lazarus::cpu {

inline float vexp(float x) {
  // n stays in [-125, 128]; the scale is applied as 2^(n-1) * 2 so n = 128 does not overflow early.
  const float hi = 88.72283f, lo = -86.9f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  // n = round(x / ln 2); r = x - n ln 2 (two-part ln 2 for accuracy)
  float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float r2 = r * r;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r2 + r + 1.0f;
  int32_t e = (static_cast<int32_t>(n) + 126) << 23;
  float res = p * std::bit_cast<float>(e) * 2.0f;
  res = x < lo ? 0.0f : res;
  res = x > hi ? __builtin_inff() : res;
  return x != x ? x : res;
}

inline float vtanh(float x) {
  float ax = x < 0 ? -x : x;
  // small |x|: odd polynomial; large: 1 - 2 / (exp(2|x|) + 1)
  float z = x * x;
  float p = -5.70498872745E-3f;
  p = p * z + 2.06390887954E-2f;
  p = p * z - 5.37397155531E-2f;
  p = p * z + 1.33314422036E-1f;
  p = p * z - 3.33332819422E-1f;
  float small = p * z * x + x;
  float big = 1.0f - 2.0f / (vexp(2.0f * (ax > 9.0f ? 9.0f : ax)) + 1.0f);
  big = ax > 9.0f ? 1.0f : big;
  big = x < 0 ? -big : big;
  float res = ax < 0.625f ? small : big;
  return x != x ? x : res;
}

inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

}  // namespace lazarus::cpu
