// `lazarus chat`: an interactive conversation over stdin through the model's chat template, with
// history, /reset and /exit. Works piped too: one user message per input line, one reply per
// output line.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "lazarus/cli/commands.h"
#include "lazarus/cli/generation_flags.h"
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/chat_template.h"

namespace lazarus::cli {

namespace {

constexpr int64_t kDefaultMaxNewTokens = 512;

struct ChatFlags {
  ModelFlags model;
  SamplingFlags sampling;
};

void run_chat(const ChatFlags& f) {
  io::PretrainedModel m = load_model_for_cli(f.model);
  if (!m.tokenizer_config || !m.tokenizer_config->has_chat_template())
    throw ConfigError(
        fmt::format("{}: the model has no chat template (tokenizer_config.json chat_template or "
                    "chat_template.jinja); use `lazarus generate` for plain text completion",
                    m.folder));
  const tokenizers::ChatTemplate tmpl(m.tokenizer_config->chat_template());
  const bool interactive = isatty(STDIN_FILENO);
  if (interactive)
    std::fprintf(stderr, "Type a message; /reset clears the history, /exit (or Ctrl-D) quits.\n");

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  auto reset = [&] {
    messages = nlohmann::ordered_json::array();
    if (!f.sampling.system.empty())
      messages.push_back({{"role", "system"}, {"content", f.sampling.system}});
  };
  reset();
  std::string line;
  while (true) {
    if (interactive) {
      std::fputs(">>> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      std::fprintf(stderr, "(history cleared)\n");
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;

    messages.push_back({{"role", "user"}, {"content", line}});
    tokenizers::ChatTemplateInputs in;
    in.messages = messages;
    in.add_generation_prompt = true;
    in.bos_token = m.tokenizer_config->bos_token;
    in.eos_token = m.tokenizer_config->eos_token;
    tokenizers::set_template_vars(in, f.sampling.template_vars);
    std::vector<uint32_t> ids32 = m.tokenizer->encode_ids(tmpl.render(in), false);
    std::vector<int64_t> ids(ids32.begin(), ids32.end());
    const int64_t ctx = generation::context_length(*m.model);
    if (ctx > 0 && int64_t(ids.size()) >= ctx) {
      messages.erase(messages.size() - 1);
      std::fprintf(stderr,
                   "error: the conversation (%zu tokens) no longer fits the model's context of "
                   "%lld tokens; /reset to start over\n",
                   ids.size(), (long long)ctx);
      continue;
    }
    auto res = generate_to_stdout(m, ids, f.sampling, kDefaultMaxNewTokens);
    if (interactive) print_stats(res);
    messages.push_back({{"role", "assistant"}, {"content", res.text[0]}});
  }
}

}  // namespace

void register_chat_command(CLI::App& app) {
  auto f = std::make_shared<ChatFlags>();
  CLI::App* cmd = app.add_subcommand(
      "chat", "Chat with a Hugging Face model folder (its chat template, history kept)");
  add_model_flags(cmd, f->model);
  add_sampling_flags(cmd, f->sampling, kDefaultMaxNewTokens);
  cmd->footer(
      "Each line read from stdin is a user message; the reply streams to stdout, followed by\n"
      "a newline. /reset clears the history (the --system message stays), /exit or end of\n"
      "input quits. Piped input works the same, without the prompt marker:\n"
      "  printf 'Hello!\\nWhat did I just say?\\n' | lazarus chat --model ./model --seed 1\n"
      "Sampling defaults come from the folder's generation_config.json; flags override them.");
  cmd->callback([f] { run_chat(*f); });
}

}  // namespace lazarus::cli
