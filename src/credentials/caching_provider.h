// File: credentials/caching_provider.h
//
// Caches a CredentialsSource's credentials for the request path and refreshes
// them with at most ONE fetch in flight:
//
//   now < expiry - refresh_window   cached credentials (hot path: the calling
//                                   thread's own copy, no lock; taken under the
//                                   lock once per thread and refresh, and kept,
//                                   wiped, until replaced or the thread exits)
//   inside the refresh window       cached credentials, and a background refresh
//                                   is started if none is running
//   expired / never fetched         callers wait for the fetch in flight (started
//                                   by the first of them) and share its result
//
// A failed refresh keeps the current credentials in service until they really
// expire; after that callers get Errc::kCredentialsUnavailable naming the
// source and the last error. After a failure no new fetch starts for
// `retry_after_failure` (callers without valid credentials fail fast with the
// last error), so an IMDS outage does not turn into one timeout per request.
// Credentials without an expiration are re-fetched every `refresh_without_expiry`
// and never expire.
//
// Waiters resume on their own executor. No lock is held across co_await. The
// refresh runs detached on the executor of the caller that started it and
// keeps the shared state alive, so destroying the provider mid-refresh is safe.
//
// Depends on base/, sigv4/, credentials/provider.h,
// credentials/source.h and Asio.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "credentials/source.h"
#include "credentials/provider.h"

namespace kp::credentials {

struct CacheOptions {
  std::chrono::seconds refresh_window{300};           // refresh this long before expiry
  std::chrono::seconds retry_after_failure{10};       // no new fetch sooner after a failure
  std::chrono::seconds refresh_without_expiry{3600};  // credentials without Expiration
  const Clock* clock = &SystemClock::instance();
  /// Called after every fetch with its outcome and, after a success, the new
  /// credentials' expiration (nullopt: they do not expire), after a failure
  /// its reason (the source's message: never a secret; "" on success),
  /// outside any lock; the proxy wires ProxyMetrics::credential_refresh and
  /// its log here. Must be cheap and not throw.
  std::function<void(bool ok, std::optional<SysTime> expiration, std::string_view reason)> on_refresh;
  /// Fetched credentials that have already expired by `clock` are used for
  /// this long anyway (and refreshed half-way), as botocore does for IMDS: the
  /// source may be serving the last keys it has, or this clock may be ahead
  /// (the proxy learns KMS's time from its first answer). 0 = refuse them.
  std::chrono::seconds expired_grace{300};
  /// Told (outside any lock) when that happens, for the log.
  std::function<void(const std::string& message)> on_warning;
};

struct RefreshStats {
  std::uint64_t refreshes = 0;  // successful fetches
  std::uint64_t failures = 0;   // failed fetches
  bool in_flight = false;
  std::optional<SysTime> expiration;    // of the credentials being served
  std::optional<SysTime> last_success;  // when the last successful fetch finished
  std::string last_error;               // message of the last failure ("" if none)
};

class CachingProvider final : public credentials::CredentialsProvider {
 public:
  explicit CachingProvider(std::shared_ptr<CredentialsSource> source, CacheOptions opts = {});
  ~CachingProvider() override;

  CachingProvider(const CachingProvider&) = delete;
  CachingProvider& operator=(const CachingProvider&) = delete;

  boost::asio::awaitable<Result<std::shared_ptr<const sigv4::Credentials>>> get() override;

  /// Fetches now (joining a fetch already in flight) and waits for it,
  /// regardless of the cache and of the failure back-off: for a startup
  /// warm-up that reports a broken source before the first request.
  boost::asio::awaitable<Result<std::shared_ptr<const sigv4::Credentials>>> refresh();

  RefreshStats stats() const;
  const std::string& source_name() const;

  struct State;  // shared with the background refresh (implementation detail)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kp::credentials
