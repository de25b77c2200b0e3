// Helpers shared by hub.cpp and hub_download.cpp (not part of the public API).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lazarus/io/hub.h"

namespace lazarus::io::detail {

/// `s` without control characters, cut at 200 characters: safe inside an error message.
std::string printable(const std::string& s);
/// " (did you mean the preset 'x'?)" when `name` is close to a preset, else "".
std::string preset_hint(const std::string& name);
/// The error for a model the cache lacks while offline, naming the cache and the missing files.
HubError offline_error(const std::string& repo_id, const std::string& revision,
                       const std::filesystem::path& cache_dir,
                       const std::optional<std::filesystem::path>& snapshot,
                       const std::vector<std::string>& missing);

}  // namespace lazarus::io::detail
