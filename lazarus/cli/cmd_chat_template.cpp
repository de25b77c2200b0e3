// `lazarus chat-template`: render a model's chat template over a conversation file and print the
// prompt exactly as the model would see it (bytes as rendered, no newline added).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lazarus/cli/commands.h"
#include "lazarus/core/regular_file.h"
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/chat_template.h"
#include "lazarus/tokenizers/tokenizer_config.h"

namespace lazarus::cli {

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

struct ChatTemplateOptions {
  std::string tokenizer;
  std::string messages;
  std::string tools;
  std::string template_name;
  std::string template_file;
  std::vector<std::string> vars;
  bool add_generation_prompt = false;
};

std::string read_all(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  return read_regular_file(path, "input file", 256u << 20);
}

ojson read_json_file(const std::string& path, const char* what) {
  try {
    return ojson::parse(read_all(path));
  } catch (const nlohmann::json::exception& e) {
    throw LoadError(path + ": invalid JSON for " + what + ": " + e.what());
  }
}

// A model folder, its tokenizer_config.json, or its tokenizer.json (the config beside it is used).
fs::path config_location(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec) && p.filename() == "tokenizer.json")
    return p.parent_path().empty() ? "." : p.parent_path();
  return p;
}

void run_chat_template(const ChatTemplateOptions& o) {
  const auto cfg = tokenizers::TokenizerConfig::load(config_location(o.tokenizer));
  if (o.template_file.empty() && !cfg.has_chat_template())
    throw ConfigError(o.tokenizer +
                      ": no chat_template in tokenizer_config.json (nor a chat_template.jinja); "
                      "pass one with --template FILE");
  std::string source =
      o.template_file.empty() ? cfg.chat_template(o.template_name) : read_all(o.template_file);
  tokenizers::ChatTemplateInputs in;
  ojson conv = read_json_file(o.messages, "--messages");
  // Either a list of messages, or an object {"messages": [...], "tools": [...], ...}.
  if (conv.is_object() && conv.contains("messages")) {
    in.messages = conv["messages"];
    if (conv.contains("tools")) in.tools = conv["tools"];
    if (conv.contains("documents")) in.documents = conv["documents"];
  } else if (conv.is_array()) {
    in.messages = conv;
  } else {
    throw LoadError(o.messages +
                    ": expected a JSON list of messages or an object with \"messages\"");
  }
  if (!o.tools.empty()) in.tools = read_json_file(o.tools, "--tools");
  in.add_generation_prompt = o.add_generation_prompt;
  in.bos_token = cfg.bos_token;
  in.eos_token = cfg.eos_token;
  tokenizers::set_template_vars(in, o.vars);
  const std::string prompt = tokenizers::ChatTemplate(std::move(source)).render(in);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void register_chat_template_command(CLI::App& app) {
  auto opts = std::make_shared<ChatTemplateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "chat-template",
      "Render a model's chat template over a conversation and print the prompt exactly (no newline "
      "added).\n"
      "The template comes from tokenizer_config.json (or chat_template.jinja) and runs in a "
      "sandboxed\n"
      "Jinja interpreter that agrees byte for byte with Hugging Face's @huggingface/jinja.\n"
      "Example:\n"
      "  lazarus chat-template --tokenizer models/qwen3 --messages chat.json "
      "--add-generation-prompt\n"
      "with chat.json = [{\"role\": \"user\", \"content\": \"Hello!\"}]. A template's "
      "raise_exception (for\n"
      "example roles that do not alternate) exits with status 1 and prints its message.");
  cmd->add_option(
         "--tokenizer", opts->tokenizer,
         "Model folder with tokenizer_config.json, the tokenizer_config.json file itself, or the\n"
         "folder's tokenizer.json")
      ->required();
  cmd->add_option("--messages", opts->messages,
                  "JSON file ('-' for stdin): a list of {\"role\", \"content\", ...} messages, or "
                  "an object\n"
                  "{\"messages\": [...], \"tools\": [...], \"documents\": [...]}")
      ->required();
  cmd->add_flag("--add-generation-prompt", opts->add_generation_prompt,
                "Append the header that starts the assistant's reply (add_generation_prompt=true)");
  cmd->add_option("--template-name", opts->template_name,
                  "Pick a named template when chat_template is a list (default: \"default\")");
  cmd->add_option("--tools", opts->tools,
                  "JSON file with the list of tool (function) schemas, passed as `tools`");
  cmd->add_option("--template", opts->template_file,
                  "Use this Jinja file instead of the config's template");
  cmd->add_option("--var", opts->vars,
                  "Extra template variable NAME=VALUE (VALUE parsed as JSON when valid, e.g.\n"
                  "--var enable_thinking=false); repeatable");
  cmd->callback([opts] { run_chat_template(*opts); });
}

}  // namespace lazarus::cli
