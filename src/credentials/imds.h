// File: credentials/imds.h
//
// Source 3 of the chain: the EC2 instance role via IMDSv2, reached through the
// caller's HttpFetcher (inside an enclave: the egress proxy, which forwards to
// 169.254.169.254 from the parent instance).
//
//   PUT /latest/api/token            X-aws-ec2-metadata-token-ttl-seconds: 21600
//   GET /latest/meta-data/iam/security-credentials/         -> role name
//   GET /latest/meta-data/iam/security-credentials/<role>   -> {"Code":"Success", ...}
//   GET /latest/meta-data/placement/region                  -> region (separate use)
// Every GET carries X-aws-ec2-metadata-token. The session token is reused
// until shortly before its TTL ends; a 401 on a GET drops it and retries once.
// There is deliberately no IMDSv1 fallback.
//
// A failing or timing-out token PUT is the classic symptom of a metadata hop
// limit of 1 seen from a container or through a proxy hop: the error says so.
//
// Thread safety: ImdsClient may be used from coroutines on any executor.
// Depends on base/, sigv4/credentials.h, credentials/http_fetcher.h and Asio.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/secret.h"
#include "credentials/environment.h"
#include "credentials/http_fetcher.h"
#include "credentials/source.h"

namespace kp::credentials {

struct ImdsOptions {
  /// IMDS itself; tests point it at 127.0.0.1:<port>.
  HttpEndpoint endpoint{"http", "169.254.169.254", 80};
  std::chrono::seconds token_ttl{21600};
  FetchTimeouts timeouts;
  const Clock* clock = &SystemClock::instance();
};

/// IMDS's IPv6 address (Nitro instances), for AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6.
inline constexpr std::string_view kImdsIpv6Host = "fd00:ec2::254";

/// AWS_EC2_METADATA_SERVICE_ENDPOINT ("http://[fd00:ec2::254]" style) as an
/// endpoint, else http://[fd00:ec2::254] when AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
/// is IPv6 (as the SDKs read them); nullopt when neither says anything; an
/// error when malformed.
Result<std::optional<HttpEndpoint>> imds_endpoint_from_env(const EnvLookup& env);

/// True when AWS_EC2_METADATA_DISABLED is "true" (any case).
bool imds_disabled_by_env(const EnvLookup& env);

class ImdsClient {
 public:
  ImdsClient(std::shared_ptr<HttpFetcher> http, ImdsOptions opts);

  /// GET `path` with a session token. Non-200 statuses are returned as
  /// responses (the caller words the error), except 401, which triggers one
  /// retry with a new token. Transport errors and token failures are errors.
  boost::asio::awaitable<Result<HttpResponse>> get(std::string_view path);

  /// The instance's region (placement/region), validated ([a-z0-9-]+).
  boost::asio::awaitable<Result<std::string>> region();

  /// "IMDSv2 http://169.254.169.254:80".
  const std::string& name() const noexcept { return name_; }
  /// Number of token PUTs that succeeded (for tests and diagnostics).
  std::uint64_t tokens_fetched() const;

 private:
  boost::asio::awaitable<Result<std::string>> token(bool force_new);

  std::shared_ptr<HttpFetcher> http_;
  ImdsOptions opts_;
  std::string name_;

  mutable std::mutex mu_;  // guards the token cache; never held across co_await
  SecretBytes token_;
  SysTime token_refresh_at_{};
  std::uint64_t tokens_fetched_ = 0;
};

class ImdsCredentialsSource final : public CredentialsSource {
 public:
  explicit ImdsCredentialsSource(std::shared_ptr<ImdsClient> client);

  const std::string& name() const override { return client_->name(); }
  boost::asio::awaitable<Result<sigv4::Credentials>> fetch() override;

 private:
  std::shared_ptr<ImdsClient> client_;
};

/// Convenience for startup when no region is configured anywhere else.
boost::asio::awaitable<Result<std::string>> fetch_region_from_imds(
    std::shared_ptr<HttpFetcher> http, ImdsOptions opts);

}  // namespace kp::credentials
