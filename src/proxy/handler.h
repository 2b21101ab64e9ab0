// File: proxy/handler.h
//
// The request path of `kms-proxy serve`: one KMS JSON 1.1 request in, one
// response out.
//
//   SDK request -> validate (POST /, JSON 1.1, known X-Amz-Target, region)
//     -> attested op without its own Recipient? add a coalesced attestation
//        document binding our RSA key (kms::add_recipient)
//     -> drop the client's signature, re-sign with the proxy's credentials
//        and its clock corrected by KMS's Date header (proxy/clock_skew.h)
//     -> upstream (pooled TLS); refused for the signature's time? sign again
//        with the corrected clock and send once more
//     -> 200 with CiphertextForRecipient? open the CMS envelope and put the
//        plaintext where the SDK expects it (kms::open_recipient_response)
//   Every local failure becomes a KMS-style JSON error (base/error.h maps it).
//
// Nothing here logs bodies, plaintexts or credentials.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <functional>
#include <memory>

#include "base/clock.h"
#include "base/http_message.h"
#include "config/config.h"
#include "proxy/route_table.h"

namespace kp::crypto {
class RsaKeyPair;
}
namespace kp::net {
class UpstreamClient;
}
namespace kp::credentials {
class CredentialsProvider;
}

namespace kp::proxy {

class AttestationSource;
class ClockSkew;
class ProxyMetrics;

struct HandlerOptions {
  config::UpstreamOptions upstream;  // default region and per-region endpoints
};

struct HandlerDeps {
  net::UpstreamClient* upstream = nullptr;         // required
  credentials::CredentialsProvider* credentials = nullptr;  // required
  AttestationSource* attestation = nullptr;        // null: attested ops pass through
  const crypto::RsaKeyPair* key = nullptr;         // required when attestation is set
  ProxyMetrics* metrics = nullptr;                 // optional
  ClockSkew* skew = nullptr;                       // SigV4 dates, corrected; null: the system clock as is
  // True once the proxy's shutdown grace has run out: a request cut then
  // was cut by the shutdown (answered 503), not because its client left
  // (logged 499) (optional).
  const std::atomic<bool>* stopping = nullptr;
};

class ProxyHandler {
 public:
  ProxyHandler(HandlerOptions opts, HandlerDeps deps);

  /// Handles one request. Never throws for bad input; returns a response.
  boost::asio::awaitable<HttpResponse> handle(HttpRequest req);

 private:
  const Clock& signing_clock() const noexcept;
  /// Feeds the response's Date header to `deps_.skew`; true when KMS refused
  /// the request signed at `signed_at` because of its time (sign again).
  bool check_clock(const HttpResponse& resp, SysTime signed_at);

  HandlerOptions opts_;
  HandlerDeps deps_;
  RouteTable routes_;  // from opts_.upstream
};

}  // namespace kp::proxy
