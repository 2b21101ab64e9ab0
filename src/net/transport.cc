// Transports: direct TCP, HTTP CONNECT tunnel, AF_VSOCK. Deadlines come from
// beast::basic_stream (connect, CONNECT exchange) and a timer race for DNS.
#include "net/transport.h"

// clang-format off
#include <sys/socket.h>
#include <linux/vm_sockets.h>
// clang-format on
#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>

#include "base/http_message.h"

namespace kp::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using generic = asio::generic::stream_protocol;
using GStream = beast::basic_stream<generic, asio::any_io_executor, beast::unlimited_rate_policy>;
using ErrorCode = boost::system::error_code;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxConnectReply = 8 * 1024;

// Resolution cannot be cancelled once getaddrinfo runs on Asio's resolver
// thread, so the coroutine waits on a timer instead and abandons the lookup at
// the deadline; the shared state outlives the coroutine until the lookup ends.
struct ResolveState {
  explicit ResolveState(const asio::any_io_executor& ex) : resolver(ex), timer(ex) {}
  tcp::resolver resolver;
  asio::steady_timer timer;
  ErrorCode ec;
  std::vector<tcp::endpoint> endpoints;
  bool done = false;
};

asio::awaitable<kp::Result<std::vector<tcp::endpoint>>> resolve(std::string host, std::uint16_t port,
                                                                 Deadline deadline) {
  auto ex = co_await asio::this_coro::executor;
  auto st = std::make_shared<ResolveState>(ex);
  st->timer.expires_at(deadline);
  st->resolver.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service,
                             [st](const ErrorCode& ec, const tcp::resolver::results_type& results) {
                               st->ec = ec;
                               for (const auto& r : results) {
                                 st->endpoints.push_back(r.endpoint());
                               }
                               st->done = true;
                               st->timer.cancel();
                             });
  auto [tec] = co_await st->timer.async_wait(kUseTuple);
  (void)tec;
  if (!st->done) {
    st->resolver.cancel();
    co_return kp::fail(Errc::kUpstreamTimeout, "upstream: resolving " + host + " timed out");
  }
  if (st->ec || st->endpoints.empty()) {
    co_return kp::fail(Errc::kUpstreamUnreachable,
                       "upstream: resolving " + host + " failed: " +
                           (st->ec ? st->ec.message() : std::string("no addresses")));
  }
  co_return std::move(st->endpoints);
}

// Control characters out, length bounded: the proxy's status line goes into
// error messages and logs.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 160)) {
    out.push_back((c >= 0x20 && c < 0x7f) ? c : '?');
  }
  return out;
}

// "HTTP/1.x SSS reason" -> SSS, or 0 when malformed.
unsigned parse_status_line(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    return 0;
  }
  unsigned code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      return 0;
    }
    code = code * 10 + static_cast<unsigned>(line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') {
    return 0;
  }
  return code;
}

}  // namespace

// ---------------------------------------------------------------- helpers ---

std::string_view unbracket(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

namespace {
// Appends `host`, with brackets around an IPv6 literal (given with or without).
void append_host(std::string& out, std::string_view host) {
  const auto bare = unbracket(host);
  if (bare.find(':') != std::string_view::npos) {
    out += '[';
    out += bare;
    out += ']';
  } else {
    out += bare;
  }
}
}  // namespace

std::string host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  append_host(out, host);
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string host_field(std::string_view host, std::uint16_t port, bool https) {
  if (port != (https ? 443 : 80)) {
    return host_port(host, port);
  }
  std::string out;
  append_host(out, host);
  return out;
}

PeerState peek_peer(int fd) noexcept {
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) {
    return PeerState::kData;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    return PeerState::kQuiet;
  }
  return PeerState::kClosed;
}

bool is_loopback_host(std::string_view host) {
  const auto bare = unbracket(host);
  if (kp::iequals(bare, "localhost")) {
    return true;
  }
  ErrorCode ec;
  const auto addr = asio::ip::make_address(std::string(bare), ec);
  if (ec) {
    return false;
  }
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).is_loopback();
  }
  return addr.is_loopback();
}


generic vsock_protocol() { return generic(AF_VSOCK, 0); }

generic::endpoint make_vsock_endpoint(std::uint32_t cid, std::uint32_t port) {
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  return generic::endpoint(&addr, sizeof(addr), 0);
}

// ------------------------------------------------------------- direct TCP ---

asio::awaitable<kp::Result<Socket>> DirectTcpTransport::connect(std::string host, std::uint16_t port,
                                                                Deadline deadline) {
  auto ex = co_await asio::this_coro::executor;
  const std::string where = host_port(host, port);
  const std::string bare(unbracket(host));

  std::vector<tcp::endpoint> endpoints;
  ErrorCode ec;
  const auto literal = asio::ip::make_address(bare, ec);
  if (!ec) {
    endpoints.emplace_back(literal, port);
  } else {
    auto resolved = co_await resolve(bare, port, deadline);
    if (!resolved) {
      co_return resolved.error();
    }
    endpoints = std::move(*resolved);
  }

  ErrorCode last;
  for (const auto& ep : endpoints) {
    GStream stream(ex);
    stream.socket().open(generic(ep.protocol().family(), IPPROTO_TCP), last);
    if (last) {
      continue;
    }
    stream.expires_at(deadline);
    auto [cec] = co_await stream.async_connect(generic::endpoint(ep), kUseTuple);
    if (!cec) {
      Socket s = stream.release_socket();
      ErrorCode ignored;
      s.set_option(tcp::no_delay(true), ignored);  // requests are small and latency-bound
      co_return s;
    }
    if (cec == beast::error::timeout) {
      co_return kp::fail(Errc::kUpstreamTimeout, "upstream: connect to " + where + " timed out");
    }
    last = cec;
  }
  co_return kp::fail(Errc::kUpstreamUnreachable, "upstream: connect to " + where + " failed: " +
                                                     (last ? last.message() : std::string("no address")));
}

// ---------------------------------------------------------- HTTP CONNECT ---

HttpConnectTransport::HttpConnectTransport(std::string proxy_host, std::uint16_t proxy_port,
                                           std::shared_ptr<Transport> inner)
    : proxy_host_(std::move(proxy_host)),
      proxy_port_(proxy_port),
      inner_(inner ? std::move(inner) : std::make_shared<DirectTcpTransport>()) {}

std::string HttpConnectTransport::describe() const {
  return "proxy " + host_port(proxy_host_, proxy_port_);
}

asio::awaitable<kp::Result<Socket>> HttpConnectTransport::connect(std::string host, std::uint16_t port,
                                                                  Deadline deadline) {
  const std::string proxy = host_port(proxy_host_, proxy_port_);
  const std::string target = host_port(host, port);
  auto sock = co_await inner_->connect(proxy_host_, proxy_port_, deadline);
  if (!sock) {
    const Errc code = sock.error().code == Errc::kUpstreamTimeout ? Errc::kUpstreamTimeout
                                                                   : Errc::kUpstreamUnreachable;
    co_return kp::fail(code, "upstream: proxy " + proxy + " (for " + target + ") unreachable: " +
                                 sock.error().message);
  }
  GStream stream(std::move(*sock));
  stream.expires_at(deadline);

  // RFC 9110 9.3.6: CONNECT uses the authority form; Host repeats it.
  const std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), kUseTuple);
  (void)wn;
  if (wec) {
    const Errc code = wec == beast::error::timeout ? Errc::kUpstreamTimeout : Errc::kUpstreamUnreachable;
    co_return kp::fail(code, "upstream: sending CONNECT " + target + " to proxy " + proxy + " failed: " +
                                 wec.message());
  }

  std::string reply;
  std::array<char, 1024> chunk{};
  std::size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    if (reply.size() >= kMaxConnectReply) {
      co_return kp::fail(Errc::kUpstreamUnreachable,
                         "upstream: proxy " + proxy + " sent an oversized CONNECT reply");
    }
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(chunk), kUseTuple);
    reply.append(chunk.data(), n);
    head_end = reply.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      break;
    }
    if (rec == beast::error::timeout) {
      co_return kp::fail(Errc::kUpstreamTimeout,
                         "upstream: proxy " + proxy + " did not answer CONNECT " + target + " in time");
    }
    if (rec) {
      co_return kp::fail(Errc::kUpstreamUnreachable, "upstream: proxy " + proxy + " closed the connection " +
                                                         "during CONNECT " + target + ": " + rec.message());
    }
  }
  const std::string_view status_line = std::string_view(reply).substr(0, reply.find("\r\n"));
  const unsigned status = parse_status_line(status_line);
  if (status == 0) {
    co_return kp::fail(Errc::kUpstreamUnreachable, "upstream: proxy " + proxy +
                                                       " sent a malformed CONNECT reply: " +
                                                       printable(status_line));
  }
  if (status == 401 || status == 403 || status == 407) {
    co_return kp::fail(Errc::kEgressDenied, "upstream: proxy " + proxy + " refused CONNECT " + target + ": " +
                                                printable(status_line));
  }
  // 200 is what proxies send for an open tunnel; anything else (even another
  // 2xx, which could carry a body we would mistake for tunnel data) is refused.
  if (status != 200) {
    co_return kp::fail(Errc::kUpstreamUnreachable, "upstream: CONNECT " + target + " via proxy " + proxy +
                                                       " failed: " + printable(status_line));
  }
  // The tunnel's far end speaks only after we do (TLS ClientHello), so bytes
  // past the reply mean the proxy is confused; refuse rather than lose them.
  if (reply.size() > head_end + 4) {
    co_return kp::fail(Errc::kUpstreamUnreachable,
                       "upstream: proxy " + proxy + " sent data after the CONNECT reply");
  }
  stream.expires_never();
  co_return stream.release_socket();
}

// ------------------------------------------------------------------ vsock ---

std::string VsockTransport::describe() const {
  return "vsock cid " + std::to_string(cid_) + " port " + std::to_string(port_);
}

asio::awaitable<kp::Result<Socket>> VsockTransport::connect(std::string host, std::uint16_t port,
                                                            Deadline deadline) {
  (void)host;
  (void)port;
  auto ex = co_await asio::this_coro::executor;
  GStream stream(ex);
  ErrorCode ec;
  stream.socket().open(vsock_protocol(), ec);
  if (ec) {
    co_return kp::fail(Errc::kUpstreamUnreachable, "upstream: cannot open an AF_VSOCK socket: " + ec.message());
  }
  stream.expires_at(deadline);
  auto [cec] = co_await stream.async_connect(make_vsock_endpoint(cid_, port_), kUseTuple);
  if (cec == beast::error::timeout) {
    co_return kp::fail(Errc::kUpstreamTimeout, "upstream: " + describe() + ": connect timed out");
  }
  if (cec) {
    co_return kp::fail(Errc::kUpstreamUnreachable, "upstream: " + describe() + ": connect failed: " + cec.message());
  }
  co_return stream.release_socket();
}

}  // namespace kp::net
