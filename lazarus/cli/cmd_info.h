// What `lazarus info` prints, shared by its files: the config summary (cmd_info.cpp) and the GGUF
// file description (cmd_info_gguf.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "lazarus/config/model_config.h"

namespace lazarus::cli {

/// Prints `title`, then the model's layers, head, parameter count and weight memory.
void print_model_summary(const std::string& title, const config::ModelConfig& m);
/// 1234567 -> "1,234,567".
std::string thousands(int64_t n);
/// `lazarus info --model FILE.gguf [--json]` (cmd_info_gguf.cpp): the file described from its
/// headers and metadata. Throws LoadError for a malformed file.
void print_gguf(const std::string& path, bool as_json);

}  // namespace lazarus::cli
