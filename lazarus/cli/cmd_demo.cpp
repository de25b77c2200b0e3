// `lazarus demo` (placeholder until the engine lands).
#include "lazarus/cli/commands.h"

namespace lazarus::cli {
void register_demo_command(CLI::App& app) {}
}  // namespace lazarus::cli
