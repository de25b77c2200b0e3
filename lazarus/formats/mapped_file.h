// The bytes of a whole model file for the format readers (safetensors, GGUF): a private read-only
// memory mapping guarded against the file shrinking under it, or an owned copy of bytes in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lazarus/tensor/tensor.h"

namespace lazarus::formats {

/// Exit status of a process stopped because a mapped model file shrank while in use.
inline constexpr int kMappedFileChangedExit = 74;  // EX_IOERR (sysexits.h)

/// True once map_file has installed its SIGBUS handler (it does so on the first mapping unless the
/// program already handles SIGBUS). While a mapping is alive, a read of a page that its file no
/// longer has (the file was truncated or rewritten in place) would raise SIGBUS; the handler then
/// prints "lazarus: model file <path> changed on disk while in use ..." to stderr and exits with
/// kMappedFileChangedExit instead of crashing. Faults outside the mappings keep the default action.
/// See docs/loading.md.
bool mapped_file_guard_installed();

/// A file's bytes and the owner that keeps them valid: zero-copy tensors share `owner`.
struct FileBytes {
  std::shared_ptr<void> owner;
  const unsigned char* data = nullptr;
  uint64_t size = 0;
  /// True for map_file's mappings (release_pages acts only on those).
  bool mapped = false;
};

/// Maps the regular file `path` privately (copy-on-write, so nothing can write to the file) and
/// enters it in the SIGBUS guard's table. `what` names the kind of file in errors ("GGUF file").
/// Throws LoadError naming the path.
FileBytes map_file(const std::string& path, const char* what);

/// After a caller has copied bytes [p, p + n) of a mapped file into memory of its own (a reordered
/// or widened weight), drops the pages that lie wholly inside the range from the process's
/// resident set (madvise MADV_DONTNEED), so the file's copy is not counted twice; a later read
/// maps them from the file again. Pages shared with bytes outside the range stay. No-op for
/// copy_bytes's memory. Nothing may have written to the range (the mapping is copy-on-write: a
/// written page would return to the file's bytes).
void release_pages(const FileBytes& file, const unsigned char* p, size_t n);

/// An owned copy of `bytes` (the readers' from_bytes, used by tests and fuzzers).
FileBytes copy_bytes(const std::string& bytes);

/// The tensor stored in `nbytes` bytes at `p` inside `file` (the caller has checked the range and
/// that shape x dtype takes nbytes): a zero-copy view sharing file.owner when `p` is aligned for
/// the dtype, else a copy.
Tensor file_tensor(const FileBytes& file, const unsigned char* p, size_t nbytes, Shape shape,
                   DType dtype);

}  // namespace lazarus::formats
