// `lazarus tokenize` / `lazarus detokenize` (placeholder until the tokenizer lands).
#include "lazarus/cli/commands.h"

namespace lazarus::cli {
void register_tokenize_commands(CLI::App& app) {}
}  // namespace lazarus::cli
