// `lazarus chat-template` (placeholder until the template engine lands).
#include "lazarus/cli/commands.h"

namespace lazarus::cli {
void register_chat_template_command(CLI::App& app) {}
}  // namespace lazarus::cli
