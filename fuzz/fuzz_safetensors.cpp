// libFuzzer target: the safetensors header parser and tensor reads on arbitrary bytes must only
// ever throw LoadError (never crash, overread or allocate without bound).
#include <cstdint>
#include <string>

#include "lazarus/core/error.h"
#include "lazarus/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = lazarus::formats::SafetensorsFile::from_bytes(
        std::string(reinterpret_cast<const char*>(data), size));
    for (auto& e : f->entries()) (void)f->tensor(e.name).numel();
  } catch (const lazarus::Error&) {
  }
  return 0;
}
