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

/// Milliseconds since the Unix epoch.
inline std::int64_t unix_ms(SysTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline SysTime from_unix_ms(std::int64_t ms) { return SysTime(std::chrono::milliseconds(ms)); }

}  // namespace kp
