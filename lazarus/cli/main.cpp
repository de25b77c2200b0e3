// The `lazarus` command line: parses the subcommand and hands over to its file.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include <CLI/CLI.hpp>

#include "lazarus/cli/commands.h"
#include "lazarus/core/error.h"
#include "lazarus/core/version.h"

namespace {

// OpenMP (libgomp) reads its wait policy once, when it loads, before main. Left unset, workers
// spin after every parallel region; when other processes share the cores, that spinning takes the
// time slices the work needs (decoding the shipped model fell from ~130-190 to ~9-16 tokens/s on
// a loaded 2-core machine; docs/performance.md). So when the user has not chosen a policy
// (OMP_WAIT_POLICY or GOMP_SPINCOUNT), the CLI runs itself again, once, with
// OMP_WAIT_POLICY=PASSIVE. LAZARUS_OMP_REEXEC guards against a loop; if exec fails, it carries
// on with the runtime's default.
void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") ||
      std::getenv("LAZARUS_OMP_REEXEC"))
    return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0 || setenv("LAZARUS_OMP_REEXEC", "1", 1) != 0)
    return;
  execv("/proc/self/exe", argv);
  unsetenv("OMP_WAIT_POLICY");  // exec failed: this process keeps libgomp's default
}

std::string g_activity;

}  // namespace

namespace lazarus::cli {
void set_activity(std::string what) { g_activity = std::move(what); }
const std::string& activity() { return g_activity; }
}  // namespace lazarus::cli

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
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
  lazarus::cli::register_convert_command(app);
  lazarus::cli::register_train_tokenizer_command(app);
  lazarus::cli::register_demo_command(app);
  lazarus::cli::register_train_command(app);
  lazarus::cli::register_finetune_command(app);
  lazarus::cli::register_hub_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::bad_alloc&) {
    // A size no check foresaw: say what ran out and during what, not the bare "std::bad_alloc".
    std::string what = g_activity;
    if (what.empty() && !app.get_subcommands().empty())
      what = "running `lazarus " + app.get_subcommands()[0]->get_name() + "`";
    std::fprintf(stderr,
                 "error: out of memory while %s (an allocation failed; use smaller sizes, or "
                 "free memory)\n",
                 what.empty() ? "starting" : what.c_str());
    return 1;
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
