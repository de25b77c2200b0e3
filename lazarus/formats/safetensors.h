// safetensors read/write (https://github.com/huggingface/safetensors format): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {str: str}}, then the tensor bytes. Reading memory-maps the file and hands out zero-copy tensors
// where alignment allows; validation is as strict as the reference implementation.
#pragma once

#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lazarus/formats/mapped_file.h"
#include "lazarus/tensor/tensor.h"

namespace lazarus::formats {

/// Largest header accepted (the reference implementation's limit).
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

/// An open safetensors file: a validated header and a read-only mapping of the file.
class SafetensorsFile {
 public:
  /// Opens and validates `path`; throws LoadError naming the file, the tensor and the numbers.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  /// Validates an in-memory image (used by the fuzzer and tests); the bytes are copied.
  static std::shared_ptr<SafetensorsFile> from_bytes(const std::string& bytes,
                                                     const std::string& name = "<memory>");

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  /// The tensor `name`: a zero-copy view of the mapping when aligned for its dtype, else a copy.
  /// Throws LoadError for unknown names.
  Tensor tensor(const std::string& name) const;
  /// All tensors by name.
  std::map<std::string, Tensor> tensors() const;

  ~SafetensorsFile();

 private:
  SafetensorsFile() = default;
  void parse(const char* what);
  std::string path_;
  FileBytes file_;  // the mapping (or copy); its owner keeps zero-copy tensors valid
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Writes tensors (contiguous copies are made as needed) to `path` atomically: a temporary file in
/// the same folder, then a rename, so an existing file is never left half-written.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
/// The bytes save_safetensors would write.
std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

/// A parsed model.safetensors.index.json.
struct SafetensorsIndex {
  std::string path;  // the index file
  /// Shard file (inside the folder) -> the tensor names the index places in it.
  std::map<std::string, std::vector<std::string>> shards;
};

/// Reads `folder`/model.safetensors.index.json: {"weight_map": {tensor: shard file}, "metadata":
/// {...}}. Throws LoadError naming the file and entry for malformed JSON, a missing or empty
/// weight_map, non-string entries and shard paths that leave the folder (absolute, `..`,
/// backslashes, symlinks out).
SafetensorsIndex read_safetensors_index(const std::string& folder);

/// Checks an opened shard against the index: every listed tensor present, nothing unlisted.
void check_shard(const SafetensorsIndex& index, const SafetensorsFile& shard,
                 const std::vector<std::string>& listed);

/// Loads a (possibly sharded) checkpoint folder: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json` (loaded in parallel). Index entries must name files inside the
/// folder; every listed tensor must be found in its shard.
std::map<std::string, Tensor> load_safetensors_folder(const std::string& folder);
/// The same on a background thread.
std::future<std::map<std::string, Tensor>> load_safetensors_folder_async(const std::string& folder);

/// safetensors dtype string ("F32", "BF16", ...) <-> DType; throws LoadError for types we lack.
DType dtype_from_safetensors(const std::string& s, const std::string& where);
const char* dtype_to_safetensors(DType dt);

}  // namespace lazarus::formats
