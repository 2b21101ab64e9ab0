#include "attestation/nsm_device_linux.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace kp::attestation {

namespace {

// include/uapi/linux/nsm.h: struct nsm_raw { nsm_iovec request, response; }
// with nsm_iovec { __u64 addr; __u64 len; } == struct iovec on 64-bit Linux.
struct NsmRaw {
  struct iovec request;
  struct iovec response;
};
constexpr unsigned long kNsmIoctlRaw = _IOWR(0x0A, 0x0, NsmRaw);
static_assert(sizeof(NsmRaw) == 32, "nsm_raw is two 16-byte iovecs");
static_assert(kNsmIoctlRaw == 0xC0200A00UL, "NSM_IOCTL_RAW");

std::string errno_text(int e) { return std::string(std::strerror(e)); }

class LinuxNsmDevice final : public NsmDevice {
 public:
  LinuxNsmDevice(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~LinuxNsmDevice() override { ::close(fd_); }
  LinuxNsmDevice(const LinuxNsmDevice&) = delete;
  LinuxNsmDevice& operator=(const LinuxNsmDevice&) = delete;

  Result<Bytes> transact(ByteView request) override {
    if (request.size() > kNsmRequestMaxBytes) {
      return Error{Errc::kNsmFailed, "nsm: request of " + std::to_string(request.size()) +
                                         " bytes exceeds 4096: NSM error InputTooLarge"};
    }
    std::lock_guard lock(mu_);
    NsmRaw raw{};
    raw.request.iov_base = const_cast<std::uint8_t*>(request.data());  // the driver only reads it
    raw.request.iov_len = request.size();
    raw.response.iov_base = response_.data();
    raw.response.iov_len = response_.size();
    int rc;
    do {
      rc = ::ioctl(fd_, kNsmIoctlRaw, &raw);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      const int e = errno;
      if (e == EMSGSIZE) {
        return Error{Errc::kNsmFailed, "nsm: " + path_ + ": request too large: NSM error InputTooLarge"};
      }
      return Error{Errc::kNsmFailed,
                   "nsm: " + path_ + ": ioctl failed: " + errno_text(e) + ": NSM error InternalError"};
    }
    // The driver writes back min(buffer, device reply) in response.len.
    if (raw.response.iov_len > response_.size()) {
      return Error{Errc::kNsmFailed, "nsm: " + path_ + ": response length out of range: NSM error InternalError"};
    }
    return Bytes(response_.begin(), response_.begin() + static_cast<std::ptrdiff_t>(raw.response.iov_len));
  }

 private:
  int fd_;
  std::string path_;
  std::mutex mu_;
  Bytes response_ = Bytes(kNsmResponseMaxBytes);
};

}  // namespace

Result<std::shared_ptr<NsmDevice>> open_nsm_device(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Error{Errc::kNsmFailed, "nsm: cannot open " + path + ": " + errno_text(errno)};
  }
  return std::shared_ptr<NsmDevice>(std::make_shared<LinuxNsmDevice>(fd, path));
}

}  // namespace kp::attestation
