// The `lazarus` command line: parses the subcommand and hands over to its file.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "lazarus/cli/commands.h"
#include "lazarus/core/error.h"
#include "lazarus/core/version.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Lazarus: build, train and run language models from composable parts.\n"
      "Run `lazarus <command> --help` for the options of one command."};
  app.set_version_flag("--version", std::string("lazarus ") + lazarus::kVersion);
  app.require_subcommand(0, 1);
  lazarus::cli::register_tokenize_commands(app);
  lazarus::cli::register_chat_template_command(app);
  lazarus::cli::register_generate_command(app);
  lazarus::cli::register_chat_command(app);
  lazarus::cli::register_info_command(app);
  lazarus::cli::register_train_tokenizer_command(app);
  lazarus::cli::register_demo_command(app);
  lazarus::cli::register_train_command(app);
  lazarus::cli::register_finetune_command(app);
  lazarus::cli::register_hub_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lazarus::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
  }
  return 0;
}
