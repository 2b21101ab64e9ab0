#include "base/file_input.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace kp {

namespace {

// Reads the whole file into `out`, which never grows past `limit` bytes.
// `secret`: the read buffer is wiped before returning.
Result<void> read_into(const std::string& path, std::size_t limit, std::string& out, bool secret) {
  // O_NONBLOCK: opening a FIFO nobody writes to must not block; reads from
  // a FIFO, socket or terminal then wait in poll() under one deadline.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    return fail(e == ENOENT || e == ENOTDIR ? Errc::kNotFound : Errc::kValidation, path + ": " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail(Errc::kValidation, path + " is a directory");
  }
  const auto deadline = std::chrono::steady_clock::now() + kInputStreamTimeout;
  char buf[16 * 1024];
  struct WipeOnExit {
    char* p;
    std::size_t n;
    bool on;
    ~WipeOnExit() {
      if (on) {
        secure_wipe(p, n);
      }
    }
  } wipe{buf, sizeof buf, secret};
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd pfd{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) {
        ::close(fd);
        return fail(Errc::kValidation, path + ": nothing to read within " +
                                           std::to_string(kInputStreamTimeout.count()) +
                                           " s (a FIFO nobody writes to?)");
      }
      continue;
    }
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return fail(Errc::kValidation, path + ": " + std::strerror(e));
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<std::size_t>(n) > limit) {
      ::close(fd);
      return fail(Errc::kValidation, path + " is larger than " + std::to_string(limit) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return {};
}

}  // namespace

Result<std::string> read_input_file(const std::string& path, std::size_t limit) {
  std::string out;
  if (auto r = read_into(path, limit, out, false); !r) {
    return r.error();
  }
  return out;
}

Result<SecretBytes> read_secret_input_file(const std::string& path, std::size_t limit) {
  // Room for the whole file up front: the string never reallocates, so no
  // copy of its bytes is left behind in freed memory; take() wipes it.
  std::string out;
  out.reserve(limit);
  auto r = read_into(path, limit, out, true);
  SecretBytes secret = SecretBytes::take(std::move(out));
  if (!r) {
    return r.error();
  }
  return secret;
}

std::string input_file_reason(const Error& e, const std::string& path) {
  const std::string& m = e.message;
  if (m.rfind(path + ": ", 0) == 0) {
    return m.substr(path.size() + 2);
  }
  if (m.rfind(path + " ", 0) == 0) {
    return "it" + m.substr(path.size());
  }
  return m;
}

}  // namespace kp
