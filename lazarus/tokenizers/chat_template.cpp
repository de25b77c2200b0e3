// Chat templates: the public entry point over the Jinja lexer, parser and interpreter.
#include "lazarus/tokenizers/chat_template.h"

#include "lazarus/tokenizers/jinja_lexer.h"
#include "lazarus/tokenizers/jinja_parser.h"

namespace lazarus::tokenizers {

ChatTemplate::ChatTemplate(std::string source, ChatTemplateLimits limits)
    : source_(std::move(source)), limits_(limits) {
  auto tokens = jinja::tokenize(source_);
  program_ = std::make_shared<const std::vector<jinja::NodePtr>>(
      jinja::parse(tokens, limits_.max_nesting));
}

std::string ChatTemplate::render_context(const nlohmann::ordered_json& context) const {
  if (!context.is_object())
    throw TemplateError("chat template: the render context must be a JSON object");
  jinja::Interpreter interp(limits_);
  jinja::Scope globals;
  jinja::install_globals(interp, globals);
  for (auto it = context.begin(); it != context.end(); ++it)
    globals.set(it.key(), jinja::from_json(it.value()));
  jinja::Scope top(&globals);  // template-level `set` stays out of the globals
  return interp.render(*program_, top);
}

std::string ChatTemplate::render(const ChatTemplateInputs& in) const {
  nlohmann::ordered_json ctx = in.extra.is_object() ? in.extra : nlohmann::ordered_json::object();
  ctx["messages"] = in.messages;
  ctx["add_generation_prompt"] = in.add_generation_prompt;
  if (in.bos_token) ctx["bos_token"] = *in.bos_token;
  if (in.eos_token) ctx["eos_token"] = *in.eos_token;
  if (in.tools) ctx["tools"] = *in.tools;
  if (in.documents) ctx["documents"] = *in.documents;
  return render_context(ctx);
}

void set_template_vars(ChatTemplateInputs& inputs, const std::vector<std::string>& kvs,
                       const std::string& flag) {
  using ojson = nlohmann::ordered_json;
  for (const std::string& kv : kvs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(flag + " '" + kv + "': expected NAME=VALUE");
    std::string value = kv.substr(eq + 1);
    inputs.extra[kv.substr(0, eq)] = ojson::accept(value) ? ojson::parse(value) : ojson(value);
  }
}

}  // namespace lazarus::tokenizers
