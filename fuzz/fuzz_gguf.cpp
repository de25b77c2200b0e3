// libFuzzer target: the GGUF reader on arbitrary bytes must only ever throw lazarus::Error (never
// crash, overread or allocate without bound), and so must every accessor on what it accepted.
// What it accepts must also survive the writer: written back and read again, the same metadata,
// tensor infos and bytes (a mismatch traps).
#include <cstdint>
#include <cstring>
#include <string>

#include "lazarus/core/error.h"
#include "lazarus/formats/gguf.h"

namespace {

using namespace lazarus::formats;

template <class F>
void attempt(F f) {
  try {
    f();
  } catch (const lazarus::Error&) {
  }
}

// Every accessor, whatever the type; arrays element by element (the first few).
void touch(const GgufValue& v) {
  attempt([&] { v.as_u32(); });
  attempt([&] { v.as_u64(); });
  attempt([&] { v.as_i32(); });
  attempt([&] { v.as_i64(); });
  attempt([&] { v.as_f32(); });
  attempt([&] { v.as_f64(); });
  attempt([&] { v.as_bool(); });
  attempt([&] { v.as_string(); });
  attempt([&] { v.as_string_array(); });
  attempt([&] { v.as_f32_array(); });
  attempt([&] { v.as_i32_array(); });
  (void)v.type_str();
  if (v.type() != GgufValueType::Array) return;
  const uint64_t n = v.array_size();
  for (uint64_t i = 0; i < n && i < 8; ++i) touch(v.element(i));
  attempt([&] { v.element(n); });
}

void check_round_trip(const GgufFile& f) {
  GgufWriterInput in;
  in.alignment = f.alignment();
  in.metadata = f.metadata();
  for (const GgufTensorInfo& t : f.tensors())
    in.tensors.push_back(GgufWriterTensor::raw(t.name, t.type, t.ne, f.data(t), t.nbytes));
  auto g = GgufFile::from_bytes(serialize_gguf(in));
  if (g->metadata().size() != f.metadata().size() || g->tensors().size() != f.tensors().size())
    __builtin_trap();
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    if (g->metadata()[i].first != f.metadata()[i].first ||
        !(g->metadata()[i].second == f.metadata()[i].second))
      __builtin_trap();
  }
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const GgufTensorInfo& a = f.tensors()[i];
    const GgufTensorInfo& b = g->tensors()[i];
    if (a.name != b.name || a.ne != b.ne || a.type != b.type || a.nbytes != b.nbytes ||
        (a.nbytes && std::memcmp(f.data(a), g->data(b), a.nbytes) != 0))
      __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<GgufFile> f;
  try {
    f = GgufFile::from_bytes(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const lazarus::Error&) {
    return 0;
  }
  for (const auto& [key, v] : f->metadata()) {
    touch(v);
    (void)f->get(key);
  }
  for (const GgufTensorInfo& t : f->tensors()) {
    (void)f->info(t.name).shape();
    const uint8_t* p = f->data(t);
    if (t.nbytes) {
      volatile uint8_t edge = p[0] ^ p[t.nbytes - 1];  // the range is inside the file
      (void)edge;
    }
    attempt([&] { (void)f->tensor(t.name).numel(); });
  }
  check_round_trip(*f);
  return 0;
}
