// File: base/instance_id.h
// Process-unique ids for objects that threads cache copies from. A thread's
// cached copy is keyed by the id of the object it came from, not by its
// address: an address is reused once the object is destroyed, an id never.
#pragma once

#include <atomic>
#include <cstdint>

namespace kp {

/// A number no earlier call in this process returned (never 0, so 0 can mean
/// "no object"). Thread-safe; one relaxed atomic increment.
inline std::uint64_t next_instance_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace kp
