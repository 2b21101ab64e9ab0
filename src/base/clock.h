// File: base/clock.h
// Injectable wall clock: SigV4 dates, certificate validity and credential
// expiry all read time through a Clock so tests can pin it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kp {

using SysTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
};

class SystemClock final : public Clock {
 public:
  SysTime now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& instance() {
    static const SystemClock c;
    return c;
  }
};

/// A clock that stands still until told to move (thread-safe).
class FixedClock final : public Clock {
 public:
  explicit FixedClock(SysTime t) : ms_(to_ms(t)) {}
  SysTime now() const override { return SysTime(std::chrono::milliseconds(ms_.load())); }
  void set(SysTime t) { ms_.store(to_ms(t)); }
  void advance(std::chrono::milliseconds d) { ms_.fetch_add(d.count()); }

 private:
  static std::int64_t to_ms(SysTime t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
  std::atomic<std::int64_t> ms_;
};

/// Another clock plus an adjustable offset (thread-safe). The proxy signs
/// with its clock corrected by KMS's Date header (proxy/clock_skew.h);
/// kms-emulator can run ahead of or behind the machine to test that.
/// `base` must outlive this clock.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(const Clock& base, std::chrono::milliseconds offset = {})
      : base_(base), offset_ms_(offset.count()) {}
  SysTime now() const override { return base_.now() + offset(); }
  const Clock& base() const noexcept { return base_; }
  std::chrono::milliseconds offset() const noexcept {
    return std::chrono::milliseconds(offset_ms_.load(std::memory_order_relaxed));
  }
  void set_offset(std::chrono::milliseconds d) noexcept { offset_ms_.store(d.count(), std::memory_order_relaxed); }

 private:
  const Clock& base_;
  std::atomic<std::int64_t> offset_ms_;
};

/// Milliseconds since the Unix epoch.
inline std::int64_t unix_ms(SysTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline SysTime from_unix_ms(std::int64_t ms) { return SysTime(std::chrono::milliseconds(ms)); }

}  // namespace kp
