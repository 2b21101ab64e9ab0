// File: net/http_server.h
//
// HTTP/1.1 server for loopback clients (the SDKs inside the enclave, the
// emulator's callers, /metrics). One acceptor hands connections round-robin
// to the IoPool's contexts; each connection is one coroutine on one thread:
// read request -> Handler -> write response, with keep-alive (1.1 and 1.0),
// pipelining (answered in order), Expect: 100-continue, chunked request
// bodies, a deadline on every wait, connection limits and graceful shutdown.
// With ServerOptions::tls set the listener speaks HTTPS instead: a TLS
// handshake under tls_handshake_timeout, then the same HTTP/1.1 handling on
// the TLS stream, and close_notify before closing.
// Local failures are answered as KMS-style JSON errors (kp::to_http is the
// only mapping): malformed -> 400, header too large -> 431, body too large
// -> 413, over max_connections -> 503, handler exception -> 500.
//
//   kp::net::IoPool pool(2);
//   kp::net::HttpServer server(pool, {.port = 0},
//       [](kp::HttpRequest req) -> boost::asio::awaitable<kp::HttpResponse> {
//         co_return kp::HttpResponse{.status = 200, .body = "ok"};
//       });
//   auto port = server.start();  pool.run();  ...  server.shutdown();
//
// The public API speaks kp::HttpRequest / kp::HttpResponse only; Beast stays
// in http_session.cc. Depends on base/ and Asio.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "base/http_message.h"
#include "base/result.h"
#include "net/io_pool.h"

namespace kp::net {

class ServerTls;  // net/server_tls.h

struct ServerOptions {
  /// IP literal or "localhost". Non-loopback addresses are refused by start()
  /// unless allow_non_loopback is set.
  std::string host = "127.0.0.1";
  std::uint16_t port = 9999;  // 0 = any free port (start() returns it)
  bool allow_non_loopback = false;
  std::size_t max_connections = 4096;  // beyond: 503 ServiceUnavailable, then close
  std::size_t max_header_bytes = 16 * 1024;  // request line + fields; beyond: 431
  std::size_t max_body_bytes = 1024 * 1024;  // beyond: 413 (a 256 KiB doc in base64 fits)
  /// From accept (first request) or first byte (later requests) to the end of
  /// the header block; protects against slowloris. On expiry the connection
  /// is closed without an answer.
  std::chrono::milliseconds header_read_timeout{10'000};
  std::chrono::milliseconds body_read_timeout{30'000};
  /// How long an idle keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_keepalive_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  /// shutdown(): how long in-flight requests may take before being cut.
  std::chrono::milliseconds shutdown_grace{10'000};
  /// Serve HTTPS with this certificate and key (ServerTls::load); null =
  /// plain HTTP. Over max_connections a TLS connection is closed without
  /// an answer (a plaintext 503 would be garbage to a TLS client).
  std::shared_ptr<const ServerTls> tls;
  /// From accept to the end of the TLS handshake; on expiry the connection
  /// is closed (counted in timeouts and tls_handshake_failures).
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  /// Makes the request id of the server's own answers (400, 408, 413, 431,
  /// 500 for a failed handler, 503 over max_connections or for a request
  /// close_all() cut), sent as x-amzn-RequestId as a KMS answer carries one
  /// (the SDKs report it). Empty: no id. net has no random source of its
  /// own: the application passes one (crypto::random_uuid).
  std::function<std::string()> make_request_id;
  /// Told (on an I/O thread, must not block) when the server answers a
  /// request itself -- 400, 408, 413, 431, 500 when the handler threw or
  /// gave an invalid status, 503 when close_all() cut a handler that then
  /// threw -- with the status, the message it sent (fixed text, never
  /// request bytes or the exception's) and the answer's request id (""
  /// without make_request_id). For the operator's log; may be empty.
  std::function<void(unsigned status, std::string_view message, std::string_view request_id)> on_local_error;
  /// Told of every connection refused over max_connections (503); may be empty.
  std::function<void()> on_rejected;
};

/// Snapshot of the server's counters (each read is relaxed; fine for metrics).
struct ServerStats {
  std::uint64_t active_connections = 0;    // gauge: sessions currently open
  std::uint64_t accepted_connections = 0;  // total sessions started
  std::uint64_t rejected_connections = 0;  // answered 503 (over max_connections)
  std::uint64_t requests = 0;              // requests passed to the handler
  std::uint64_t local_errors = 0;          // 400/408/413/431 answered by the server itself
  std::uint64_t handler_exceptions = 0;    // handler threw: answered 500
  std::uint64_t timeouts = 0;              // connections closed by a read/write deadline
  std::uint64_t tls_handshake_failures = 0;  // TLS only: handshake failed or timed out
};

/// Wipes a string (e.g. a request body holding a plaintext) when the scope
/// ends. The Handler receives its request by value and owns that copy, so it
/// is the handler's job to wipe it:
///   kp::net::ScopedWipe wipe(req.body);
class ScopedWipe {
 public:
  explicit ScopedWipe(std::string& s) noexcept : s_(s) {}
  ~ScopedWipe();
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  std::string& s_;
};

/// @par Thread safety
/// start(), begin_shutdown(), close_all(), wait_drained(), shutdown() and
/// stats() may be called from any thread; wait_drained()/shutdown() block and
/// must not be called from a pool thread. Destroy the server before the pool.
class HttpServer {
 public:
  /// Called on the connection's own executor, once per request, in order.
  /// Exceptions become a 500 KMSInternalException (and are counted). The
  /// server sets Content-Length (and Connection/Date); other fields of the
  /// response (x-amzn-RequestId, Content-Type, ...) are sent as given.
  /// A response with sensitive_body has its body wiped after the write.
  using Handler = std::function<boost::asio::awaitable<kp::HttpResponse>(kp::HttpRequest)>;

  HttpServer(IoPool& pool, ServerOptions options, Handler handler);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts accepting (the pool may be running or not yet).
  /// Returns the bound port. Errors: kValidation (bad or non-loopback host,
  /// already started), kInternal (bind/listen failed, with the OS reason).
  kp::Result<std::uint16_t> start();

  /// Stops accepting, closes idle keep-alive connections, lets in-flight
  /// requests finish (their responses carry Connection: close). Idempotent.
  void begin_shutdown();
  /// Blocks until every connection and the acceptor are gone, or `deadline`.
  /// Returns whether the server drained.
  bool wait_drained(std::chrono::steady_clock::time_point deadline);
  /// Cuts every remaining connection: cancels handlers and closes sockets,
  /// except that a connection whose request is with the handler stays open
  /// until the cut handler returns, so that its client hears why (503).
  void close_all();
  /// close_all() without that exception: every socket is closed now (for a
  /// handler that does not return when cut). The destructor does this.
  void close_all_now();
  /// begin_shutdown(); wait up to shutdown_grace; then, if needed,
  /// `before_cut` (e.g. to mark what follows as the server's cut, not the
  /// clients'), close_all(), up to 2 s for the cut requests' answers, and
  /// close_all_now(). Returns whether everything finished in the grace.
  bool shutdown();
  /// The same with another grace period (0: cut whatever is still in flight).
  bool shutdown(std::chrono::milliseconds grace, const std::function<void()>& before_cut = {});

  ServerStats stats() const;
  /// The bound port (0 before start()).
  std::uint16_t port() const noexcept;

  struct Impl;  // public for the .cc's free functions; opaque to users

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kp::net
