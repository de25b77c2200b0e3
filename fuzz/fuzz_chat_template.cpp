// libFuzzer target: parse and render arbitrary chat templates. Input = template source, optionally
// followed by a NUL byte and a JSON messages list (a fixed conversation is used otherwise). Every
// failure must be a lazarus::Error (TemplateError, TemplateRaise, LimitError, LoadError); anything
// else — a crash, a sanitizer report, another exception type — is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lazarus/core/error.h"
#include "lazarus/tokenizers/chat_template.h"

namespace lt = lazarus::tokenizers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string source = input;
  lt::ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"sys"},{"role":"user","content":"hi <think>"},
          {"role":"assistant","content":"ok","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},
          {"role":"tool","content":"r"},{"role":"user","content":[{"type":"text","text":"t"}]}])");
  if (auto nul = input.find('\0'); nul != std::string::npos) {
    source = input.substr(0, nul);
    auto messages =
        nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
    if (!messages.is_discarded()) in.messages = messages;
  }
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.add_generation_prompt = size % 2 == 0;
  in.tools = nlohmann::ordered_json::parse(
      R"([{"type":"function","function":{"name":"f","parameters":{}}}])");
  lt::ChatTemplateLimits limits;
  limits.max_steps = 20'000;  // small bounds keep each run fast
  limits.max_output_bytes = 1 << 20;
  limits.max_call_depth = 32;
  try {
    lt::ChatTemplate tmpl(source, limits);
    (void)tmpl.render(in);
  } catch (const lazarus::Error&) {
    // expected: a clear error
  }
  return 0;
}
