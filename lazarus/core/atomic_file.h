// Writes a whole file so that readers see the old content or the new one, never half of it:
// a temporary file in the same folder, flushed, then renamed over the target.
#pragma once

#include <cstdio>
#include <unistd.h>
#include <filesystem>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus {

/// Replaces `path` with `bytes` atomically. Throws LoadError naming the file on any failure
/// (and leaves an existing file untouched).
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  // The pid keeps two processes writing the same file from sharing a temporary.
  const fs::path tmp = fmt::format("{}.tmp.{}", path.string(), ::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw LoadError(fmt::format("{}: cannot open for writing", tmp.string()));
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw LoadError(fmt::format("{}: write failed (disk full?)", tmp.string()));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw LoadError(
        fmt::format("{}: rename from temporary file failed: {}", path.string(), ec.message()));
  }
}

}  // namespace lazarus
