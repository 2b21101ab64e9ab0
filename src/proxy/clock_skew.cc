#include "proxy/clock_skew.h"

namespace kp::proxy {

namespace {

using std::chrono::milliseconds;

milliseconds distance(SysTime a, SysTime b) noexcept {
  const auto d = std::chrono::duration_cast<milliseconds>(a - b);
  return d < milliseconds::zero() ? -d : d;
}

}  // namespace

std::optional<ClockSkew::Change> ClockSkew::observe(SysTime server_date) noexcept {
  const SysTime local = clock_.base().now();
  const milliseconds current = clock_.offset();
  // A Date names the second the answer was made in: its middle is the best
  // estimate of the server's time.
  const SysTime server = server_date + milliseconds(500);
  if (distance(server, local + current) < kThreshold) {
    return std::nullopt;
  }
  const auto next = std::chrono::duration_cast<milliseconds>(server - local);
  clock_.set_offset(next);
  return Change{current, next};
}

bool ClockSkew::signed_far_from(SysTime signed_at, SysTime server_date) noexcept {
  return distance(server_date + milliseconds(500), signed_at) >= kThreshold;
}

}  // namespace kp::proxy
