// Reading input files that strangers hand us: only regular files. A FIFO would block the open (or
// the read) until someone writes, a device such as /dev/zero never ends, and a directory is not
// text; each is refused with a message naming the path, before anything waits or allocates.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "lazarus/core/error.h"

namespace lazarus {

namespace detail {
inline const char* file_kind(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}
}  // namespace detail

/// Opens `path` for reading without blocking (a FIFO with no writer is not waited for) and checks
/// it is a regular file; returns the descriptor (blocking again) and its size. Throws E naming
/// the path and `what` it was to be ("config file", "training data"). The caller closes it.
template <class E = LoadError>
int open_regular_file(const std::string& path, const char* what, uint64_t* size = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw E(fmt::format("{}: cannot open this {}: {}", path, what, std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const char* kind = detail::file_kind(st.st_mode);
    ::close(fd);
    throw E(fmt::format("{}: is {}, not a regular file (a {} is read only from a file)", path, kind,
                        what));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (size) *size = uint64_t(st.st_size);
  return fd;
}

/// Throws E unless `path` is a regular file (see open_regular_file); for readers that stream the
/// file themselves.
template <class E = LoadError>
void require_regular_file(const std::string& path, const char* what) {
  ::close(open_regular_file<E>(path, what));
}

/// Reads a whole regular file of at most `max_bytes` (checked before anything is allocated).
template <class E = LoadError>
std::string read_regular_file(const std::string& path, const char* what, uint64_t max_bytes) {
  uint64_t size = 0;
  int fd = open_regular_file<E>(path, what, &size);
  if (size > max_bytes) {
    ::close(fd);
    throw E(fmt::format("{}: {} bytes, more than a {} may have ({})", path, size, what,
                        max_bytes));
  }
  std::string out(size_t(size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw E(fmt::format("{}: cannot read this {}: {}", path, what, std::strerror(err)));
    }
    if (n == 0) break;  // the file shrank while we read: keep what is there
    got += size_t(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace lazarus
