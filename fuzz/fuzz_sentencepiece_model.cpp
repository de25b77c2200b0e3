// libFuzzer target: read arbitrary bytes as a SentencePiece tokenizer.model, convert it (both
// flavours) and encode / decode a few texts with whatever loads; also use the bytes as a raw
// precompiled charsmap. Every failure must be a lazarus::Error; a crash, a sanitizer report or
// another exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/json_util.h"
#include "lazarus/tokenizers/precompiled.h"
#include "lazarus/tokenizers/sentencepiece.h"
#include "lazarus/tokenizers/tokenizer.h"

namespace lt = lazarus::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string texts[] = {"Hello world, it's 2024!", "  a  b  ",
                               "caf\xC3\xA9 \xF0\x9F\xA4\x96 <s>",
                               "\xEF\xBD\xB6\xEF\xBE\x9E e\xCC\x81"};
  try {
    const lt::Charsmap map(input, "fuzz charsmap");
    for (const auto& t : texts) {
      std::string s = t;
      map.normalize_graphemes(s);
      (void)map.match(t, true);
    }
  } catch (const lazarus::Error&) {
  }
  for (const auto flavor : {lt::SpmFlavor::Exact, lt::SpmFlavor::Transformers}) {
    try {
      const auto j = lt::sentencepiece_to_tokenizer_json(input, "fuzz.model", flavor);
      const lt::Tokenizer tok = lt::Tokenizer::from_json(
          j.dump(-1, ' ', false, lt::Json::error_handler_t::replace), "fuzz.model");
      for (const auto& text : texts) {
        const auto enc = tok.encode(text, true);
        (void)tok.decode(enc.ids, false);
        auto stream = tok.decode_stream(true);
        for (auto id : enc.ids) (void)stream.step(id);
        (void)stream.finish();
      }
    } catch (const lazarus::Error&) {
    }
  }
  return 0;
}
