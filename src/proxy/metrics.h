// File: proxy/metrics.h
// Request-path counters and latency histograms, lock-free (atomics), read by
// the /metrics endpoint and by tests as oracles.
//
// The per-request counters are sharded by thread: each I/O thread adds to its
// own cache lines and a scrape sums the shards. With one shared line the I/O
// threads took it from each other on every request (~0.1-0.2 us a transfer
// on the team's VM, several lines per request).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kp::proxy {

namespace detail {
inline constexpr std::size_t kMetricShards = 8;
/// This thread's shard (assigned round-robin on first use).
std::size_t metric_shard() noexcept;
}  // namespace detail

/// Fixed-bucket latency histogram (seconds), Prometheus-compatible.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                     0.0025,  0.005,  0.01,    0.025,  0.05,
                                                     0.1,     0.25,   1.0,     5.0};
  void observe(std::chrono::nanoseconds d) noexcept;
  /// Appends Prometheus text lines for `name` with `labels` ("" or `k="v"`).
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  // No separate count: _count is rendered as the sum of the buckets read, so
  // a scrape during traffic still has +Inf == _count (_sum may be one
  // observation ahead or behind: it is read on its own).
  struct alignas(64) Shard {
    std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::array<Shard, detail::kMetricShards> shards_{};
};

struct PhaseTimes {
  std::chrono::nanoseconds attestation{0};
  std::chrono::nanoseconds upstream{0};
  std::chrono::nanoseconds decryption{0};
  std::chrono::nanoseconds total{0};
};

class ProxyMetrics {
 public:
  /// Records one finished request. `operation` is the KMS operation name
  /// (unknown ones are counted as "Other").
  void record(std::string_view operation, unsigned status, const PhaseTimes& t) noexcept;
  /// The same with the operation's index into kms::all_operations() (its size
  /// or more: "Other"), as the handler has it at hand.
  void record(std::size_t operation_index, unsigned status, const PhaseTimes& t) noexcept;
  /// A credentials fetch finished; after a success, `expiration` is the new
  /// credentials' (nullopt: they do not expire).
  void credential_refresh(bool ok, std::optional<std::chrono::system_clock::time_point> expiration) noexcept {
    if (ok) {  // before the count, so a scrape that sees the count sees this expiry
      credential_expiry_s_.store(
          expiration ? std::chrono::duration_cast<std::chrono::seconds>(expiration->time_since_epoch()).count() : 0,
          std::memory_order_relaxed);
    }
    (ok ? credential_refreshes_ : credential_failures_).fetch_add(1, std::memory_order_release);
  }
  /// Fixed credentials that expire (AWS_CREDENTIAL_EXPIRATION): their
  /// expiry, shown as for refreshed ones, without counting a refresh.
  void credential_expiry(std::chrono::system_clock::time_point expiration) noexcept {
    credential_expiry_s_.store(std::chrono::duration_cast<std::chrono::seconds>(expiration.time_since_epoch()).count(),
                               std::memory_order_relaxed);
  }
  std::uint64_t requests_total() const noexcept;
  /// Successful credential fetches so far (kms_proxy_credential_refreshes_total).
  std::uint64_t credential_refreshes() const noexcept { return credential_refreshes_.load(std::memory_order_acquire); }
  /// The signing clock's correction changed (proxy/clock_skew.h).
  void clock_offset(std::chrono::milliseconds offset) noexcept {
    clock_offset_ms_.store(offset.count(), std::memory_order_relaxed);
  }
  /// A request was signed again and resent after KMS refused its time.
  void clock_skew_retry() noexcept { clock_skew_retries_.fetch_add(1, std::memory_order_relaxed); }

  /// Prometheus text exposition of everything recorded here.
  std::string render() const;

 private:
  static constexpr std::size_t kOps = 64;
  static constexpr std::size_t kStatusClasses = 6;  // 0: other, 1xx..5xx
  struct alignas(64) RequestShard {
    std::atomic<std::uint64_t> requests{0};
    std::array<std::array<std::atomic<std::uint64_t>, kStatusClasses>, kOps> by_op_status{};
  };
  std::array<RequestShard, detail::kMetricShards> request_shards_{};
  Histogram attestation_, upstream_, decryption_, total_;
  std::atomic<std::uint64_t> credential_refreshes_{0};
  std::atomic<std::uint64_t> credential_failures_{0};
  std::atomic<std::int64_t> credential_expiry_s_{0};  // Unix seconds; 0: none or not expiring
  std::atomic<std::int64_t> clock_offset_ms_{0};
  std::atomic<std::uint64_t> clock_skew_retries_{0};
};

}  // namespace kp::proxy
