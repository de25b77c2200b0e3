// `lazarus generate`: one prompt in, text out (streamed), from a Hugging Face model folder.
#include <cstdio>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "lazarus/cli/commands.h"
#include "lazarus/cli/generation_flags.h"
#include "lazarus/core/error.h"
#include "lazarus/tokenizers/chat_template.h"

namespace lazarus::cli {

namespace {

constexpr int64_t kDefaultMaxNewTokens = 256;

struct GenerateFlags {
  ModelFlags model;
  SamplingFlags sampling;
  std::string prompt;
  bool raw = false;
};

// The prompt as the model should see it: through the chat template when the model has one
// (unless --raw), with BOS and friends from the template or the tokenizer.
std::vector<int64_t> prompt_ids(const io::PretrainedModel& m, const GenerateFlags& f) {
  const bool templated = !f.raw && m.tokenizer_config && m.tokenizer_config->has_chat_template();
  if (!f.sampling.system.empty() && !templated)
    throw ConfigError(f.raw ? "--system needs the chat template; drop --raw"
                            : fmt::format("--system needs a chat template, and {} has none "
                                          "(no chat_template in tokenizer_config.json)",
                                          m.folder));
  if (!f.sampling.template_vars.empty() && !templated)
    throw ConfigError(f.raw ? "--var sets chat template variables; drop --raw"
                            : fmt::format("--var needs a chat template, and {} has none", m.folder));
  std::vector<uint32_t> ids;
  if (templated) {
    tokenizers::ChatTemplateInputs in;
    if (!f.sampling.system.empty())
      in.messages.push_back({{"role", "system"}, {"content", f.sampling.system}});
    in.messages.push_back({{"role", "user"}, {"content", f.prompt}});
    in.add_generation_prompt = true;
    in.bos_token = m.tokenizer_config->bos_token;
    in.eos_token = m.tokenizer_config->eos_token;
    tokenizers::set_template_vars(in, f.sampling.template_vars);
    std::string text = tokenizers::ChatTemplate(m.tokenizer_config->chat_template()).render(in);
    ids = m.tokenizer->encode_ids(text, /*add_special_tokens=*/false);  // the template has them
  } else {
    ids = m.tokenizer->encode_ids(f.prompt, /*add_special_tokens=*/true);
  }
  return {ids.begin(), ids.end()};
}

void run_generate(const GenerateFlags& f) {
  io::PretrainedModel m = load_model_for_cli(f.model);
  GenerateFlags g = f;
  if (g.prompt == "-") g.prompt = std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::vector<int64_t> ids = prompt_ids(m, g);
  set_activity("generating");
  auto res = generate_to_stdout(m, ids, f.sampling, kDefaultMaxNewTokens);
  print_stats(res);
}

}  // namespace

void register_generate_command(CLI::App& app) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Generate text from a prompt with a Hugging Face model folder (streamed)");
  add_model_flags(cmd, f->model);
  cmd->add_option("--prompt,-p", f->prompt, "The prompt ('-' reads it from stdin)")->required();
  add_sampling_flags(cmd, f->sampling, kDefaultMaxNewTokens);
  cmd->add_flag("--raw", f->raw,
                "Feed the prompt as is (with the tokenizer's BOS), not through the chat template");
  cmd->footer(
      "The text goes to stdout; the load line and statistics (prompt and generation tokens/s)\n"
      "to stderr. Sampling defaults come from the folder's generation_config.json (greedy\n"
      "unless it sets do_sample); flags override them. Generation stops at the model's eos\n"
      "tokens, a --stop string, or --max-new-tokens.\n"
      "Examples:\n"
      "  lazarus generate --model ./SmolLM2-135M-Instruct --prompt \"What is a llama?\"\n"
      "  lazarus generate -m ./model -p \"Once upon a time\" --raw -t 0.8 --top-p 0.95 --seed 1\n"
      "  lazarus generate -m ./model -p \"List three fruits\" --stop \"\\n\\n\" --dtype bf16");
  cmd->callback([f] { run_generate(*f); });
}

}  // namespace lazarus::cli
