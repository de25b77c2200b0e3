// GGUF: ggml type layouts, metadata accessors, write -> read round trips (metadata, bytes,
// zero-copy tensors), and a suite of malformed files after the GGUF CVE history (counts and
// lengths past the file, overflowing dims, bad offsets, nested-array bombs, truncation at every
// byte) that must each give a LoadError naming the file and the field, never a crash.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "lazarus/core/error.h"
#include "lazarus/formats/gguf.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

using namespace lazarus;
using namespace lazarus::formats;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kHuge = uint64_t(1) << 62;

// Hand-made GGUF bytes, for files the writer refuses to make.
struct Bytes {
  std::string s;
  template <class T>
  Bytes& put(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(std::string_view v) {
    u64(v.size());
    s += v;
    return *this;
  }
  // A key and its value type.
  Bytes& key(std::string_view k, GgufValueType t) { return str(k).u32(uint32_t(t)); }
  Bytes& tensor(std::string_view name, std::initializer_list<uint64_t> ne, uint32_t type,
                uint64_t offset) {
    str(name).u32(uint32_t(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t alignment) {
    s.resize((s.size() + alignment - 1) / alignment * alignment, '\0');
    return *this;
  }
  Bytes& zeros(size_t n) {
    s.append(n, '\0');
    return *this;
  }
};

Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.s = "GGUF";
  return b.u32(version).u64(n_tensors).u64(n_kv);
}

// One f32 tensor 'w' of `ne0` elements after `kv` key-value pairs written by `add_kv`.
template <class F>
std::string one_tensor_file(uint64_t n_kv, F add_kv, uint64_t ne0 = 4) {
  Bytes b = header(1, n_kv);
  add_kv(b);
  b.tensor("w", {ne0}, 0, 0).pad(32).zeros(ne0 * 4);
  return b.s;
}

// The LoadError message from reading `bytes`; fails the test when it reads fine.
std::string load_error(const std::string& bytes) {
  try {
    GgufFile::from_bytes(bytes, "bad.gguf");
  } catch (const LoadError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a LoadError";
  return "";
}

// Reading `bytes` fails with a message naming the file and containing every needle.
void expect_error(const std::string& bytes, std::initializer_list<std::string_view> needles) {
  const std::string m = load_error(bytes);
  EXPECT_EQ(m.rfind("bad.gguf: ", 0), 0u) << m;
  for (std::string_view n : needles) EXPECT_NE(m.find(n), std::string::npos) << n << " in: " << m;
}

template <class F>
void expect_throw_with(F f, std::initializer_list<std::string_view> needles) {
  try {
    f();
    ADD_FAILURE() << "expected a LoadError";
  } catch (const LoadError& e) {
    const std::string m = e.what();
    for (std::string_view n : needles) EXPECT_NE(m.find(n), std::string::npos) << n << " in: " << m;
  }
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = uint8_t((i * 2654435761u + seed) >> 13);
  return out;
}

// A file with a bit of everything: every value type, nested arrays, plain and quantized tensors.
struct Sample {
  GgufWriterInput in;
  std::vector<uint8_t> q8, q4k;
  Sample() : q8(random_bytes(2 * 2 * 34, 1)), q4k(random_bytes(144, 2)) {
    manual_seed(3);
    auto& m = in.metadata;
    m.emplace_back("general.architecture", GgufValue::string("llama"));
    m.emplace_back("general.name", GgufValue::string("tiny \xe2\x9c\x93"));
    m.emplace_back("llama.context_length", GgufValue::u32(4096));
    m.emplace_back("llama.block_count", GgufValue::u64(2));
    m.emplace_back("x.u8", GgufValue::u8(250));
    m.emplace_back("x.i8", GgufValue::i8(-5));
    m.emplace_back("x.u16", GgufValue::u16(65000));
    m.emplace_back("x.i16", GgufValue::i16(-30000));
    m.emplace_back("x.i32", GgufValue::i32(-7));
    m.emplace_back("x.i64", GgufValue::i64(-(int64_t(1) << 40)));
    m.emplace_back("x.f32", GgufValue::f32(1e-5f));
    m.emplace_back("x.f64", GgufValue::f64(0.1));
    m.emplace_back("x.bool", GgufValue::boolean(true));
    m.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array({"<s>", "</s>", "a", ""}));
    m.emplace_back("tokenizer.ggml.scores",
                   GgufValue::f32_array(std::vector<float>{0, 0, -1.5f, 2}));
    m.emplace_back("tokenizer.ggml.token_type",
                   GgufValue::i32_array(std::vector<int32_t>{3, 3, 1, 1}));
    m.emplace_back("x.empty", GgufValue::string_array({}));
    m.emplace_back("x.bools", GgufValue::array(GgufValueType::Bool, {GgufValue::boolean(false),
                                                                     GgufValue::boolean(true)}));
    m.emplace_back("x.nested",
                   GgufValue::array(GgufValueType::Array,
                                    {GgufValue::array(GgufValueType::U64, {GgufValue::u64(1)}),
                                     GgufValue::string_array({"x", "y"})}));
    in.tensors.push_back(GgufWriterTensor::from_tensor("token_embd.weight", randn({3, 5})));
    in.tensors.push_back(GgufWriterTensor::from_tensor("f16", randn({2, 3}).to(DType::F16)));
    in.tensors.push_back(GgufWriterTensor::from_tensor("bf16", randn({7}).to(DType::BF16)));
    in.tensors.push_back(
        GgufWriterTensor::from_tensor("i32", arange(6, DType::I32).view({1, 2, 3})));
    in.tensors.push_back(GgufWriterTensor::from_tensor("i64", arange(4, DType::I64)));
    in.tensors.push_back(GgufWriterTensor::from_tensor("f64", randn({2, 2}).to(DType::F64)));
    in.tensors.push_back(GgufWriterTensor::from_tensor("scalar", scalar_tensor(2.5)));
    in.tensors.push_back(GgufWriterTensor::from_tensor("empty", zeros({0, 4})));
    in.tensors.push_back(GgufWriterTensor::raw("blk.0.attn_q.weight", GgmlType::Q8_0, {64, 2},
                                               q8.data(), q8.size()));
    in.tensors.push_back(GgufWriterTensor::raw("blk.0.ffn_down.weight", GgmlType::Q4_K, {256},
                                               q4k.data(), q4k.size()));
  }
};

// ---- ggml types ----

TEST(GgufTypes, LayoutsMatchGgml) {
  struct Row {
    GgmlType t;
    const char* name;
    int64_t elems, bytes;
  };
  const Row rows[] = {{GgmlType::F32, "f32", 1, 4},
                      {GgmlType::F16, "f16", 1, 2},
                      {GgmlType::Q4_0, "q4_0", 32, 18},
                      {GgmlType::Q4_1, "q4_1", 32, 20},
                      {GgmlType::Q5_0, "q5_0", 32, 22},
                      {GgmlType::Q5_1, "q5_1", 32, 24},
                      {GgmlType::Q8_0, "q8_0", 32, 34},
                      {GgmlType::Q8_1, "q8_1", 32, 36},
                      {GgmlType::Q2_K, "q2_K", 256, 84},
                      {GgmlType::Q3_K, "q3_K", 256, 110},
                      {GgmlType::Q4_K, "q4_K", 256, 144},
                      {GgmlType::Q5_K, "q5_K", 256, 176},
                      {GgmlType::Q6_K, "q6_K", 256, 210},
                      {GgmlType::Q8_K, "q8_K", 256, 292},
                      {GgmlType::I8, "i8", 1, 1},
                      {GgmlType::I16, "i16", 1, 2},
                      {GgmlType::I32, "i32", 1, 4},
                      {GgmlType::I64, "i64", 1, 8},
                      {GgmlType::F64, "f64", 1, 8},
                      {GgmlType::BF16, "bf16", 1, 2},
                      {GgmlType::IQ4_XS, "iq4_xs", 256, 136},
                      {GgmlType::MXFP4, "mxfp4", 32, 17}};
  for (const Row& r : rows) {
    const GgmlTypeTraits* t = ggml_type_traits(uint32_t(r.t));
    ASSERT_NE(t, nullptr) << r.name;
    EXPECT_STREQ(t->name, r.name);
    EXPECT_EQ(t->block_elems, r.elems) << r.name;
    EXPECT_EQ(t->block_bytes, r.bytes) << r.name;
    EXPECT_EQ(ggml_type_from_name(r.name), r.t);
  }
  for (uint32_t removed : {4u, 5u, 31u, 36u, 40u, 1000u})
    EXPECT_EQ(ggml_type_traits(removed), nullptr);
}

TEST(GgufTypes, NamesAreCaseInsensitiveAndUnknownOnesListTheValidNames) {
  EXPECT_EQ(ggml_type_from_name("Q4_K"), GgmlType::Q4_K);
  EXPECT_EQ(ggml_type_from_name("Q8_0"), GgmlType::Q8_0);
  EXPECT_EQ(ggml_type_from_name("F16"), GgmlType::F16);
  EXPECT_EQ(ggml_type_from_name("BF16"), GgmlType::BF16);
  try {
    ggml_type_from_name("q4_2");  // removed from ggml: not a type
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("'q4_2'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("q8_0, q8_1, q2_K"), std::string::npos) << e.what();
  }
}

TEST(GgufTypes, NbytesChecksBlocksAndOverflow) {
  EXPECT_EQ(ggml_nbytes(GgmlType::Q8_0, std::vector<int64_t>{64, 3}, "t"), 2u * 3 * 34);
  EXPECT_EQ(ggml_nbytes(GgmlType::F32, std::vector<int64_t>{0, 7}, "t"), 0u);
  expect_throw_with([] { ggml_nbytes(GgmlType::Q4_K, std::vector<int64_t>{100}, "t"); },
                    {"t: ne[0] = 100", "256"});
  expect_throw_with([] { ggml_nbytes(GgmlType::F32, std::vector<int64_t>{int64_t(1) << 62}, "t"); },
                    {"overflows"});
}

// ---- round trips ----

TEST(Gguf, RoundTripKeepsMetadataInOrderAndTensorBytes) {
  Sample s;
  auto f = GgufFile::from_bytes(serialize_gguf(s.in), "sample.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  ASSERT_EQ(f->metadata().size(), s.in.metadata.size());
  for (size_t i = 0; i < s.in.metadata.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, s.in.metadata[i].first);
    EXPECT_TRUE(f->metadata()[i].second == s.in.metadata[i].second) << s.in.metadata[i].first;
  }
  ASSERT_EQ(f->tensors().size(), s.in.tensors.size());
  for (size_t i = 0; i < s.in.tensors.size(); ++i) {
    const GgufTensorInfo& t = f->tensors()[i];
    const GgufWriterTensor& w = s.in.tensors[i];
    EXPECT_EQ(t.name, w.name);
    EXPECT_EQ(t.ne, w.ne);
    EXPECT_EQ(t.type, w.type);
    EXPECT_EQ(t.nbytes, w.nbytes);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ(&f->info(w.name), &t);
    EXPECT_EQ(std::memcmp(f->data(t), w.data, w.nbytes), 0) << w.name;
  }
  EXPECT_EQ(f->info("i32").shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(f->info("scalar").ne, (std::vector<int64_t>{1}));
}

TEST(Gguf, AccessorsReadTheValuesWritten) {
  auto f = GgufFile::from_bytes(serialize_gguf(Sample().in), "sample.gguf");
  EXPECT_EQ(f->get("general.architecture").as_string(), "llama");
  EXPECT_EQ(f->get("general.name").as_string(), "tiny \xe2\x9c\x93");
  EXPECT_EQ(f->get("llama.context_length").as_u32(), 4096u);
  EXPECT_EQ(f->get("llama.context_length").as_u64(), 4096u);
  EXPECT_EQ(f->get("llama.context_length").as_i64(), 4096);
  EXPECT_EQ(f->get("llama.block_count").as_u32(), 2u);  // a u64 that fits
  EXPECT_EQ(f->get("x.u8").as_i32(), 250);
  EXPECT_EQ(f->get("x.i8").as_i64(), -5);
  EXPECT_EQ(f->get("x.u16").as_u32(), 65000u);
  EXPECT_EQ(f->get("x.i16").as_i32(), -30000);
  EXPECT_EQ(f->get("x.i32").as_i32(), -7);
  EXPECT_EQ(f->get("x.i64").as_i64(), -(int64_t(1) << 40));
  EXPECT_EQ(f->get("x.f32").as_f32(), 1e-5f);
  EXPECT_EQ(f->get("x.f64").as_f64(), 0.1);
  EXPECT_EQ(f->get("x.f64").as_f32(), 0.1f);
  EXPECT_TRUE(f->get("x.bool").as_bool());
  EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_string_array(),
            (std::vector<std::string>{"<s>", "</s>", "a", ""}));
  EXPECT_EQ(f->get("tokenizer.ggml.scores").as_f32_array(), (std::vector<float>{0, 0, -1.5f, 2}));
  EXPECT_EQ(f->get("tokenizer.ggml.token_type").as_i32_array(), (std::vector<int32_t>{3, 3, 1, 1}));
  EXPECT_EQ(f->get("tokenizer.ggml.token_type").array_type(), GgufValueType::I32);
  EXPECT_EQ(f->get("x.empty").array_size(), 0u);
  EXPECT_FALSE(f->get("x.bools").element(0).as_bool());
  const GgufValue& nested = f->get("x.nested");
  EXPECT_EQ(nested.type_str(), "array of array");
  EXPECT_EQ(nested.element(0).element(0).as_u64(), 1u);
  EXPECT_EQ(nested.element(1).as_string_array()[1], "y");
  EXPECT_EQ(nested.element(1).context(), "sample.gguf: key 'x.nested'[1]");
  EXPECT_TRUE(f->has("x.u8"));
  EXPECT_FALSE(f->has("x.u9"));
  EXPECT_EQ(f->find("x.u9"), nullptr);
}

TEST(Gguf, PlainTensorsAreZeroCopyViewsWithTheRowMajorShape) {
  Sample s;
  auto f = GgufFile::from_bytes(serialize_gguf(s.in), "sample.gguf");
  for (const GgufWriterTensor& w : s.in.tensors) {
    if (!w.keep_alive.defined()) continue;
    Tensor t = f->tensor(w.name);
    Shape shape = w.keep_alive.shape();
    if (shape.empty()) shape = {1};
    EXPECT_EQ(t.shape(), shape) << w.name;
    EXPECT_EQ(t.dtype(), w.keep_alive.dtype()) << w.name;
    EXPECT_EQ(std::memcmp(t.raw_data(), w.data, w.nbytes), 0) << w.name;
    if (w.nbytes) {
      EXPECT_EQ(t.raw_data(), f->data(f->info(w.name))) << w.name;
    }
  }
  Tensor w = f->tensor("token_embd.weight");
  f.reset();  // the view keeps the bytes alive
  EXPECT_EQ(w.to_vector<float>(), s.in.tensors[0].keep_alive.to_vector<float>());
}

TEST(Gguf, QuantizedTensorsAreZeroCopyBlocks) {
  Sample s;
  std::vector<uint8_t> q5(2 * 22, 0);  // a q5_0 tensor: a type Lazarus reads but cannot compute
  s.in.tensors.push_back(GgufWriterTensor::raw("q5_0", GgmlType::Q5_0, {64}, q5.data(), q5.size()));
  auto f = GgufFile::from_bytes(serialize_gguf(s.in), "sample.gguf");
  const GgufTensorInfo& q = f->info("blk.0.attn_q.weight");
  EXPECT_EQ(q.shape(), (Shape{2, 64}));
  EXPECT_EQ(std::vector<uint8_t>(f->data(q), f->data(q) + q.nbytes), s.q8);
  Tensor t = f->tensor("blk.0.attn_q.weight");
  EXPECT_EQ(t.dtype(), DType::Q8_0);
  EXPECT_EQ(t.shape(), (Shape{2, 64}));
  EXPECT_EQ(t.raw_data(), f->data(q));
  EXPECT_EQ(f->tensor("blk.0.ffn_down.weight").dtype(), DType::Q4_K);
  expect_throw_with([&] { f->tensor("q5_0"); },
                    {"sample.gguf", "'q5_0'", "q5_0", "quantized", "data()"});
  expect_throw_with([&] { f->tensor("nope"); }, {"sample.gguf", "no tensor named 'nope'"});
  expect_throw_with([&] { f->info("nope"); }, {"no tensor named 'nope'"});
}

TEST(Gguf, SaveIsAtomicAndOpenMapsTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("lazarus_gguf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.gguf").string();
  Sample s;
  save_gguf(path, s.in);
  save_gguf(path, s.in);  // replaces the file
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->path(), path);
  Tensor t = f->tensor("token_embd.weight");
  EXPECT_FALSE(t.storage()->owned());  // a view of the mapping
  EXPECT_EQ(t.to_vector<float>(), s.in.tensors[0].keep_alive.to_vector<float>());
  for (auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  expect_throw_with([&] { GgufFile::open(dir.string()); }, {dir.string(), "not a regular file"});
  expect_throw_with([&] { GgufFile::open((dir / "missing.gguf").string()); }, {"missing.gguf"});
  fs::remove_all(dir);
}

TEST(Gguf, OtherAlignmentsAreWrittenAndHonoured) {
  for (uint32_t alignment : {1u, 64u}) {
    Sample s;
    s.in.alignment = alignment;
    auto f = GgufFile::from_bytes(serialize_gguf(s.in), "sample.gguf");
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->get("general.alignment").as_u32(), alignment);
    EXPECT_EQ(f->metadata().back().first, "general.alignment");
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    for (const GgufTensorInfo& t : f->tensors()) EXPECT_EQ(t.offset % alignment, 0u);
    // Unaligned for its dtype (alignment 1): a copy with the same values.
    EXPECT_EQ(f->tensor("f64").to_vector<double>(), s.in.tensors[5].keep_alive.to_vector<double>());
  }
}

TEST(Gguf, VersionTwoReadsLikeThree) {
  std::string bytes = serialize_gguf(Sample().in);
  bytes[4] = 2;
  EXPECT_EQ(GgufFile::from_bytes(bytes)->version(), 2u);
}

// ---- typed access of the wrong type ----

TEST(GgufValues, WrongTypeNamesTheKeyAndBothTypes) {
  auto f = GgufFile::from_bytes(serialize_gguf(Sample().in), "sample.gguf");
  expect_throw_with([&] { f->get("general.name").as_u32(); },
                    {"sample.gguf: key 'general.name'", "expected u32, got string"});
  expect_throw_with([&] { f->get("x.u8").as_string(); }, {"key 'x.u8'", "expected string, got u8"});
  expect_throw_with([&] { f->get("x.u8").as_bool(); }, {"expected bool, got u8"});
  expect_throw_with([&] { f->get("x.bool").as_u32(); }, {"expected u32, got bool"});
  expect_throw_with([&] { f->get("x.f32").as_i64(); }, {"expected i64, got f32"});
  expect_throw_with([&] { f->get("x.u8").as_f32(); }, {"expected f32, got u8"});
  expect_throw_with([&] { f->get("x.u8").array_size(); }, {"expected array, got u8"});
  expect_throw_with([&] { f->get("tokenizer.ggml.token_type").as_f32_array(); },
                    {"key 'tokenizer.ggml.token_type'", "expected array of f32, got array of i32"});
  expect_throw_with([&] { f->get("tokenizer.ggml.scores").as_string_array(); },
                    {"expected array of string, got array of f32"});
  expect_throw_with([&] { f->get("x.i8").as_u32(); },
                    {"key 'x.i8'", "i8 value -5 does not fit in u32"});
  expect_throw_with([&] { f->get("x.i64").as_i32(); }, {"does not fit in i32"});
  expect_throw_with([&] { f->get("missing.key"); }, {"sample.gguf: missing key 'missing.key'"});
  EXPECT_THROW(f->get("x.empty").element(0), IndexError);
}

TEST(GgufValues, IntegersConvertOnlyWhenTheValueFits) {
  GgufWriterInput in;
  in.metadata.emplace_back("big", GgufValue::u64((uint64_t(1) << 32) + 1));
  in.metadata.emplace_back("top", GgufValue::u64(uint64_t(1) << 63));
  in.metadata.emplace_back("huge", GgufValue::f64(1e300));
  auto f = GgufFile::from_bytes(serialize_gguf(in), "v.gguf");
  expect_throw_with([&] { f->get("big").as_u32(); },
                    {"v.gguf: key 'big'", "u64 value 4294967297 does not fit in u32"});
  EXPECT_EQ(f->get("big").as_u64(), (uint64_t(1) << 32) + 1);
  expect_throw_with([&] { f->get("top").as_i64(); }, {"key 'top'", "does not fit in i64"});
  expect_throw_with([&] { f->get("huge").as_f32(); }, {"key 'huge'", "does not fit in f32"});
  EXPECT_EQ(f->get("huge").as_f64(), 1e300);
}

// ---- the writer's rules ----

TEST(GgufWriter, RefusesWhatTheReaderWouldRefuse) {
  auto with = [](auto edit) {
    auto s = std::make_shared<Sample>();  // owns the raw tensors' bytes
    edit(s->in);
    return [s] { serialize_gguf(s->in); };
  };
  expect_throw_with(with([](auto& in) { in.metadata.push_back(in.metadata[0]); }),
                    {"save_gguf", "'general.architecture' appears twice"});
  expect_throw_with(with([](auto& in) { in.tensors.push_back(in.tensors[0]); }),
                    {"save_gguf", "'token_embd.weight' appears twice"});
  expect_throw_with(with([](auto& in) { in.metadata.emplace_back("", GgufValue::u8(0)); }),
                    {"save_gguf: metadata[19] key is empty"});
  expect_throw_with(with([](auto& in) { in.metadata.emplace_back("k\n", GgufValue::u8(0)); }),
                    {"printable ASCII"});
  expect_throw_with(with([](auto& in) { in.tensors[9].nbytes -= 1; }),
                    {"'blk.0.ffn_down.weight'", "143 bytes given", "takes 144"});
  expect_throw_with(with([](auto& in) {
                      in.tensors[8].ne = {32 + 1, 2};
                    }),
                    {"'blk.0.attn_q.weight'", "ne[0] = 33"});
  expect_throw_with(with([](auto& in) { in.tensors[0].ne = {1, 1, 1, 1, 15}; }), {"n_dims 5"});
  expect_throw_with(with([](auto& in) { in.tensors[0].name = std::string(64, 'x'); }),
                    {"tensor[0] name", "1 to 63"});
  expect_throw_with(with([](auto& in) { in.alignment = 24; }), {"save_gguf: alignment 24"});
  expect_throw_with(with([](auto& in) {
                      in.alignment = 64;
                      in.metadata.emplace_back("general.alignment", GgufValue::u32(32));
                    }),
                    {"general.alignment", "64"});
  GgufValue deep = GgufValue::u8(1);
  for (int i = 0; i < kGgufMaxArrayDepth + 1; ++i) deep = GgufValue::array(deep.type(), {deep});
  expect_throw_with(with([&](auto& in) { in.metadata.emplace_back("deep", deep); }),
                    {"key 'deep'", "nested more than 8 deep"});
  expect_throw_with([] { GgufWriterTensor::from_tensor("b", ones({2}, DType::Bool)); },
                    {"'b'", "bool"});
  expect_throw_with([] { GgufValue::array(GgufValueType::U8, {GgufValue::u16(1)}); },
                    {"item 0 is u16, not u8"});
}

// ---- malformed files ----

TEST(GgufBadFiles, MagicAndVersion) {
  expect_error("GG", {"file is 2 bytes", "magic"});
  std::string bytes = header(0, 0).s;
  bytes[3] = 'X';
  expect_error(bytes, {"magic 'GGUX'", "not a GGUF file"});
  expect_error(header(0, 0, 1).s, {"version 1 is not supported"});
  expect_error(header(0, 0, 4).s, {"version 4 is not supported", "2 and 3"});
  expect_error(header(0, 0, 0x03000000).s, {"version 0x03000000", "big-endian"});
}

TEST(GgufBadFiles, CountsLargerThanTheFile) {
  expect_error(header(uint64_t(1) << 63, 0).s, {"tensor_count 9223372036854775808"});
  expect_error(header(3, 0).zeros(40).s, {"tensor_count 3", "40 bytes left"});
  expect_error(header(0, kHuge).s, {"metadata_kv_count 4611686018427387904"});
  expect_error(header(0, UINT64_MAX).s, {"metadata_kv_count 18446744073709551615"});
}

TEST(GgufBadFiles, HugeStringLengths) {
  expect_error(header(0, 1).u64(kHuge).zeros(16).s,
               {"metadata[0] key at byte 32 needs 4611686018427387904 bytes"});
  expect_error(header(0, 1).key("general.name", GgufValueType::String).u64(UINT64_MAX).s,
               {"key 'general.name'", "needs 18446744073709551615 bytes"});
  Bytes b = header(1, 0);
  b.u64(kHuge).s += "w";
  expect_error(b.zeros(64).s, {"tensor[0] name", "needs 4611686018427387904"});
}

TEST(GgufBadFiles, HugeArrayCounts) {
  expect_error(header(0, 1).key("a", GgufValueType::Array).u32(10).u64(kHuge).zeros(64).s,
               {"key 'a': array length 4611686018427387904", "hold at most 8 of 8 bytes"});
  expect_error(header(0, 1).key("a", GgufValueType::Array).u32(8).u64(kHuge).zeros(64).s,
               {"key 'a': array length", "8 bytes or more"});
  expect_error(header(0, 1).key("a", GgufValueType::Array).u32(9).u64(UINT64_MAX).s,
               {"key 'a': array length 18446744073709551615"});
}

TEST(GgufBadFiles, NestedArrayBombs) {
  Bytes deep = header(0, 1).key("bomb", GgufValueType::Array);
  for (int i = 0; i < 1000; ++i) deep.u32(uint32_t(GgufValueType::Array)).u64(1);
  expect_error(deep.s, {"key 'bomb'[0][0][0][0][0][0][0]", "nested more than 8 deep"});
  // Wide: 2^40 empty arrays in a small file.
  expect_error(
      header(0, 1).key("bomb", GgufValueType::Array).u32(9).u64(uint64_t(1) << 40).zeros(120).s,
      {"key 'bomb': array length 1099511627776"});
  // Within the limit: 8 levels read fine.
  Bytes ok = header(0, 1).key("ok", GgufValueType::Array);
  for (int i = 0; i < 7; ++i) ok.u32(uint32_t(GgufValueType::Array)).u64(1);
  ok.u32(uint32_t(GgufValueType::U8)).u64(1).u8(7);
  auto f = GgufFile::from_bytes(ok.s);
  GgufValue v = f->get("ok");
  for (int i = 0; i < 7; ++i) v = v.element(0);
  EXPECT_EQ(v.element(0).as_u32(), 7u);
}

TEST(GgufBadFiles, UnknownValueTypes) {
  expect_error(header(0, 1).str("k").u32(13).zeros(8).s, {"key 'k': value type 13 is unknown"});
  expect_error(header(0, 1).key("k", GgufValueType::Array).u32(0xffffffff).u64(0).s,
               {"key 'k': array element type 4294967295 is unknown"});
}

TEST(GgufBadFiles, BoolsAreZeroOrOne) {
  expect_error(header(0, 1).key("b", GgufValueType::Bool).u8(2).s, {"key 'b'", "bool value 2"});
  expect_error(header(0, 1).key("b", GgufValueType::Array).u32(7).u64(3).u8(1).u8(0).u8(9).s,
               {"key 'b'[2]", "bool value 9"});
}

TEST(GgufBadFiles, KeysAreUniquePrintableAscii) {
  expect_error(header(0, 2).key("k", GgufValueType::U8).u8(1).key("k", GgufValueType::U8).u8(2).s,
               {"metadata key 'k' appears twice (entries 0 and 1)"});
  expect_error(header(0, 1).key("", GgufValueType::U8).u8(1).zeros(8).s,
               {"metadata[0] key is empty"});
  expect_error(header(0, 1).key("caf\xc3\xa9", GgufValueType::U8).u8(1).s,
               {"metadata[0] key 'caf\\xc3\\xa9' has byte 0xc3", "printable ASCII"});
}

TEST(GgufBadFiles, Alignment) {
  auto with_alignment = [](auto put_value) {
    return one_tensor_file(1, [&](Bytes& b) { put_value(b.str("general.alignment")); });
  };
  expect_error(with_alignment([](Bytes& b) { b.u32(4).u32(0); }),
               {"general.alignment 0", "power of two"});
  expect_error(with_alignment([](Bytes& b) { b.u32(4).u32(48); }),
               {"general.alignment 48", "power of two"});
  expect_error(with_alignment([](Bytes& b) { b.u32(8).str("32"); }),
               {"general.alignment must be a u32, got string"});
  expect_error(with_alignment([](Bytes& b) { b.u32(10).u64(32); }),
               {"general.alignment must be a u32, got u64"});
}

TEST(GgufBadFiles, Dims) {
  auto with_tensor = [](uint32_t n_dims, std::initializer_list<uint64_t> ne, uint32_t type = 0) {
    Bytes b = header(1, 0).str("blk.0.attn_q.weight").u32(n_dims);
    for (uint64_t d : ne) b.u64(d);
    return b.u32(type).u64(0).pad(32).zeros(256).s;
  };
  expect_error(with_tensor(0, {}), {"tensor 'blk.0.attn_q.weight': n_dims 0 is not in 1..4"});
  expect_error(with_tensor(5, {1, 1, 1, 1, 1}), {"tensor 'blk.0.attn_q.weight': n_dims 5"});
  expect_error(with_tensor(2, {4, uint64_t(1) << 63}), {"ne[1] = 9223372036854775808", "int64"});
  const uint64_t g = uint64_t(1) << 32;
  expect_error(with_tensor(3, {g, g, g}),
               {"tensor 'blk.0.attn_q.weight'", "ne [4294967296, 4294967296, 4294967296]",
                "more elements than 64-bit"});
  expect_error(with_tensor(1, {uint64_t(1) << 62}), {"ne [4611686018427387904] x f32 overflows"});
  expect_error(with_tensor(2, {33, 2}, 8), {"ne[0] = 33 is not a multiple of q8_0's block of 32"});
  expect_error(with_tensor(1, {4}, 77),
               {"tensor 'blk.0.attn_q.weight': type 77", "not a ggml type"});
  expect_error(with_tensor(1, {32}, 4), {"type q4_2 (4), which ggml removed"});
}

TEST(GgufBadFiles, TensorNames) {
  expect_error(header(1, 0).tensor(std::string(64, 'n'), {4}, 0, 0).pad(32).zeros(16).s,
               {"tensor[0] name", "is 64 bytes", "1 to 63"});
  expect_error(header(1, 0).tensor("", {4}, 0, 0).pad(32).zeros(16).s, {"tensor[0] name"});
  expect_error(header(1, 0).tensor(std::string("a\0b", 3), {4}, 0, 0).pad(32).zeros(16).s,
               {"tensor[0] name 'a\\x00b' has control byte 0x00"});
  expect_error(header(2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad(32).zeros(64).s,
               {"tensor 'w' appears twice (tensors 0 and 1)"});
}

TEST(GgufBadFiles, Offsets) {
  expect_error(header(1, 0).tensor("w", {4}, 0, 16).pad(32).zeros(64).s,
               {"tensor 'w': offset 16 is not a multiple of the alignment 32"});
  expect_error(
      header(1, 0).tensor("w", {4}, 0, 32).pad(32).zeros(40).s,
      {"tensor 'w': data at offset 32 (16 bytes) runs past the end of the data section (40 bytes"});
  expect_error(header(1, 0).tensor("w", {4}, 0, UINT64_MAX - 31).pad(32).zeros(64).s,
               {"tensor 'w': data at offset 18446744073709551584", "runs past the end"});
  expect_error(header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad(32).zeros(96).s,
               {"tensors 'a' [0, 64) and 'b' [32, 64) overlap"});
  expect_error(header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 0).pad(32).zeros(96).s,
               {"tensors 'a' [0, 64) and 'b' [0, 64) overlap"});
  // The infos end mid-block and the file ends before the padding: no data section at all.
  expect_error(header(1, 0).tensor("w", {0}, 0, 0).s,
               {"the data section starts at byte 64", "past the end"});
}

TEST(GgufBadFiles, OrderAndGapsAreFine) {
  // Tensors need not be in offset order, and gaps are allowed; empty tensors take no bytes.
  auto f = GgufFile::from_bytes(header(3, 0)
                                    .tensor("b", {8}, 0, 64)
                                    .tensor("a", {8}, 0, 0)
                                    .tensor("e", {0}, 0, 0)
                                    .pad(32)
                                    .zeros(96)
                                    .s);
  EXPECT_EQ(f->info("b").offset, 64u);
  EXPECT_EQ(f->tensor("e").numel(), 0);
}

// Every prefix shorter than the last tensor's end is refused with a LoadError; the rest (cut in
// the trailing padding) read.
TEST(GgufBadFiles, TruncatedAtEveryByte) {
  Sample s;
  s.in.tensors.resize(3);
  const std::string bytes = serialize_gguf(s.in);
  auto f = GgufFile::from_bytes(bytes);
  uint64_t end = 0;
  for (const GgufTensorInfo& t : f->tensors())
    end = std::max(end, f->data_offset() + t.offset + t.nbytes);
  ASSERT_LT(end, bytes.size());  // there is trailing padding
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string cut = bytes.substr(0, n);
    if (n < end) {
      EXPECT_THROW(GgufFile::from_bytes(cut, "cut.gguf"), LoadError) << n;
    } else {
      EXPECT_NO_THROW(GgufFile::from_bytes(cut, "cut.gguf")) << n;
    }
  }
}

#ifdef LAZARUS_GGUF_CORPUS
// The fuzzer's seeds stay valid files.
TEST(Gguf, SeedCorpusReads) {
  int n = 0;
  for (auto& e : fs::directory_iterator(LAZARUS_GGUF_CORPUS)) {
    if (e.path().extension() != ".gguf") continue;
    auto f = GgufFile::open(e.path().string());
    EXPECT_GT(f->metadata().size(), 0u) << e.path();
    ++n;
  }
  EXPECT_GE(n, 2);
}
#endif

}  // namespace

// release() drops the mapped pages that hold only a tensor's bytes from the resident set (after a
// caller copied them): the tensor still reads the same bytes afterwards (the pages come back from
// the file), and on a file read into memory (from_bytes) it leaves the bytes alone.
TEST(Gguf, ReleaseKeepsTheTensorReadable) {
  const fs::path dir = fs::temp_directory_path() / ("lazarus_gguf_rel_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.gguf").string();
  manual_seed(11);
  GgufWriterInput in;
  in.metadata.emplace_back("general.architecture", GgufValue::string("llama"));
  const Tensor big = randn({256, 1024});  // 1 MiB: whole pages inside the tensor's bytes
  in.tensors.push_back(GgufWriterTensor::from_tensor("a", randn({3, 5})));
  in.tensors.push_back(GgufWriterTensor::from_tensor("big", big));
  in.tensors.push_back(GgufWriterTensor::from_tensor("b", randn({7})));
  save_gguf(path, in);
  const std::vector<float> want = big.to_vector<float>();
  auto mapped = GgufFile::open(path);
  EXPECT_EQ(mapped->tensor("big").to_vector<float>(), want);
  mapped->release("big");
  EXPECT_EQ(mapped->tensor("big").to_vector<float>(), want);
  EXPECT_EQ(mapped->tensor("a").to_vector<float>(), in.tensors[0].keep_alive.to_vector<float>());
  EXPECT_EQ(mapped->tensor("b").to_vector<float>(), in.tensors[2].keep_alive.to_vector<float>());
  auto copied = GgufFile::from_bytes(serialize_gguf(in));
  copied->release("big");
  EXPECT_EQ(copied->tensor("big").to_vector<float>(), want);
  expect_throw_with([&] { mapped->release("nope"); }, {"no tensor named 'nope'"});
  fs::remove_all(dir);
}
