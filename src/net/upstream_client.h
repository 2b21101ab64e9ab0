// File: net/upstream_client.h
//
// HTTP/1.1 client for upstream calls (KMS, later IMDS / container
// credentials): keep-alive pool per io_context (each pool thread has its own
// idle connections: no locks on the hot path), TLS 1.2+ with certificate and
// host-name verification and SNI, deadlines on every phase, and one
// transparent retry when a REUSED connection turns out to be dead before any
// response byte arrived, for requests the caller marks replayable (KMS calls
// are not all idempotent).
// A pooled connection is probed before reuse (one non-blocking peek): one the
// peer closed, or that holds bytes nobody asked for, is dropped.
//
//   kp::net::UpstreamClient client(pool, {});
//   kp::HttpRequest req;  req.target = "/";  req.body = "{}";
//   req.headers.set("X-Amz-Target", "TrentService.ListKeys");
//   kp::Result<kp::HttpResponse> r =
//       co_await client.send({"https", "kms.us-east-1.amazonaws.com", 443}, std::move(req));
//
// Depends on base/, net/transport.h, Asio. Beast and OpenSSL stay in the .cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "base/http_message.h"
#include "base/result.h"
#include "net/io_pool.h"
#include "net/transport.h"

namespace kp::net {

/// Not an aggregate on purpose: g++ 12 miscompiles a braced aggregate
/// temporary passed to a coroutine inside a co_await expression (its strings
/// are relocated bitwise; see the TemporaryEndpointInsideCoAwait test). With
/// a constructor, `co_await client.send({"https", host, 443}, ...)` is safe.
struct Endpoint {
  Endpoint() = default;
  Endpoint(std::string scheme_, std::string host_, std::uint16_t port_)
      : scheme(std::move(scheme_)), host(std::move(host_)), port(port_) {}

  std::string scheme = "https";  // "https", or "http" (loopback / allow-listed hosts only)
  std::string host;              // DNS name or IP literal (IPv6 with or without brackets)
  std::uint16_t port = 443;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct UpstreamOptions {
  std::chrono::milliseconds connect_timeout{5'000};        // DNS + TCP (+ CONNECT)
  std::chrono::milliseconds tls_handshake_timeout{5'000};
  std::chrono::milliseconds response_timeout{30'000};      // write request .. last response byte
  std::chrono::milliseconds idle_pool_expiry{50'000};      // below KMS's idle close
  std::size_t max_idle_per_endpoint = 64;                  // per io_context
  std::vector<std::string> extra_ca_files;                 // PEM bundles added to the trust store
  /// Where extra_ca_files was set ("enclaver.yaml:12", "--ca-file"): the
  /// prefix of the error naming a file that cannot be loaded. Empty: none.
  std::string ca_files_source;
  bool use_system_roots = true;
  std::size_t max_response_header = 64 * 1024;
  std::size_t max_response_body = 1024 * 1024;
  /// Hosts besides loopback that may be reached over plain http:// (e.g. the
  /// IMDS / ECS link-local addresses 169.254.169.254, 169.254.170.2). Exact,
  /// case-insensitive match.
  std::vector<std::string> plain_http_hosts;
  std::shared_ptr<Transport> transport;  // null: DirectTcpTransport
};

/// Snapshot of the client's counters (relaxed reads; fine for metrics).
struct UpstreamStats {
  std::uint64_t requests = 0;      // send() calls
  std::uint64_t failures = 0;      // send() calls that returned an error
  std::uint64_t opened = 0;        // connections established (TCP/vsock + TLS)
  std::uint64_t reused = 0;        // requests sent on a pooled connection
  std::uint64_t retries = 0;       // stale pooled connection -> retried on a fresh one
  std::uint64_t idle_closed = 0;   // pooled connections dropped (expired, dead, over the cap)
};

/// @par Thread safety
/// send() may be called from coroutines on any thread of the pool (each
/// thread uses its own connection pool). From an executor outside the pool
/// it still works, without pooling. Destroy the client before the pool, and
/// not while send() calls are in flight.
class UpstreamClient {
 public:
  UpstreamClient(IoPool& pool, UpstreamOptions options);
  ~UpstreamClient();

  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  /// Problems found while building the TLS context (unreadable CA file, ...):
  /// report them at startup. send() to https endpoints fails with the same
  /// error while this is an error.
  kp::Result<void> ready() const;

  /// Sends `req` and reads the whole response. `req.target` is sent as-is
  /// (origin form); Host is added ("host" or "host:port") unless present;
  /// Content-Length is computed; hop-by-hop fields are not forwarded. The
  /// request body is wiped after it has been written.
  /// The response keeps the upstream status, fields (minus hop-by-hop and
  /// framing fields) and the de-chunked body.
  ///
  /// Errors: kValidation (bad endpoint, http:// to a non-loopback host,
  /// unsafe header), kUpstreamUnreachable (DNS, refused, proxy), kUpstreamTls
  /// (handshake, "certificate verify failed: <reason>", "hostname mismatch"),
  /// kUpstreamTimeout (which phase), kUpstreamProtocol (garbage, truncated,
  /// oversized response), kEgressDenied (from a CONNECT proxy).
  ///
  /// `replayable`: the request may be sent again when a reused connection
  /// dies under it before any response byte (RFC 9112 9.3.1). Pass false
  /// for a request whose repetition would change something (CreateKey):
  /// the error then reaches the caller, whose SDK decides.
  boost::asio::awaitable<kp::Result<kp::HttpResponse>> send(Endpoint ep, kp::HttpRequest req,
                                                            bool replayable = true);

  /// send() for a request the caller keeps: `ep` and `req` must outlive the
  /// returned awaitable (co_await it at once) and the caller wipes the body.
  /// For a caller that may send the same request again (the proxy re-signs
  /// and resends once when KMS rejected its clock).
  boost::asio::awaitable<kp::Result<kp::HttpResponse>> send_borrowed(const Endpoint& ep,
                                                                     const kp::HttpRequest& req,
                                                                     bool replayable = true);

  UpstreamStats stats() const;

  /// Closes every pooled connection (posted to each context; returns at once).
  void close_idle();

  struct Impl;  // public for the .cc's free functions; opaque to users

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kp::net
