#include "proxy/clock_skew.h"

#include <cstdint>

namespace kp::proxy {

namespace {

using std::chrono::milliseconds;

// Times as milliseconds since the epoch: differences of any two SysTimes
// fit (nanosecond differences overflow past ~292 years, and a parsed Date
// may be anywhere in 1900..2199 while the clock is corrected the other way).
std::int64_t ms(SysTime t) noexcept { return unix_ms(t); }

std::int64_t abs64(std::int64_t v) noexcept { return v < 0 ? -v : v; }

constexpr std::int64_t kHalfSecond = 500;  // a Date names a whole second: its middle is the best estimate

}  // namespace

std::optional<ClockSkew::Change> ClockSkew::observe(SysTime server_date) noexcept {
  const std::int64_t server = ms(server_date) + kHalfSecond;
  const std::int64_t local = ms(clock_.base().now());
  const milliseconds current = clock_.offset();
  if (abs64(server - (local + current.count())) < milliseconds(kThreshold).count()) {
    return std::nullopt;
  }
  const milliseconds next(server - local);
  if (next > kMaxCorrection || next < -kMaxCorrection) {
    return std::nullopt;  // not a clock that drifted: a broken Date (or clock)
  }
  clock_.set_offset(next);
  return Change{current, next};
}

bool ClockSkew::signed_far_from(SysTime signed_at, SysTime server_date) noexcept {
  return abs64(ms(server_date) + kHalfSecond - ms(signed_at)) >= milliseconds(kThreshold).count();
}

}  // namespace kp::proxy
