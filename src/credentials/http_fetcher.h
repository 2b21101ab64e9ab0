// File: credentials/http_fetcher.h
//
// The one seam through which credential sources talk HTTP. Inside an enclave
// there is no network: the container endpoint and IMDS are reached through the
// egress path (HTTP CONNECT / absolute-form proxy, or vsock) that the caller
// configures in net/. Sources only see this interface, so
//   - production wraps net::UpstreamClient (net_fetcher.h),
//   - tests point a fetcher at fake endpoints on 127.0.0.1.
//
// fetch_with_deadline() bounds every exchange with a total timeout even if the
// fetcher forgets to (the reference implementation had none, and hung).
//
// Depends on base/ and Asio (awaitable) only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "base/http_message.h"
#include "base/result.h"

namespace kp::credentials {

/// Where a request goes: scheme "http" or "https", host name or IP literal
/// (IPv6 without brackets), port.
struct HttpEndpoint {
  std::string scheme = "http";
  std::string host;
  std::uint16_t port = 80;

  /// "http://169.254.169.254:80" (IPv6 hosts in brackets). For logs.
  std::string to_string() const;
};

struct FetchTimeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds total{5000};
};

class HttpFetcher {
 public:
  virtual ~HttpFetcher() = default;
  /// One request/response exchange. `req.target` is origin-form; the fetcher
  /// adds Host/Content-Length as its transport needs. Errors carry the net
  /// layer's codes (kUpstreamUnreachable, kUpstreamTimeout, ...). Must honour
  /// cancellation (fetch_with_deadline cancels it on timeout).
  virtual boost::asio::awaitable<Result<HttpResponse>> fetch(const HttpEndpoint& endpoint,
                                                             HttpRequest req,
                                                             const FetchTimeouts& timeouts) = 0;
};

/// fetcher.fetch(...) raced against `timeouts.total`; never throws. On timeout
/// the result is Errc::kUpstreamTimeout.
boost::asio::awaitable<Result<HttpResponse>> fetch_with_deadline(HttpFetcher& fetcher,
                                                                 const HttpEndpoint& endpoint,
                                                                 HttpRequest req,
                                                                 const FetchTimeouts& timeouts);

/// Largest credentials/metadata response body accepted (they are < 2 KiB).
inline constexpr std::size_t kMaxResponseBody = 64 * 1024;

}  // namespace kp::credentials
