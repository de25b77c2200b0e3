// dtype tables and promotion.
#include "lazarus/tensor/dtype.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::BF16:
      return 2;
    case DType::F16:
      return 2;
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
    case DType::Bool:
      return 1;
    case DType::Q8_0:
      return 34;  // f16 scale + 32 int8
    case DType::Q4_0:
      return 18;  // f16 scale + 32 nibbles
    case DType::Q4_1:
      return 20;  // f16 scale, f16 min + 32 nibbles
    case DType::Q4_K:
      return 144;  // f16 d, dmin, 12 bytes of 6-bit scales / mins, 256 nibbles
    case DType::Q5_K:
      return 176;  // as q4_K + 32 bytes of high bits
    case DType::Q6_K:
      return 210;  // 128 low nibbles, 64 high 2-bit pairs, 16 int8 scales, f16 d
  }
  throw DTypeError(fmt::format("[dtype] unknown dtype code {}", int(dt)));
}

std::string_view dtype_name(DType dt) {
  switch (dt) {
    case DType::F32:
      return "float32";
    case DType::F64:
      return "float64";
    case DType::BF16:
      return "bfloat16";
    case DType::F16:
      return "float16";
    case DType::I32:
      return "int32";
    case DType::I64:
      return "int64";
    case DType::Bool:
      return "bool";
    case DType::Q8_0:
      return "q8_0";
    case DType::Q4_0:
      return "q4_0";
    case DType::Q4_1:
      return "q4_1";
    case DType::Q4_K:
      return "q4_K";
    case DType::Q5_K:
      return "q5_K";
    case DType::Q6_K:
      return "q6_K";
  }
  return "unknown";
}

DType dtype_from_string(std::string_view s) {
  if (s == "f32" || s == "float32" || s == "float") return DType::F32;
  if (s == "f64" || s == "float64" || s == "double") return DType::F64;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "f16" || s == "float16" || s == "half") return DType::F16;
  if (s == "i32" || s == "int32") return DType::I32;
  if (s == "i64" || s == "int64") return DType::I64;
  if (s == "bool") return DType::Bool;
  for (DType q : kQuantizedDTypes) {
    std::string_view n = dtype_name(q);
    if (s.size() == n.size() &&
        std::equal(s.begin(), s.end(), n.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return q;
  }
  throw DTypeError(
      fmt::format("[dtype] unknown dtype '{}' (expected one of f32, f64, bf16, f16, "
                  "i32, i64, bool, q8_0, q4_0, q4_1, q4_K, q5_K, q6_K)",
                  s));
}

bool is_floating(DType dt) {
  return dt == DType::F32 || dt == DType::F64 || dt == DType::BF16 || dt == DType::F16;
}
bool is_integral(DType dt) { return !is_floating(dt); }

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  auto rank = [](DType d) {
    switch (d) {
      case DType::Bool:
        return 0;
      case DType::I32:
        return 1;
      case DType::I64:
        return 2;
      case DType::BF16:
        return 3;
      case DType::F16:
        return 3;
      case DType::F32:
        return 4;
      case DType::F64:
        return 5;
      default:
        return 0;
    }
  };
  if ((a == DType::BF16 && b == DType::F16) || (a == DType::F16 && b == DType::BF16)) {
    return DType::F32;
  }
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace lazarus
