// GGUF metadata values: typed construction, checked access, comparison. See gguf.h.
#include "lazarus/formats/gguf.h"

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus::formats {

const char* gguf_value_type_name(GgufValueType t) {
  constexpr const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                   "bool", "string", "array", "u64", "i64", "f64"};
  static_assert(std::size(names) == kGgufValueTypeCount);
  return uint32_t(t) < kGgufValueTypeCount ? names[uint32_t(t)] : "?";
}

size_t gguf_value_size(GgufValueType t) {
  constexpr size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return uint32_t(t) < kGgufValueTypeCount ? sizes[uint32_t(t)] : 0;
}

namespace {

bool is_integer(GgufValueType t) {
  return gguf_value_size(t) != 0 && t != GgufValueType::F32 && t != GgufValueType::F64 &&
         t != GgufValueType::Bool;
}
bool is_signed(GgufValueType t) {
  return t == GgufValueType::I8 || t == GgufValueType::I16 || t == GgufValueType::I32 ||
         t == GgufValueType::I64;
}

}  // namespace

template <class T>
GgufValue GgufValue::scalar(GgufValueType type, T v) {
  GgufValue out;
  out.type_ = type;
  std::memcpy(&out.bits_, &v, sizeof(T));
  return out;
}

template <class T>
GgufValue GgufValue::packed_array(GgufValueType elem, std::span<const T> v) {
  GgufValue out;
  out.type_ = GgufValueType::Array;
  out.elem_ = elem;
  out.count_ = v.size();
  out.packed_.resize(v.size_bytes());
  if (!v.empty()) std::memcpy(out.packed_.data(), v.data(), v.size_bytes());
  return out;
}

GgufValue GgufValue::u8(uint8_t v) { return scalar(GgufValueType::U8, v); }
GgufValue GgufValue::i8(int8_t v) { return scalar(GgufValueType::I8, v); }
GgufValue GgufValue::u16(uint16_t v) { return scalar(GgufValueType::U16, v); }
GgufValue GgufValue::i16(int16_t v) { return scalar(GgufValueType::I16, v); }
GgufValue GgufValue::u32(uint32_t v) { return scalar(GgufValueType::U32, v); }
GgufValue GgufValue::i32(int32_t v) { return scalar(GgufValueType::I32, v); }
GgufValue GgufValue::u64(uint64_t v) { return scalar(GgufValueType::U64, v); }
GgufValue GgufValue::i64(int64_t v) { return scalar(GgufValueType::I64, v); }
GgufValue GgufValue::f32(float v) { return scalar(GgufValueType::F32, v); }
GgufValue GgufValue::f64(double v) { return scalar(GgufValueType::F64, v); }
GgufValue GgufValue::boolean(bool v) { return scalar(GgufValueType::Bool, uint8_t(v)); }

GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type_ = GgufValueType::String;
  out.strings_.push_back(std::move(v));
  return out;
}

GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue out;
  out.type_ = GgufValueType::Array;
  out.elem_ = GgufValueType::String;
  out.count_ = v.size();
  out.strings_ = std::move(v);
  return out;
}

GgufValue GgufValue::f32_array(std::span<const float> v) {
  return packed_array(GgufValueType::F32, v);
}
GgufValue GgufValue::i32_array(std::span<const int32_t> v) {
  return packed_array(GgufValueType::I32, v);
}

GgufValue GgufValue::array(GgufValueType elem, const std::vector<GgufValue>& items) {
  if (uint32_t(elem) >= kGgufValueTypeCount)
    throw LoadError(fmt::format("GgufValue::array: unknown value type {}", uint32_t(elem)));
  GgufValue out;
  out.type_ = GgufValueType::Array;
  out.elem_ = elem;
  out.count_ = items.size();
  for (size_t i = 0; i < items.size(); ++i) {
    const GgufValue& it = items[i];
    if (it.type_ != elem) {
      throw LoadError(fmt::format("GgufValue::array: item {} is {}, not {}", i, it.type_str(),
                                  gguf_value_type_name(elem)));
    }
    if (elem == GgufValueType::String) {
      out.strings_.push_back(it.strings_[0]);
    } else if (elem == GgufValueType::Array) {
      out.items_.push_back(it);
    } else {
      const auto* b = reinterpret_cast<const uint8_t*>(&it.bits_);
      out.packed_.insert(out.packed_.end(), b, b + gguf_value_size(elem));
    }
  }
  return out;
}

std::string GgufValue::type_str() const {
  if (type_ != GgufValueType::Array) return gguf_value_type_name(type_);
  return fmt::format("array of {}", gguf_value_type_name(elem_));
}

void GgufValue::type_error(std::string_view wanted) const {
  throw LoadError(fmt::format("{}: expected {}, got {}", context_, wanted, type_str()));
}

template <class T>
T GgufValue::as_int(const char* wanted) const {
  if (!is_integer(type_)) type_error(wanted);
  if (is_signed(type_)) {
    const int shift = 64 - 8 * int(gguf_value_size(type_));
    const int64_t v = int64_t(bits_ << shift) >> shift;  // sign-extended
    if (std::in_range<T>(v)) return T(v);
    throw LoadError(
        fmt::format("{}: {} value {} does not fit in {}", context_, type_str(), v, wanted));
  }
  if (std::in_range<T>(bits_)) return T(bits_);
  throw LoadError(
      fmt::format("{}: {} value {} does not fit in {}", context_, type_str(), bits_, wanted));
}

uint32_t GgufValue::as_u32() const { return as_int<uint32_t>("u32"); }
uint64_t GgufValue::as_u64() const { return as_int<uint64_t>("u64"); }
int32_t GgufValue::as_i32() const { return as_int<int32_t>("i32"); }
int64_t GgufValue::as_i64() const { return as_int<int64_t>("i64"); }

double GgufValue::float_value(const char* wanted) const {
  if (type_ == GgufValueType::F32) return std::bit_cast<float>(uint32_t(bits_));
  if (type_ == GgufValueType::F64) return std::bit_cast<double>(bits_);
  type_error(wanted);
}

float GgufValue::as_f32() const {
  const double v = float_value("f32");
  if (std::isfinite(v) && std::fabs(v) > FLT_MAX)
    throw LoadError(fmt::format("{}: f64 value {} does not fit in f32", context_, v));
  return float(v);
}
double GgufValue::as_f64() const { return float_value("f64"); }

bool GgufValue::as_bool() const {
  if (type_ != GgufValueType::Bool) type_error("bool");
  return bits_ != 0;
}

const std::string& GgufValue::as_string() const {
  if (type_ != GgufValueType::String) type_error("string");
  return strings_[0];
}

GgufValueType GgufValue::array_type() const {
  if (type_ != GgufValueType::Array) type_error("array");
  return elem_;
}

uint64_t GgufValue::array_size() const {
  if (type_ != GgufValueType::Array) type_error("array");
  return count_;
}

GgufValue GgufValue::element(uint64_t i) const {
  if (i >= array_size())
    throw IndexError(fmt::format("{}: element {} of an array of {}", context_, i, count_));
  GgufValue out;
  if (elem_ == GgufValueType::String) {
    out = string(strings_[i]);
  } else if (elem_ == GgufValueType::Array) {
    out = items_[i];
  } else {
    out.type_ = elem_;
    const size_t n = gguf_value_size(elem_);
    std::memcpy(&out.bits_, packed_.data() + i * n, n);
  }
  out.context_ = fmt::format("{}[{}]", context_, i);
  return out;
}

void GgufValue::expect_array_of(GgufValueType elem) const {
  if (type_ != GgufValueType::Array || elem_ != elem)
    type_error(fmt::format("array of {}", gguf_value_type_name(elem)));
}

const std::vector<std::string>& GgufValue::as_string_array() const {
  expect_array_of(GgufValueType::String);
  return strings_;
}

std::vector<float> GgufValue::as_f32_array() const {
  expect_array_of(GgufValueType::F32);
  std::vector<float> out(count_);
  if (count_) std::memcpy(out.data(), packed_.data(), packed_.size());
  return out;
}

std::vector<int32_t> GgufValue::as_i32_array() const {
  expect_array_of(GgufValueType::I32);
  std::vector<int32_t> out(count_);
  if (count_) std::memcpy(out.data(), packed_.data(), packed_.size());
  return out;
}

bool GgufValue::operator==(const GgufValue& o) const {
  return type_ == o.type_ && elem_ == o.elem_ && bits_ == o.bits_ && count_ == o.count_ &&
         packed_ == o.packed_ && strings_ == o.strings_ && items_ == o.items_;
}

}  // namespace lazarus::formats
