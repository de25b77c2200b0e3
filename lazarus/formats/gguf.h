// GGUF read/write (ggml's model container, ggml docs/gguf.md, versions 2 and 3): "GGUF", a
// version, typed metadata key-value pairs, tensor infos (name, dims in ggml order, ggml type,
// offset), then the aligned tensor data. Reading memory-maps the file and checks every count,
// length, dim and offset against the bytes that are there before anything is sized from it; plain
// (unquantized) tensors come out as zero-copy views. This is the container only: quantized blocks
// are handed out as bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lazarus/formats/mapped_file.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::formats {

// ---- ggml tensor types ----

/// ggml's tensor type ids (ggml.h `ggml_type`), those with a block layout GGUF files may hold.
/// Ids ggml removed (4, 5, 31-33, 36-38) and ids past MXFP4 are not types here.
// clang-format off
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};
// clang-format on

/// A type's storage: `block_elems` consecutive elements of a row take `block_bytes` bytes
/// (1 and the element size for plain types; 32 or 256 elements for quantized blocks).
struct GgmlTypeTraits {
  const char* name;  // ggml's spelling: "f32", "q8_0", "q4_K", "bf16"
  int64_t block_elems;
  int64_t block_bytes;
};

/// The layout of type id `id`, or nullptr for ids without one (removed or unknown).
const GgmlTypeTraits* ggml_type_traits(uint32_t id);
/// The layout of `t` (every GgmlType has one).
const GgmlTypeTraits& ggml_type_traits(GgmlType t);
/// "q4_K" -> GgmlType::Q4_K, case-insensitive; throws DTypeError listing the valid names.
GgmlType ggml_type_from_name(std::string_view name);
/// The Lazarus dtype a type reads as (F32, F16, BF16, I32, I64, F64 and the quantized q8_0, q4_0,
/// q4_1, q4_K, q5_K, q6_K); nullopt for the others (other quantized types, I8, I16).
std::optional<DType> ggml_type_dtype(GgmlType t);
/// Bytes of a tensor of type `t` with dims `ne` (ggml order); throws LoadError naming `where` when
/// ne[0] is not a multiple of the block size, a dim is negative or the size overflows.
uint64_t ggml_nbytes(GgmlType t, std::span<const int64_t> ne, std::string_view where);

// ---- metadata values ----

/// GGUF metadata value types (gguf_metadata_value_type).
// clang-format off
enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
// clang-format on
inline constexpr uint32_t kGgufValueTypeCount = 13;
/// "u8", "i8", ..., "string", "array", "f64".
const char* gguf_value_type_name(GgufValueType t);
/// Bytes of a fixed-size type (the numbers and bool); 0 for string and array.
size_t gguf_value_size(GgufValueType t);

/// One metadata value: a scalar, a string or an array (of one element type; arrays nest).
/// Accessors never assert: asking for the wrong type throws LoadError naming the key (the value's
/// context, set by the reader), the type asked for and the type stored. Integer accessors accept
/// any integer type whose value fits the target (files store counts as u32 or u64, ids as i32 or
/// u32); float accessors accept f32 and f64; bool, string and the array accessors want that exact
/// type. Strings are the file's bytes: GGUF says UTF-8, but real vocabularies hold byte tokens
/// that are not, so they are not checked here.
class GgufValue {
 public:
  GgufValue() = default;  // u8 0
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue f32_array(std::span<const float> v);
  static GgufValue i32_array(std::span<const int32_t> v);
  /// An array of `elem` values (any type, arrays included); throws LoadError when an item has
  /// another type.
  static GgufValue array(GgufValueType elem, const std::vector<GgufValue>& items);

  GgufValueType type() const { return type_; }
  /// "u32", "string", "array of f32".
  std::string type_str() const;
  /// What errors name: "<file>: key '<key>'" for values read from a file.
  const std::string& context() const { return context_; }

  uint32_t as_u32() const;
  uint64_t as_u64() const;
  int32_t as_i32() const;
  int64_t as_i64() const;
  float as_f32() const;  // an f64 outside f32's range throws
  double as_f64() const;
  bool as_bool() const;
  const std::string& as_string() const;

  /// Array accessors: the element type, the count, element i (a copy; IndexError when out of
  /// range), and the whole array for the common element types.
  GgufValueType array_type() const;
  uint64_t array_size() const;
  GgufValue element(uint64_t i) const;
  const std::vector<std::string>& as_string_array() const;
  std::vector<float> as_f32_array() const;
  std::vector<int32_t> as_i32_array() const;

  /// Same type and contents (the context is not compared).
  bool operator==(const GgufValue& o) const;

 private:
  friend class GgufParser;
  friend struct GgufWriter;
  template <class T>
  static GgufValue scalar(GgufValueType type, T v);
  template <class T>
  static GgufValue packed_array(GgufValueType elem, std::span<const T> v);
  [[noreturn]] void type_error(std::string_view wanted) const;
  void expect_array_of(GgufValueType elem) const;
  template <class T>
  T as_int(const char* wanted) const;
  double float_value(const char* wanted) const;

  GgufValueType type_ = GgufValueType::U8;
  GgufValueType elem_ = GgufValueType::U8;  // arrays: the element type
  uint64_t bits_ = 0;                       // scalars: the value's little-endian bytes
  uint64_t count_ = 0;                      // arrays: the element count
  std::vector<uint8_t> packed_;             // arrays of fixed-size scalars: their bytes
  std::vector<std::string> strings_;        // a string (one entry) or an array of strings
  std::vector<GgufValue> items_;            // an array of arrays
  std::string context_ = "gguf value";
};

// ---- reading ----

/// Most dims a tensor may have (ggml's GGML_MAX_DIMS).
inline constexpr uint32_t kGgufMaxDims = 4;
/// Longest tensor name (ggml keeps names in char[64] with the terminating NUL).
inline constexpr size_t kGgufMaxTensorName = 63;
/// Longest metadata key (the spec's 2^16 - 1).
inline constexpr size_t kGgufMaxKey = 65535;
/// Deepest nesting of arrays in arrays.
inline constexpr int kGgufMaxArrayDepth = 8;
/// Alignment when the file has no general.alignment.
inline constexpr uint32_t kGgufDefaultAlignment = 32;

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the innermost (contiguous) dim
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // from the start of the data section; a multiple of the alignment
  uint64_t nbytes = 0;
  /// The row-major (PyTorch-order) shape: ne reversed.
  Shape shape() const { return Shape(ne.rbegin(), ne.rend()); }
};

/// An open GGUF file: validated metadata and tensor infos over a read-only mapping.
///
/// Checked before anything is sized from the file (each failure is a LoadError naming the file,
/// the field and the value): magic; version 2 or 3 (1, byte-swapped and newer ones refused by
/// name); every count, string length and array length against the bytes that remain; value types
/// 0..12; bools 0 or 1; keys non-empty printable ASCII, at most kGgufMaxKey bytes, unique; arrays
/// nested at most kGgufMaxArrayDepth deep; general.alignment a u32 power of two; tensor names
/// 1..kGgufMaxTensorName bytes without control characters, unique; n_dims 1..4; dims >= 0 (0 is
/// an empty tensor) with an element count and byte size that fit 64 bits; a known ggml type;
/// ne[0] a multiple of its block size; offsets aligned; every tensor's bytes inside the file; no
/// two tensors' bytes overlapping.
class GgufFile {
 public:
  /// Opens and validates `path` (memory-mapped; see mapped_file.h for the SIGBUS guard).
  static std::shared_ptr<GgufFile> open(const std::string& path);
  /// Validates an in-memory image (tests, fuzzer); the bytes are copied.
  static std::shared_ptr<GgufFile> from_bytes(const std::string& bytes,
                                              const std::string& name = "<memory>");

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  /// Byte offset of the data section in the file.
  uint64_t data_offset() const { return data_offset_; }

  /// Key-value pairs in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  bool has(const std::string& key) const { return find(key) != nullptr; }
  /// The value of `key`, or nullptr.
  const GgufValue* find(const std::string& key) const;
  /// The value of `key`; throws LoadError "<file>: missing key '<key>'".
  const GgufValue& get(const std::string& key) const;

  /// Tensor infos in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }
  /// The info of tensor `name`; throws LoadError naming the file and the tensor.
  const GgufTensorInfo& info(const std::string& name) const;
  /// The tensor's bytes (info.nbytes of them, in its ggml layout), valid while this file lives.
  const uint8_t* data(const GgufTensorInfo& info) const;
  /// Tensor `name` of a type with a Lazarus dtype (ggml_type_dtype) with the row-major shape
  /// (ne reversed): a zero-copy view of the mapping when aligned for its dtype, else a copy.
  /// Throws LoadError for the other types (read their bytes with data()).
  Tensor tensor(const std::string& name) const;
  /// Once the caller holds its own copy of tensor `name` (reordered, widened), drops the mapped
  /// pages that hold only its bytes from the resident set (formats::release_pages); reading it
  /// again maps them from the file again.
  void release(const std::string& name) const;

 private:
  friend class GgufParser;
  GgufFile() = default;
  std::string path_;
  FileBytes file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// ---- writing ----

/// One tensor to write: raw bytes in its type's layout, or a copy of a Tensor.
struct GgufWriterTensor {
  /// `nbytes` bytes at `data` (which the caller keeps alive until written) holding a tensor of
  /// type `type` with ggml-order dims `ne`.
  static GgufWriterTensor raw(std::string name, GgmlType type, std::vector<int64_t> ne,
                              const void* data, uint64_t nbytes);
  /// A tensor of dtype F32, F16, BF16, I32, I64, F64 or a quantized one (q8_0 ... q6_K; contiguous
  /// copy as needed), written with
  /// ne = its shape reversed (a 0-dim tensor as ne = [1], as ggml writes scalars).
  static GgufWriterTensor from_tensor(std::string name, const Tensor& t);

  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;
  const void* data = nullptr;
  uint64_t nbytes = 0;
  Tensor keep_alive;  // holds from_tensor's bytes
};

struct GgufWriterInput {
  std::vector<std::pair<std::string, GgufValue>> metadata;  // written in this order
  std::vector<GgufWriterTensor> tensors;                    // infos and data in this order
  /// A power of two. When not 32 (and the metadata has no general.alignment, which must then
  /// agree), general.alignment is appended to the metadata.
  uint32_t alignment = kGgufDefaultAlignment;
};

/// The bytes of a GGUF v3 file laid out as llama.cpp lays it out (a file llama.cpp wrote, read and
/// written back, gives the same bytes): header, metadata, tensor infos, then each tensor's data at
/// the next multiple of the alignment, zero-padded after each (no padding without tensors).
/// Applies the reader's rules (keys, names, dims, sizes, no duplicates) and throws LoadError
/// "save_gguf: ..." on a breach.
std::string serialize_gguf(const GgufWriterInput& in);
/// Writes serialize_gguf(in) to `path` atomically (a temporary file, then a rename).
void save_gguf(const std::string& path, const GgufWriterInput& in);

}  // namespace lazarus::formats
