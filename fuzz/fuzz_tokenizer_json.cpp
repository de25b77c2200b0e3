// libFuzzer target: load arbitrary bytes as a tokenizer.json, then encode, decode and stream-decode
// a few texts with whatever loaded. Every failure must be a lazarus::Error (LoadError for the file,
// EncodeError for text); anything else — a crash, a sanitizer report, another exception — is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lt = lazarus::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const lt::Tokenizer tok = lt::Tokenizer::from_json(input, "fuzz.json");
    const std::string texts[] = {"Hello world, it's 2024!", " \t\n ",
                                 "caf\xC3\xA9 \xF0\x9F\xA4\x96 <s>",
                                 std::string(input.substr(0, 64))};
    for (const auto& text : texts) {
      try {
        for (const bool special : {true, false}) {
          const auto enc = tok.encode(text, special);
          (void)tok.decode(enc.ids, false);
          (void)tok.decode(enc.ids, true, true);
          auto stream = tok.decode_stream();
          for (auto id : enc.ids) (void)stream.step(id);
          (void)stream.finish();
        }
      } catch (const lazarus::Error&) {
      }
    }
    const std::uint32_t ids[] = {0, 1, 2, 3, 255, 256, 1000, 0xFFFFFFFFu};
    (void)tok.decode(ids);
  } catch (const lazarus::Error&) {
  }
  return 0;
}
