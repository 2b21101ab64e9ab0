// File: net/transport.h
//
// How the upstream client reaches a host: a Transport opens a byte stream
// (before TLS) to host:port. The stream type is Asio's generic stream socket
// so TCP and AF_VSOCK share one type; TLS and HTTP run on top unchanged.
//
//   DirectTcpTransport     async resolve + connect (TCP_NODELAY), deadline-bound
//   HttpConnectTransport   "CONNECT host:port" through an HTTP proxy reached
//                          over an inner transport (egress through a proxy)
//   VsockTransport         AF_VSOCK connect to (cid, port); the parent's
//                          vsock-proxy pipes bytes on, so host/port are only
//                          used for TLS above it
//
//   auto t = std::make_shared<kp::net::HttpConnectTransport>("127.0.0.1", 3128);
//   kp::Result<kp::net::Socket> s = co_await t->connect("kms.us-east-1.amazonaws.com", 443, deadline);
//
// Depends on base/ and Asio (no Beast in this header).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "base/result.h"

namespace kp::net {

using Deadline = std::chrono::steady_clock::time_point;
/// A connected byte stream (TCP or AF_VSOCK), bound to the caller's executor.
using Socket = boost::asio::generic::stream_protocol::socket;

/// @par Thread safety
/// connect() may be called concurrently from any pool thread; implementations
/// keep no mutable shared state.
class Transport {
 public:
  virtual ~Transport() = default;

  /// Opens a stream to host:port on the calling coroutine's executor, giving
  /// up at `deadline`. Errors: kUpstreamUnreachable (DNS, refused, proxy
  /// failure), kUpstreamTimeout (which phase is in the message),
  /// kEgressDenied (the proxy refused the destination: 401/403/407).
  virtual boost::asio::awaitable<kp::Result<Socket>> connect(std::string host, std::uint16_t port,
                                                             Deadline deadline) = 0;

  /// Short description for error messages ("direct", "proxy 127.0.0.1:3128").
  virtual std::string describe() const = 0;
};

/// DNS + TCP connect; tries each resolved address in order until `deadline`.
/// A stuck resolver is abandoned at the deadline (not waited for).
class DirectTcpTransport final : public Transport {
 public:
  boost::asio::awaitable<kp::Result<Socket>> connect(std::string host, std::uint16_t port,
                                                     Deadline deadline) override;
  std::string describe() const override { return "direct"; }
};

/// Tunnels through an HTTP proxy with CONNECT (RFC 9110 9.3.6). The proxy is
/// reached through `inner` (direct TCP when null; a VsockTransport when the
/// proxy sits on the parent instance). The reply is read with an 8 KiB bound;
/// only 200 opens the tunnel; 401/403/407 are kEgressDenied.
class HttpConnectTransport final : public Transport {
 public:
  HttpConnectTransport(std::string proxy_host, std::uint16_t proxy_port,
                       std::shared_ptr<Transport> inner = nullptr);

  boost::asio::awaitable<kp::Result<Socket>> connect(std::string host, std::uint16_t port,
                                                     Deadline deadline) override;
  std::string describe() const override;

 private:
  std::string proxy_host_;
  std::uint16_t proxy_port_;
  std::shared_ptr<Transport> inner_;
};

/// AF_VSOCK stream to (cid, port), e.g. the parent's vsock-proxy at CID 3.
/// host/port passed to connect() are ignored (they matter to TLS only).
class VsockTransport final : public Transport {
 public:
  VsockTransport(std::uint32_t cid, std::uint32_t port) : cid_(cid), port_(port) {}

  boost::asio::awaitable<kp::Result<Socket>> connect(std::string host, std::uint16_t port,
                                                     Deadline deadline) override;
  std::string describe() const override;

 private:
  std::uint32_t cid_;
  std::uint32_t port_;
};

/// The sockaddr_vm endpoint for (cid, port) — the thin syscall layer of
/// VsockTransport, exposed for tests.
boost::asio::generic::stream_protocol::endpoint make_vsock_endpoint(std::uint32_t cid, std::uint32_t port);
/// The AF_VSOCK stream protocol.
boost::asio::generic::stream_protocol vsock_protocol();

/// Whether `host` names the local machine: "localhost", 127.0.0.0/8, ::1,
/// ::ffff:127.x (brackets around IPv6 literals allowed). No DNS.
bool is_loopback_host(std::string_view host);

/// What one non-blocking recv(MSG_PEEK) sees on a connected socket: nothing
/// yet, bytes waiting, or the peer's end of stream / an error.
enum class PeerState { kQuiet, kData, kClosed };
PeerState peek_peer(int fd) noexcept;

/// Strips the brackets of an IPv6 literal ("[::1]" -> "::1").
std::string_view unbracket(std::string_view host) noexcept;

/// "host:port", bracketing IPv6 literals ("[::1]:443").
std::string host_port(std::string_view host, std::uint16_t port);

/// The Host field of a request to `host`:`port` (RFC 9110 7.2): IPv6 literals
/// bracketed ("[::1]:4566"), the port left out when it is the scheme's default
/// (443 for https, 80 for http).
std::string host_field(std::string_view host, std::uint16_t port, bool https);

}  // namespace kp::net
