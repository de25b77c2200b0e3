// Whole-file bytes for the format readers: private mappings with the SIGBUS guard, or owned
// copies. See mapped_file.h.
#include "lazarus/formats/mapped_file.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "lazarus/core/error.h"
#include "lazarus/core/regular_file.h"

namespace lazarus::formats {

namespace {

// ---- the SIGBUS guard (see mapped_file_guard_installed in mapped_file.h, docs/loading.md) ----
//
// A mapped file that shrinks under us (truncated, or rewritten in place by another program) turns
// the next read of a page past its new end into SIGBUS, which would kill the process with no word
// of why. Every live mapping is entered in a fixed table that the handler reads without locks;
// a fault inside one prints which file changed and exits with kMappedFileChangedExit. Faults
// elsewhere get the default action, as if no handler were there.

struct MappedRange {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> begin{0};  // 0: slot free or being filled
  uintptr_t end = 0;
  char path[512] = {};
};

constexpr int kMaxMappedRanges = 1024;
MappedRange g_mapped[kMaxMappedRanges];
std::atomic<bool> g_guard_installed{false};

void write_all(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= size_t(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto a = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& r : g_mapped) {
    const uintptr_t b = r.begin.load(std::memory_order_acquire);
    if (b != 0 && a >= b && a < r.end) {
      static const char pre[] = "lazarus: model file ";
      static const char post[] =
          " changed on disk while in use (it was truncated or rewritten in place); stopping. "
          "Replace model files by writing a new file and renaming it over the old one.\n";
      write_all(pre, sizeof(pre) - 1);
      write_all(r.path, ::strnlen(r.path, sizeof(r.path)));
      write_all(post, sizeof(post) - 1);
      ::_exit(kMappedFileChangedExit);
    }
  }
  // Not ours: the default action, as without the handler. A fault re-runs the faulting access on
  // return; a SIGBUS sent by kill() is raised again.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info->si_code <= 0) ::raise(sig);
}

// Installs on_sigbus unless the program has its own SIGBUS handler (which we leave alone).
void install_guard_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (::sigaction(SIGBUS, nullptr, &old) != 0) return;
    const bool is_default = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
    if (!is_default) return;
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGBUS, &sa, nullptr) == 0) g_guard_installed = true;
  });
}

// Enters [p, p + len) in the table; returns the slot (-1 when the table is full: no message then).
int register_mapping(const void* p, size_t len, const std::string& path) {
  for (int i = 0; i < kMaxMappedRanges; ++i) {
    MappedRange& r = g_mapped[i];
    if (r.used.exchange(true, std::memory_order_acq_rel)) continue;
    const size_t n = std::min(path.size(), sizeof(r.path) - 1);
    std::memcpy(r.path, path.data(), n);
    r.path[n] = '\0';
    r.end = reinterpret_cast<uintptr_t>(p) + len;
    r.begin.store(reinterpret_cast<uintptr_t>(p), std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_mapping(int slot) {
  if (slot < 0) return;
  g_mapped[slot].begin.store(0, std::memory_order_release);
  g_mapped[slot].used.store(false, std::memory_order_release);
}

}  // namespace

bool mapped_file_guard_installed() { return g_guard_installed.load(); }

FileBytes map_file(const std::string& path, const char* what) {
  uint64_t size = 0;
  const int fd = open_regular_file(path, what, &size);  // a FIFO is not waited for
  FileBytes out;
  out.size = size;
  if (size == 0) {  // nothing to map (mmap refuses length 0)
    ::close(fd);
    return out;
  }
  // Private, writable mapping: pages are copy-on-write, so nothing can ever write to the file.
  void* p = mmap(nullptr, size_t(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED)
    throw LoadError(fmt::format("{}: mmap failed: {}", path, std::strerror(err)));
  const size_t len = size_t(size);
  install_guard_once();
  const int slot = register_mapping(p, len, path);
  out.owner = std::shared_ptr<void>(p, [len, slot](void* q) {
    unregister_mapping(slot);
    munmap(q, len);
  });
  out.data = static_cast<const unsigned char*>(p);
  out.mapped = true;
  return out;
}

void release_pages(const FileBytes& file, const unsigned char* p, size_t n) {
  if (!file.mapped || n == 0 || p < file.data || p + n > file.data + file.size) return;
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);  // advisory: failure is harmless
}

FileBytes copy_bytes(const std::string& bytes) {
  auto copy = std::make_shared<std::string>(bytes);
  FileBytes out;
  out.data = reinterpret_cast<const unsigned char*>(copy->data());
  out.size = copy->size();
  out.owner = std::move(copy);
  return out;
}

Tensor file_tensor(const FileBytes& file, const unsigned char* p, size_t nbytes, Shape shape,
                   DType dtype) {
  // Quantized blocks need only their f16 fields aligned.
  const size_t align = is_quantized(dtype) ? 2 : dtype_size(dtype);
  if (nbytes > 0 && reinterpret_cast<uintptr_t>(p) % align == 0)
    return from_blob(const_cast<unsigned char*>(p), nbytes, std::move(shape), dtype, file.owner);
  Tensor t = empty(std::move(shape), dtype);
  if (nbytes) std::memcpy(t.raw_data(), p, nbytes);
  return t;
}

}  // namespace lazarus::formats
