// Chat templates: renders a model's Jinja chat template over a conversation, in a sandboxed
// interpreter of the Jinja subset real templates use (see docs/tokenizers.md, "Chat templates").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/tokenizers/jinja_interpreter.h"
#include "lazarus/tokenizers/jinja_value.h"

namespace lazarus::tokenizers {

/// Template errors: syntax and runtime errors name "line L, column C" and the construct.
using TemplateError = jinja::TemplateError;
/// Thrown by a template's own `raise_exception(msg)`; what() ends with the template's message.
using TemplateRaise = jinja::TemplateRaise;
/// Loop/call budget, macro depth and output-size bounds for one render (LimitError past them).
using ChatTemplateLimits = jinja::Limits;

/// The variables a chat template sees. Unset optionals are *undefined* in the template (so
/// `bos_token is defined` and `tools is none` behave as with Hugging Face's apply_chat_template).
/// JSON values are `ordered_json` so dict keys keep their order, as `tojson` must print them.
struct ChatTemplateInputs {
  nlohmann::ordered_json messages =
      nlohmann::ordered_json::array();  // [{"role": ..., "content": ...}, ...]
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<nlohmann::ordered_json> tools;      // list of tool (function) schemas
  std::optional<nlohmann::ordered_json> documents;  // list of documents for RAG templates
  nlohmann::ordered_json extra =
      nlohmann::ordered_json::object();  // any further variables (enable_thinking, ...)
};

/// Sets `inputs.extra[NAME] = VALUE` for each "NAME=VALUE" (VALUE parsed as JSON when it is
/// valid JSON — true, 3, "s", [..] — else taken as a plain string), e.g. "enable_thinking=false"
/// for Qwen3's template. ConfigError naming `flag` and the entry when one has no NAME=.
void set_template_vars(ChatTemplateInputs& inputs, const std::vector<std::string>& name_eq_values,
                       const std::string& flag = "--var");

/// A parsed chat template. Parsing happens once in the constructor; render() is const and safe to
/// call from several threads at once.
class ChatTemplate {
 public:
  /// Parses `source`. Throws TemplateError (with line/column) on a syntax error, LimitError when
  /// nesting is deeper than limits.max_nesting.
  explicit ChatTemplate(std::string source, ChatTemplateLimits limits = {});

  /// Renders the template over the inputs. Throws TemplateRaise for the template's own
  /// raise_exception, TemplateError for runtime errors, LimitError past the limits, LoadError
  /// when an input is not valid JSON-like data (too deep).
  std::string render(const ChatTemplateInputs& inputs) const;

  /// Renders with every key of the JSON object `context` as a variable.
  std::string render_context(const nlohmann::ordered_json& context) const;

  const std::string& source() const { return source_; }
  const ChatTemplateLimits& limits() const { return limits_; }

 private:
  std::string source_;
  ChatTemplateLimits limits_;
  std::shared_ptr<const std::vector<jinja::NodePtr>> program_;
};

}  // namespace lazarus::tokenizers
