// GGUF: ggml type layouts, the validating reader and the writer. See gguf.h.
#include "lazarus/formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "lazarus/core/atomic_file.h"
#include "lazarus/core/error.h"

namespace lazarus::formats {

// Values, dims and tensor data are read and written in the host's order, and GGUF is little-endian.
static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

namespace {

// ggml.h's type ids 0..39 with their block layouts (ggml-common.h's block structs, QK_K = 256);
// block_bytes 0 marks ids ggml removed.
constexpr GgmlTypeTraits kGgmlTypes[] = {
    {"f32", 1, 4},        {"f16", 1, 2},        {"q4_0", 32, 18},     {"q4_1", 32, 20},
    {"q4_2", 0, 0},       {"q4_3", 0, 0},       {"q5_0", 32, 22},     {"q5_1", 32, 24},
    {"q8_0", 32, 34},     {"q8_1", 32, 36},     {"q2_K", 256, 84},    {"q3_K", 256, 110},
    {"q4_K", 256, 144},   {"q5_K", 256, 176},   {"q6_K", 256, 210},   {"q8_K", 256, 292},
    {"iq2_xxs", 256, 66}, {"iq2_xs", 256, 74},  {"iq3_xxs", 256, 98}, {"iq1_s", 256, 50},
    {"iq4_nl", 32, 18},   {"iq3_s", 256, 110},  {"iq2_s", 256, 82},   {"iq4_xs", 256, 136},
    {"i8", 1, 1},         {"i16", 1, 2},        {"i32", 1, 4},        {"i64", 1, 8},
    {"f64", 1, 8},        {"iq1_m", 256, 56},   {"bf16", 1, 2},       {"q4_0_4_4", 0, 0},
    {"q4_0_4_8", 0, 0},   {"q4_0_8_8", 0, 0},   {"tq1_0", 256, 54},   {"tq2_0", 256, 66},
    {"iq4_nl_4_4", 0, 0}, {"iq4_nl_4_8", 0, 0}, {"iq4_nl_8_8", 0, 0}, {"mxfp4", 32, 17},
};
constexpr uint32_t kGgmlTypeCount = std::size(kGgmlTypes);
static_assert(kGgmlTypeCount == 40);

// The types Lazarus has a dtype for, plain and block-quantized (same block layout).
constexpr std::pair<GgmlType, DType> kTypeDTypes[] = {
    {GgmlType::F32, DType::F32},   {GgmlType::F16, DType::F16},   {GgmlType::BF16, DType::BF16},
    {GgmlType::I32, DType::I32},   {GgmlType::I64, DType::I64},   {GgmlType::F64, DType::F64},
    {GgmlType::Q8_0, DType::Q8_0}, {GgmlType::Q4_0, DType::Q4_0}, {GgmlType::Q4_1, DType::Q4_1},
    {GgmlType::Q4_K, DType::Q4_K}, {GgmlType::Q5_K, DType::Q5_K}, {GgmlType::Q6_K, DType::Q6_K},
};

// "q4_K (12)", "q4_2 (4), which ggml removed", "77, not a ggml type id (0..39)".
std::string describe_type_id(uint32_t id) {
  if (id >= kGgmlTypeCount)
    return fmt::format("{}, not a ggml type id (0..{})", id, kGgmlTypeCount - 1);
  const GgmlTypeTraits& t = kGgmlTypes[id];
  return fmt::format("{} ({}){}", t.name, id, t.block_bytes ? "" : ", which ggml removed");
}

// Bytes shown in messages: printable ASCII as is, the rest as \xNN, long strings cut.
std::string escaped(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f)
      out.push_back(char(c));
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (s.size() > 80) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

std::string dims_str(std::span<const int64_t> ne) {
  return fmt::format("[{}]", fmt::join(ne, ", "));
}

// The rules reader and writer share; `where` starts with the file (or "save_gguf").

void check_key(std::string_view key, std::string_view where) {
  if (key.empty()) throw LoadError(fmt::format("{} is empty", where));
  if (key.size() > kGgufMaxKey) {
    throw LoadError(fmt::format("{} '{}' is {} bytes, more than the {} a key may have", where,
                                escaped(key), key.size(), kGgufMaxKey));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c >= 0x7f) {
      throw LoadError(fmt::format("{} '{}' has byte 0x{:02x} at {}: keys are printable ASCII",
                                  where, escaped(key), c, i));
    }
  }
}

void check_tensor_name(std::string_view name, std::string_view where) {
  if (name.empty() || name.size() > kGgufMaxTensorName) {
    throw LoadError(fmt::format("{} '{}' is {} bytes; tensor names have 1 to {} (ggml's limit)",
                                where, escaped(name), name.size(), kGgufMaxTensorName));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      throw LoadError(
          fmt::format("{} '{}' has control byte 0x{:02x} at {}", where, escaped(name), c, i));
    }
  }
}

void check_n_dims(uint64_t n_dims, std::string_view where) {
  if (n_dims < 1 || n_dims > kGgufMaxDims)
    throw LoadError(fmt::format("{}: n_dims {} is not in 1..{}", where, n_dims, kGgufMaxDims));
}

void check_alignment(uint64_t alignment, std::string_view where) {
  if (!std::has_single_bit(alignment))
    throw LoadError(fmt::format("{} {} is not a power of two", where, alignment));
}

uint64_t align_up(uint64_t x, uint64_t alignment) { return (x + alignment - 1) & ~(alignment - 1); }

// Arrays of arrays nest at most kGgufMaxArrayDepth deep.
void check_depth(int depth, std::string_view where) {
  if (depth > kGgufMaxArrayDepth) {
    throw LoadError(fmt::format("{}: arrays nested more than {} deep", where, kGgufMaxArrayDepth));
  }
}

}  // namespace

// ---- ggml types ----

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  if (id >= kGgmlTypeCount || kGgmlTypes[id].block_bytes == 0) return nullptr;
  return &kGgmlTypes[id];
}

const GgmlTypeTraits& ggml_type_traits(GgmlType t) { return kGgmlTypes[uint32_t(t)]; }

GgmlType ggml_type_from_name(std::string_view name) {
  std::vector<const char*> valid;
  for (uint32_t id = 0; id < kGgmlTypeCount; ++id) {
    const GgmlTypeTraits& t = kGgmlTypes[id];
    if (t.block_bytes == 0) continue;
    const std::string_view n = t.name;
    if (std::equal(
            n.begin(), n.end(), name.begin(), name.end(),
            [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); }))
      return GgmlType(id);
    valid.push_back(t.name);
  }
  throw DTypeError(fmt::format("[gguf] unknown ggml type '{}'; the types are {}", escaped(name),
                               fmt::join(valid, ", ")));
}

std::optional<DType> ggml_type_dtype(GgmlType t) {
  for (auto [g, d] : kTypeDTypes)
    if (g == t) return d;
  return std::nullopt;
}

uint64_t ggml_nbytes(GgmlType t, std::span<const int64_t> ne, std::string_view where) {
  const GgmlTypeTraits& tt = ggml_type_traits(t);
  int64_t numel = 1;
  bool overflow = false;
  for (size_t j = 0; j < ne.size(); ++j) {
    if (ne[j] < 0) throw LoadError(fmt::format("{}: ne[{}] = {} is negative", where, j, ne[j]));
    overflow = overflow || __builtin_mul_overflow(numel, ne[j], &numel);
  }
  if (overflow) {
    throw LoadError(
        fmt::format("{}: ne {} has more elements than 64-bit integers count", where, dims_str(ne)));
  }
  if (!ne.empty() && ne[0] % tt.block_elems != 0) {
    throw LoadError(fmt::format("{}: ne[0] = {} is not a multiple of {}'s block of {} elements",
                                where, ne[0], tt.name, tt.block_elems));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(uint64_t(numel / tt.block_elems), uint64_t(tt.block_bytes), &nbytes)) {
    throw LoadError(
        fmt::format("{}: ne {} x {} overflows a 64-bit byte count", where, dims_str(ne), tt.name));
  }
  return nbytes;
}

// ---- reading ----

// Fills a GgufFile from its bytes, checking each size against the bytes that remain before using
// it. Fields are named as in the spec; every message starts with the file.
class GgufParser {
 public:
  explicit GgufParser(GgufFile& f) : f_(f), p_(f.file_.data), size_(f.file_.size) {}

  void parse() {
    if (size_ < 4) fail(fmt::format("file is {} bytes, too short for the GGUF magic", size_));
    if (std::memcmp(p_, "GGUF", 4) != 0) {
      fail(fmt::format("magic '{}' is not 'GGUF': not a GGUF file",
                       escaped({reinterpret_cast<const char*>(p_), 4})));
    }
    pos_ = 4;
    read_version();
    const auto n_tensors = read<uint64_t>("tensor_count");
    const auto n_kv = read<uint64_t>("metadata_kv_count");
    check_count(n_tensors, kMinTensorInfoBytes, "tensor_count");
    check_count(n_kv, kMinKeyValueBytes, "metadata_kv_count");
    for (uint64_t i = 0; i < n_kv; ++i) read_key_value(i);
    read_alignment();
    check_count(n_tensors, kMinTensorInfoBytes, "tensor_count");
    for (uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(i);
    check_data();
  }

 private:
  // The fewest bytes a tensor info (1-byte name, 1 dim) and a key-value pair (1-byte key, u8
  // value) take: a count above remaining / this cannot be real.
  static constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
  static constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;

  // A field's name for messages ("key 'k'[3] length"), formatted only when one is thrown: a
  // vocabulary has hundreds of thousands of elements.
  struct Field {
    Field(const char* n) : name(n) {}  // implicit: most fields are plain names
    Field(const std::string& n) : name(n) {}
    Field(std::string_view n, uint64_t i) : name(n), index(i) {}
    std::string_view name;
    std::optional<uint64_t> index;
    std::string_view suffix;
    std::string str() const {
      return fmt::format("{}{}{}", name, index ? fmt::format("[{}]", *index) : "", suffix);
    }
  };

  [[noreturn]] void fail(std::string_view msg) const {
    throw LoadError(fmt::format("{}: {}", f_.path_, msg));
  }
  std::string where(const Field& field) const {
    return fmt::format("{}: {}", f_.path_, field.str());
  }
  uint64_t remaining() const { return size_ - pos_; }

  const unsigned char* take(uint64_t n, const Field& field) {
    if (n > remaining()) {
      fail(fmt::format("{} at byte {} needs {} bytes, but the file ends {} bytes later",
                       field.str(), pos_, n, remaining()));
    }
    const unsigned char* p = p_ + pos_;
    pos_ += n;
    return p;
  }

  template <class T>
  T read(const Field& field) {
    T v;
    std::memcpy(&v, take(sizeof(T), field), sizeof(T));
    return v;
  }

  std::string read_string(const Field& field) {
    Field length = field;
    length.suffix = " length";
    const auto n = read<uint64_t>(length);
    const unsigned char* p = take(n, field);
    return std::string(reinterpret_cast<const char*>(p), size_t(n));
  }

  // `count` items of at least `min_bytes` each must fit in what remains.
  void check_count(uint64_t count, uint64_t min_bytes, const std::string& field) const {
    if (count > remaining() / min_bytes) {
      fail(
          fmt::format("{} {} cannot be right: the {} bytes left in the file hold at most {} of "
                      "{} bytes or more",
                      field, count, remaining(), remaining() / min_bytes, min_bytes));
    }
  }

  void read_version() {
    const auto v = read<uint32_t>("version");
    f_.version_ = v;
    if (v == 2 || v == 3) return;
    if (v == 1) {
      fail(
          "GGUF version 1 is not supported (its counts and lengths are 32-bit; convert the "
          "model again with a current llama.cpp)");
    }
    if (v != 0 && (v & 0xffff) == 0) {
      fail(
          fmt::format("version {:#010x} looks byte-swapped: a big-endian GGUF file, which "
                      "Lazarus does not read",
                      v));
    }
    fail(fmt::format("GGUF version {} is not supported (Lazarus reads versions 2 and 3)", v));
  }

  GgufValueType read_value_type(const std::string& field) {
    const auto t = read<uint32_t>(field);
    if (t >= kGgufValueTypeCount)
      fail(fmt::format("{} {} is unknown (GGUF value types are 0..{})", field, t,
                       kGgufValueTypeCount - 1));
    return GgufValueType(t);
  }

  void read_key_value(uint64_t i) {
    const std::string key_field = fmt::format("metadata[{}] key", i);
    std::string key = read_string(key_field);
    check_key(key, where(key_field));
    if (auto it = f_.key_index_.find(key); it != f_.key_index_.end()) {
      fail(fmt::format("metadata key '{}' appears twice (entries {} and {})", key, it->second, i));
    }
    const std::string field = fmt::format("key '{}'", key);
    GgufValue v = read_value(read_value_type(field + ": value type"), field, 0);
    v.context_ = where(field);
    f_.key_index_.emplace(key, f_.metadata_.size());
    f_.metadata_.emplace_back(std::move(key), std::move(v));
  }

  GgufValue read_value(GgufValueType type, const std::string& field, int depth) {
    GgufValue v;
    v.type_ = type;
    if (type == GgufValueType::String) {
      v.strings_.push_back(read_string(field));
    } else if (type == GgufValueType::Array) {
      read_array(v, field, depth + 1);
    } else {
      std::memcpy(&v.bits_, take(gguf_value_size(type), field), gguf_value_size(type));
      if (type == GgufValueType::Bool) check_bool(uint8_t(v.bits_), field);
    }
    return v;
  }

  void check_bool(uint8_t b, const Field& field) const {
    if (b > 1) fail(fmt::format("{}: bool value {} is not 0 or 1", field.str(), b));
  }

  // The element type, count and elements of array `v` at nesting level `depth` (1: a value).
  void read_array(GgufValue& v, const std::string& field, int depth) {
    check_depth(depth, where(field));
    v.elem_ = read_value_type(field + ": array element type");
    v.count_ = read<uint64_t>(field + ": array length");
    const size_t size = gguf_value_size(v.elem_);
    const uint64_t min_bytes = size ? size : v.elem_ == GgufValueType::String ? 8 : 4 + 8;
    check_count(v.count_, min_bytes, field + ": array length");
    if (size) {
      const unsigned char* b = take(v.count_ * size, field);
      v.packed_.assign(b, b + v.count_ * size);
      for (uint64_t i = 0; i < v.count_ && v.elem_ == GgufValueType::Bool; ++i)
        check_bool(b[i], Field(field, i));
      return;
    }
    for (uint64_t i = 0; i < v.count_; ++i) {
      if (v.elem_ == GgufValueType::String) {
        v.strings_.push_back(read_string(Field(field, i)));
      } else {
        GgufValue a;
        a.type_ = GgufValueType::Array;
        read_array(a, Field(field, i).str(), depth + 1);
        v.items_.push_back(std::move(a));
      }
    }
  }

  void read_alignment() {
    const GgufValue* a = f_.find("general.alignment");
    if (!a) return;
    if (a->type() != GgufValueType::U32)
      fail(fmt::format("general.alignment must be a u32, got {}", a->type_str()));
    check_alignment(a->bits_, where("general.alignment"));
    f_.alignment_ = uint32_t(a->bits_);
  }

  void read_tensor_info(uint64_t i) {
    const std::string name_field = fmt::format("tensor[{}] name", i);
    GgufTensorInfo t;
    t.name = read_string(name_field);
    check_tensor_name(t.name, where(name_field));
    if (auto it = f_.tensor_index_.find(t.name); it != f_.tensor_index_.end())
      fail(fmt::format("tensor '{}' appears twice (tensors {} and {})", t.name, it->second, i));
    const std::string field = fmt::format("tensor '{}'", t.name);
    const auto n_dims = read<uint32_t>(field + ": n_dims");
    check_n_dims(n_dims, where(field));
    for (uint32_t j = 0; j < n_dims; ++j) {
      const auto d = read<uint64_t>(fmt::format("{}: ne[{}]", field, j));
      if (d > uint64_t(INT64_MAX))
        fail(fmt::format("{}: ne[{}] = {} does not fit in int64", field, j, d));
      t.ne.push_back(int64_t(d));
    }
    const auto type = read<uint32_t>(field + ": type");
    if (!ggml_type_traits(type)) fail(fmt::format("{}: type {}", field, describe_type_id(type)));
    t.type = GgmlType(type);
    t.nbytes = ggml_nbytes(t.type, t.ne, where(field));
    t.offset = read<uint64_t>(field + ": offset");
    if (t.offset % f_.alignment_ != 0) {
      fail(fmt::format("{}: offset {} is not a multiple of the alignment {}", field, t.offset,
                       f_.alignment_));
    }
    f_.tensor_index_.emplace(t.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(t));
  }

  // Every tensor's bytes inside the data section, no two overlapping.
  void check_data() {
    f_.data_offset_ = align_up(pos_, f_.alignment_);
    if (f_.tensors_.empty()) return;
    if (f_.data_offset_ > size_) {
      fail(
          fmt::format("the data section starts at byte {} (the tensor infos end at {}, aligned "
                      "to {}), past the end of the file ({} bytes)",
                      f_.data_offset_, pos_, f_.alignment_, size_));
    }
    const uint64_t data_size = size_ - f_.data_offset_;
    std::vector<const GgufTensorInfo*> by_offset;
    for (const GgufTensorInfo& t : f_.tensors_) {
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        fail(
            fmt::format("tensor '{}': data at offset {} ({} bytes) runs past the end of the data "
                        "section ({} bytes from byte {})",
                        t.name, t.offset, t.nbytes, data_size, f_.data_offset_));
      }
      if (t.nbytes > 0) by_offset.push_back(&t);
    }
    std::stable_sort(by_offset.begin(), by_offset.end(),
                     [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensorInfo& a = *by_offset[i - 1];
      const GgufTensorInfo& b = *by_offset[i];
      if (b.offset < a.offset + a.nbytes) {
        fail(fmt::format("tensors '{}' [{}, {}) and '{}' [{}, {}) overlap in the data section",
                         a.name, a.offset, a.offset + a.nbytes, b.name, b.offset,
                         b.offset + b.nbytes));
      }
    }
  }

  GgufFile& f_;
  const unsigned char* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  auto f = std::shared_ptr<GgufFile>(new GgufFile());
  f->path_ = path;
  f->file_ = map_file(path, "GGUF file");
  GgufParser(*f).parse();
  return f;
}

std::shared_ptr<GgufFile> GgufFile::from_bytes(const std::string& bytes, const std::string& name) {
  auto f = std::shared_ptr<GgufFile>(new GgufFile());
  f->path_ = name;
  f->file_ = copy_bytes(bytes);
  GgufParser(*f).parse();
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw LoadError(fmt::format("{}: missing key '{}'", path_, key));
  return *v;
}

const GgufTensorInfo& GgufFile::info(const std::string& name) const {
  auto it = tensor_index_.find(name);
  if (it == tensor_index_.end())
    throw LoadError(fmt::format("{}: no tensor named '{}'", path_, name));
  return tensors_[it->second];
}

const uint8_t* GgufFile::data(const GgufTensorInfo& info) const {
  return file_.data + data_offset_ + info.offset;
}

Tensor GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  const std::optional<DType> dtype = ggml_type_dtype(t.type);
  if (!dtype) {
    const GgmlTypeTraits& tt = ggml_type_traits(t.type);
    throw LoadError(
        fmt::format("{}: tensor '{}' is {}, {}: read its bytes with data()", path_, name, tt.name,
                    tt.block_elems > 1 ? "a quantized type Lazarus cannot compute with yet"
                                        : "which has no Lazarus dtype"));
  }
  return file_tensor(file_, data(t), size_t(t.nbytes), t.shape(), *dtype);
}

void GgufFile::release(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  release_pages(file_, data(t), size_t(t.nbytes));
}

// ---- writing ----

struct GgufWriter {
  template <class T>
  static void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  static void put_string(std::string& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out += s;
  }

  // A value's bytes after its type tag; arrays at nesting level `depth` (1: a value).
  static void put_value(std::string& out, const GgufValue& v, const std::string& where, int depth) {
    if (v.type_ == GgufValueType::String) return put_string(out, v.strings_[0]);
    if (v.type_ != GgufValueType::Array) {
      out.append(reinterpret_cast<const char*>(&v.bits_), gguf_value_size(v.type_));
      return;
    }
    check_depth(depth, where);
    put<uint32_t>(out, uint32_t(v.elem_));
    put<uint64_t>(out, v.count_);
    out.append(v.packed_.begin(), v.packed_.end());
    for (const std::string& s : v.strings_) put_string(out, s);
    for (const GgufValue& a : v.items_) put_value(out, a, where, depth + 1);
  }
};

GgufWriterTensor GgufWriterTensor::raw(std::string name, GgmlType type, std::vector<int64_t> ne,
                                       const void* data, uint64_t nbytes) {
  GgufWriterTensor t;
  t.name = std::move(name);
  t.type = type;
  t.ne = std::move(ne);
  t.data = data;
  t.nbytes = nbytes;
  return t;
}

GgufWriterTensor GgufWriterTensor::from_tensor(std::string name, const Tensor& t) {
  if (!t.defined()) throw LoadError(fmt::format("save_gguf: tensor '{}' is undefined", name));
  const auto plain = std::find_if(std::begin(kTypeDTypes), std::end(kTypeDTypes),
                                  [&](auto& p) { return p.second == t.dtype(); });
  if (plain == std::end(kTypeDTypes)) {
    throw LoadError(fmt::format("save_gguf: tensor '{}': dtype {} has no ggml type", name,
                                dtype_name(t.dtype())));
  }
  Tensor c = t.detach().contiguous();
  std::vector<int64_t> ne(c.shape().rbegin(), c.shape().rend());
  if (ne.empty()) ne.push_back(1);
  GgufWriterTensor out =
      raw(std::move(name), plain->first, std::move(ne), c.raw_data(), c.nbytes());
  out.keep_alive = c;
  return out;
}

std::string serialize_gguf(const GgufWriterInput& in) {
  check_alignment(in.alignment, "save_gguf: alignment");
  std::vector<std::pair<std::string, GgufValue>> alignment_kv;
  std::set<std::string_view> keys;
  for (size_t i = 0; i < in.metadata.size(); ++i) {
    const auto& [key, v] = in.metadata[i];
    check_key(key, fmt::format("save_gguf: metadata[{}] key", i));
    if (!keys.insert(key).second)
      throw LoadError(fmt::format("save_gguf: metadata key '{}' appears twice", key));
    if (key == "general.alignment" && !(v == GgufValue::u32(in.alignment))) {
      throw LoadError(
          fmt::format("save_gguf: general.alignment in the metadata must be the u32 "
                      "{}, the input's alignment",
                      in.alignment));
    }
  }
  if (in.alignment != kGgufDefaultAlignment && !keys.count("general.alignment"))
    alignment_kv.emplace_back("general.alignment", GgufValue::u32(in.alignment));

  std::string out = "GGUF";
  GgufWriter::put<uint32_t>(out, 3);
  GgufWriter::put<uint64_t>(out, in.tensors.size());
  GgufWriter::put<uint64_t>(out, in.metadata.size() + alignment_kv.size());
  for (const auto& kvs : {std::cref(in.metadata), std::cref(alignment_kv)}) {
    for (const auto& [key, v] : kvs.get()) {
      GgufWriter::put_string(out, key);
      GgufWriter::put<uint32_t>(out, uint32_t(v.type()));
      GgufWriter::put_value(out, v, fmt::format("save_gguf: key '{}'", key), 1);
    }
  }
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (size_t i = 0; i < in.tensors.size(); ++i) {
    const GgufWriterTensor& t = in.tensors[i];
    check_tensor_name(t.name, fmt::format("save_gguf: tensor[{}] name", i));
    if (!names.insert(t.name).second)
      throw LoadError(fmt::format("save_gguf: tensor '{}' appears twice", t.name));
    const std::string where = fmt::format("save_gguf: tensor '{}'", t.name);
    check_n_dims(t.ne.size(), where);
    const uint64_t nbytes = ggml_nbytes(t.type, t.ne, where);
    if (t.nbytes != nbytes) {
      throw LoadError(fmt::format("{}: {} bytes given, but ne {} x {} takes {}", where, t.nbytes,
                                  dims_str(t.ne), ggml_type_traits(t.type).name, nbytes));
    }
    if (nbytes > 0 && !t.data) throw LoadError(fmt::format("{}: no data given", where));
    GgufWriter::put_string(out, t.name);
    GgufWriter::put<uint32_t>(out, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) GgufWriter::put<uint64_t>(out, uint64_t(d));
    GgufWriter::put<uint32_t>(out, uint32_t(t.type));
    GgufWriter::put<uint64_t>(out, offset);
    offset = align_up(offset + nbytes, in.alignment);
  }
  if (!in.tensors.empty()) out.resize(align_up(out.size(), in.alignment), '\0');
  for (const GgufWriterTensor& t : in.tensors) {
    if (t.nbytes) out.append(static_cast<const char*>(t.data), t.nbytes);
    out.resize(align_up(out.size(), in.alignment), '\0');
  }
  return out;
}

void save_gguf(const std::string& path, const GgufWriterInput& in) {
  write_file_atomic(path, serialize_gguf(in));
}

}  // namespace lazarus::formats
