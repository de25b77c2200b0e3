// SHA-256 (FIPS 180-4), used to verify downloaded files against the hub's LFS etag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace lazarus::io {

/// Incremental SHA-256: update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  /// Lower-case 64-character hex digest; the object is spent afterwards.
  std::string hex_digest();

 private:
  void block(const unsigned char* p);
  uint32_t h_[8];
  unsigned char buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

/// SHA-256 of a byte string, in hex.
std::string sha256_hex(std::string_view bytes);
/// SHA-256 of a file's contents, in hex; throws LoadError when it cannot be read.
std::string sha256_hex_file(const std::filesystem::path& path);

}  // namespace lazarus::io
