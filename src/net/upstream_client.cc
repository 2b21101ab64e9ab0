// UpstreamClient: per-io_context keep-alive pools, TLS with verification,
// stale-connection retry. See upstream_client.h for the contract.
#include "net/upstream_client.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>

#include "base/error.h"
#include "base/openssl.h"
#include "net/detail/http_parse.h"
#include "net/detail/http_wire.h"
#include "net/detail/timed_stream.h"
#include "net/detail/tls_client_stream.h"
#include "net/detail/wiping_buffer.h"

namespace kp::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using generic = asio::generic::stream_protocol;
using GStream = detail::TimedStream<generic>;  // deadlines without a timer per operation
using TlsStream = detail::TlsClientStream;  // OpenSSL with its own BIO, not asio::ssl::stream
using detail::ErrorCode;
using Clock = std::chrono::steady_clock;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kInitialReadBuffer = 8 * 1024;
constexpr std::size_t kReadSlack = 16 * 1024;
// 100 Continue and 103 Early Hints may precede a response; a peer sending
// more is looping (a flood would also keep every read instantly satisfied).
constexpr int kMaxInterimResponses = 5;

struct Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> reused{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> idle_closed{0};
};

// Appends `text` to `lines` after a newline when `lines` already holds one.
void add_line(std::string& lines, std::string_view text) {
  if (!lines.empty() && lines.back() != '\n' && !text.empty()) {
    lines += '\n';
  }
  lines += text;
}

// Why a CA file did not load: the system's reason when it cannot be read,
// else OpenSSL's (e.g. no certificate in it).
std::string ca_file_problem(const std::string& file) {
  std::string openssl = take_openssl_error();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return std::strerror(errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return "not a regular file";
  }
  if (::access(file.c_str(), R_OK) != 0) {
    return std::strerror(errno);
  }
  return "no PEM certificate could be read from it (" + openssl + ")";
}

// Immutable after construction; shared by every context state (and kept
// alive by them, so in-flight sends never touch the UpstreamClient itself).
struct Shared {
  explicit Shared(UpstreamOptions o) : opt(std::move(o)), ssl(SSL_CTX_new(TLS_client_method())) {
    transport = opt.transport ? opt.transport : std::make_shared<DirectTcpTransport>();
    SSL_CTX* ctx = ssl.get();
    if (ctx == nullptr) {
      tls_error = kp::Error(Errc::kUpstreamTls, "upstream: cannot create a TLS context: " + take_openssl_error());
      return;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (opt.use_system_roots && SSL_CTX_set_default_verify_paths(ctx) != 1) {
      tls_error = kp::Error(Errc::kUpstreamTls,
                            "upstream: cannot load the system trust store: " + take_openssl_error());
    }
    // Every file that cannot be loaded is named, one line each.
    std::string ca_problems;
    for (const auto& file : opt.extra_ca_files) {
      if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) != 1) {
        add_line(ca_problems, (opt.ca_files_source.empty() ? std::string() : opt.ca_files_source + ": ") +
                                  "upstream: cannot load CA file '" + file + "': " + ca_file_problem(file));
      }
    }
    if (!ca_problems.empty()) {
      if (tls_error) {
        add_line(ca_problems, tls_error->message);
      }
      tls_error = kp::Error(Errc::kUpstreamTls, std::move(ca_problems));
    }
    if (!opt.use_system_roots && opt.extra_ca_files.empty()) {
      tls_error = kp::Error(Errc::kUpstreamTls, "upstream: no trust anchors (system roots off, no CA files)");
    }
    ERR_clear_error();
  }

  UpstreamOptions opt;
  std::shared_ptr<Transport> transport;
  kp::CPtr<SSL_CTX, SSL_CTX_free> ssl;  // verification settings for TlsClientStream
  std::optional<kp::Error> tls_error;
  Counters foreign;  // sends from executors outside the pool (fetch_add)
};

struct Connection {
  explicit Connection(const UpstreamOptions& opt)
      : rbuf(kInitialReadBuffer, opt.max_response_header + kReadSlack) {}

  GStream& lowest() { return tls ? tls->next_layer() : *plain; }

  std::optional<GStream> plain;
  std::optional<TlsStream> tls;
  detail::WipingBuffer rbuf;
  std::string wbuf;
  Clock::time_point idle_since{};
};

struct EndpointPool {
  Endpoint ep;
  std::vector<std::unique_ptr<Connection>> idle;  // oldest first; reuse from the back
};

// One per pool context, touched only by that context's thread (or a
// transient one, unpooled, for a send from a foreign executor).
struct ContextState : std::enable_shared_from_this<ContextState> {
  ContextState(const asio::any_io_executor& ex, std::shared_ptr<Shared> sh, bool pool)
      : shared(std::move(sh)), pooled(pool), counters(pool ? &own : &shared->foreign), timer(ex) {}

  EndpointPool* find(const Endpoint& ep) {
    for (auto& p : pools) {
      if (p.ep.port == ep.port && p.ep.host == ep.host && p.ep.scheme == ep.scheme) {
        return &p;
      }
    }
    return nullptr;
  }

  void bump(std::atomic<std::uint64_t> Counters::*field) {
    auto& c = counters->*field;
    if (pooled) {
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    } else {
      c.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::shared_ptr<Shared> shared;
  const bool pooled;
  Counters own;
  Counters* counters;
  asio::steady_timer timer;
  bool timer_armed = false;
  bool closed = false;
  std::vector<EndpointPool> pools;
};

// A pooled connection the peer has closed (FIN pending), or that holds bytes
// nobody asked for, must not carry a request: a stray response (a 408 sent
// before an idle close, say) would be read as this request's answer, and
// every later request on the connection would get its predecessor's. TLS
// connections may legitimately hold post-handshake records (session
// tickets), so there the bytes go through OpenSSL to tell which. One
// non-blocking recv(MSG_PEEK) per reuse (~0.2 us); more only when bytes wait.
bool looks_alive(Connection& c) {
  if (c.tls && c.tls->has_buffered()) {
    // Records read along with the last response: tickets, or a stray answer.
    return c.tls->idle_check() == TlsStream::IdleState::kQuiet;
  }
  switch (peek_peer(c.lowest().socket().native_handle())) {
    case PeerState::kQuiet: return true;
    case PeerState::kClosed: return false;
    case PeerState::kData: break;
  }
  return c.tls.has_value() && c.tls->idle_check() == TlsStream::IdleState::kQuiet;
}

void arm_sweep(const std::shared_ptr<ContextState>& st);

void sweep(ContextState& st) {
  const auto now = Clock::now();
  const auto expiry = st.shared->opt.idle_pool_expiry;
  for (auto& p : st.pools) {
    std::size_t expired = 0;
    while (expired < p.idle.size() && now - p.idle[expired]->idle_since >= expiry) {
      ++expired;
    }
    for (std::size_t i = 0; i < expired; ++i) {
      st.bump(&Counters::idle_closed);
    }
    p.idle.erase(p.idle.begin(), p.idle.begin() + static_cast<std::ptrdiff_t>(expired));
  }
}

// One timer per context, armed for the oldest idle connection's expiry.
void arm_sweep(const std::shared_ptr<ContextState>& st) {
  if (st->timer_armed || st->closed) {
    return;
  }
  std::optional<Clock::time_point> earliest;
  for (const auto& p : st->pools) {
    if (!p.idle.empty()) {
      const auto t = p.idle.front()->idle_since + st->shared->opt.idle_pool_expiry;
      earliest = earliest ? std::min(*earliest, t) : t;
    }
  }
  if (!earliest) {
    return;
  }
  st->timer_armed = true;
  st->timer.expires_at(*earliest);
  st->timer.async_wait([st](const ErrorCode& ec) {
    st->timer_armed = false;
    if (ec || st->closed) {
      return;
    }
    sweep(*st);
    arm_sweep(st);
  });
}

std::unique_ptr<Connection> checkout(ContextState& st, const Endpoint& ep) {
  if (!st.pooled) {
    return nullptr;
  }
  EndpointPool* p = st.find(ep);
  if (p == nullptr) {
    return nullptr;
  }
  const auto now = Clock::now();
  while (!p->idle.empty()) {
    auto c = std::move(p->idle.back());
    p->idle.pop_back();
    if (now - c->idle_since < st.shared->opt.idle_pool_expiry && looks_alive(*c)) {
      return c;
    }
    st.bump(&Counters::idle_closed);
  }
  return nullptr;
}

void checkin(const std::shared_ptr<ContextState>& st, const Endpoint& ep, std::unique_ptr<Connection> c) {
  if (!st->pooled || st->closed || st->shared->opt.max_idle_per_endpoint == 0) {
    return;
  }
  EndpointPool* p = st->find(ep);
  if (p == nullptr) {
    st->pools.push_back(EndpointPool{ep, {}});
    p = &st->pools.back();
  }
  if (p->idle.size() >= st->shared->opt.max_idle_per_endpoint) {
    p->idle.erase(p->idle.begin());
    st->bump(&Counters::idle_closed);
  }
  c->idle_since = Clock::now();
  c->lowest().expires_never();
  p->idle.push_back(std::move(c));
  arm_sweep(st);
}

// ------------------------------------------------------------ validation ---

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 255) {
    return false;
  }
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == '%';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool valid_target(std::string_view t) {
  for (char c : t) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

kp::Result<void> validate(const Endpoint& ep, const kp::HttpRequest& req, const Shared& sh) {
  const bool https = ep.scheme == "https";
  if (!https && ep.scheme != "http") {
    return kp::fail(Errc::kValidation, "upstream: unsupported scheme '" + ep.scheme + "' (https or http)");
  }
  if (!valid_host(ep.host) || ep.port == 0) {
    return kp::fail(Errc::kValidation, "upstream: invalid endpoint host or port");
  }
  if (!https && !is_loopback_host(ep.host)) {
    bool allowed = false;
    for (const auto& h : sh.opt.plain_http_hosts) {
      allowed = allowed || kp::iequals(h, unbracket(ep.host));
    }
    if (!allowed) {
      return kp::fail(Errc::kValidation, "upstream: refusing plain http:// to non-loopback host " + ep.host +
                                             " (use https)");
    }
  }
  if (!detail::is_token(req.method) || !valid_target(req.target)) {
    return kp::fail(Errc::kValidation, "upstream: invalid request method or target");
  }
  for (const auto& [name, value] : req.headers.fields()) {
    if (!detail::is_token(name) || !kp::is_safe_field_value(value)) {
      return kp::fail(Errc::kValidation, "upstream: request header '" + std::string(name) + "' is not valid on the wire");
    }
  }
  return {};
}

void serialize_head(std::string& out, const kp::HttpRequest& req, const Endpoint& ep, bool https) {
  out.clear();
  out += req.method;
  out += ' ';
  out += req.target.empty() ? std::string_view("/") : std::string_view(req.target);
  out += " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& [name, value] : req.headers.fields()) {
    if (detail::is_hop_by_hop(name)) {
      continue;
    }
    has_host = has_host || kp::iequals(name, "host");
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!has_host) {
    out += "Host: ";
    out += host_field(ep.host, ep.port, https);
    out += "\r\n";
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    out += "Content-Length: ";
    detail::append_decimal(out, req.body.size());
    out += "\r\n";
  }
  out += "\r\n";
}

// Drops hop-by-hop and framing fields, and any field the Connection header
// names (RFC 9110 7.6.1). Erases only what is present: usually just
// Content-Length, so no allocation in the common case.
void strip_hop_by_hop(kp::Headers& h) {
  std::string connection;
  if (auto v = h.get("connection")) {
    connection.assign(*v);
  }
  for (;;) {
    std::string victim;
    for (const auto& [name, value] : h.fields()) {
      (void)value;
      if (detail::is_hop_by_hop(name) || (!connection.empty() && detail::has_token(connection, name))) {
        victim = name;
        break;
      }
    }
    if (victim.empty()) {
      return;
    }
    h.erase(victim);
  }
}

// ------------------------------------------------------------ connecting ---

kp::Error tls_failure(const ErrorCode& ec, SSL* ssl, const Endpoint& ep, const std::string& host) {
  const std::string where = host_port(ep.host, ep.port);
  if (ec == beast::error::timeout) {
    return kp::Error(Errc::kUpstreamTimeout, "upstream: TLS handshake with " + where + " timed out");
  }
  const long vr = SSL_get_verify_result(ssl);
  ERR_clear_error();
  if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return kp::Error(Errc::kUpstreamTls, "upstream: TLS handshake with " + where +
                                             " failed: hostname mismatch: certificate is not valid for '" +
                                             host + "'");
  }
  if (vr != X509_V_OK) {
    return kp::Error(Errc::kUpstreamTls, "upstream: TLS handshake with " + where +
                                             " failed: certificate verify failed: " +
                                             X509_verify_cert_error_string(vr));
  }
  return kp::Error(Errc::kUpstreamTls, "upstream: TLS handshake with " + where + " failed: " + ec.message());
}

asio::awaitable<kp::Result<std::unique_ptr<Connection>>> open_connection(std::shared_ptr<ContextState> st,
                                                                          Endpoint ep, bool https) {
  Shared& sh = *st->shared;
  auto sock = co_await sh.transport->connect(ep.host, ep.port, Clock::now() + sh.opt.connect_timeout);
  if (!sock) {
    co_return sock.error();
  }
  auto c = std::make_unique<Connection>(sh.opt);
  if (!https) {
    c->plain.emplace(std::move(*sock));
    st->bump(&Counters::opened);
    co_return c;
  }
  c->tls.emplace(std::move(*sock), sh.ssl.get());
  SSL* ssl = c->tls->native_handle();
  if (ssl == nullptr) {
    co_return kp::Error(Errc::kUpstreamTls, "upstream: cannot set up a TLS connection: " + take_openssl_error());
  }
  const std::string host(unbracket(ep.host));
  ErrorCode not_ip;
  (void)asio::ip::make_address(host, not_ip);
  if (!not_ip) {
    // RFC 6066 3: no SNI for IP literals; verify the IP SAN instead.
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, host.c_str());
  }
  c->lowest().expires_after(sh.opt.tls_handshake_timeout);
  auto [ec] = co_await c->tls->async_handshake(kUseTuple);
  if (ec) {
    co_return tls_failure(ec, ssl, ep, host);
  }
  st->bump(&Counters::opened);
  co_return c;
}

// ------------------------------------------------------------- exchange ---

struct Attempt {
  kp::Result<kp::HttpResponse> result = kp::HttpResponse{};
  bool stale = false;  // failed on a reused connection before any response byte
  bool keep = false;   // the connection may go back to the pool
};

kp::Error read_failure(const ErrorCode& ec, std::size_t received, const Endpoint& ep, const Shared& sh) {
  const std::string where = host_port(ep.host, ep.port);
  if (ec == beast::error::timeout) {
    return received == 0 ? kp::Error(Errc::kUpstreamTimeout,
                                     "upstream: no response from " + where + " within " +
                                         std::to_string(sh.opt.response_timeout.count()) + " ms")
                         : kp::Error(Errc::kUpstreamTimeout, "upstream: timed out reading the response from " + where);
  }
  if (ec == bhttp::error::end_of_stream) {
    return kp::Error(Errc::kUpstreamProtocol, "upstream: " + where + " closed the connection without responding");
  }
  if (ec == bhttp::error::partial_message) {
    return kp::Error(Errc::kUpstreamProtocol, "upstream: truncated response from " + where);
  }
  if (ec == bhttp::error::body_limit) {
    return kp::Error(Errc::kUpstreamProtocol, "upstream: response body from " + where + " exceeds " +
                                                  std::to_string(sh.opt.max_response_body) + " bytes");
  }
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    return kp::Error(Errc::kUpstreamProtocol, "upstream: response header from " + where + " exceeds " +
                                                  std::to_string(sh.opt.max_response_header) + " bytes");
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    return kp::Error(Errc::kUpstreamProtocol, "upstream: malformed response from " + where + ": " + ec.message());
  }
  if (received == 0) {
    return kp::Error(Errc::kUpstreamProtocol,
                     "upstream: connection to " + where + " failed before the response: " + ec.message());
  }
  return kp::Error(Errc::kUpstreamProtocol,
                   "upstream: connection to " + where + " failed mid-response: " + ec.message());
}

template <class S>
asio::awaitable<Attempt> exchange(S& stream, Connection& c, const kp::HttpRequest& req, const Endpoint& ep,
                                  const Shared& sh, bool reused) {
  Attempt a;
  c.lowest().expires_after(sh.opt.response_timeout);
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(c.wbuf), asio::buffer(req.body)};
  auto [wec, wn] = co_await asio::async_write(stream, bufs, kUseTuple);
  (void)wn;
  detail::wipe_string(c.wbuf);  // may hold X-Amz-Security-Token
  if (wec) {
    const std::string where = host_port(ep.host, ep.port);
    if (wec == beast::error::timeout) {
      a.result = kp::Error(Errc::kUpstreamTimeout, "upstream: timed out sending the request to " + where);
    } else {
      a.result = kp::Error(Errc::kUpstreamProtocol,
                           "upstream: sending the request to " + where + " failed: " + wec.message());
      a.stale = reused;
    }
    co_return a;
  }

  kp::HttpResponse resp;
  std::size_t received = 0;
  const detail::SimpleLimits limits{
      .header_limit = std::min<std::size_t>(sh.opt.max_response_header, std::numeric_limits<std::uint32_t>::max()),
      .body_limit = static_cast<std::uint64_t>(sh.opt.max_response_body)};
  const bool head = req.method == "HEAD";
  int interim = 0;
  for (;;) {
    detail::ResponseSink parser(resp);
    parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
    parser.body_limit(limits.body_limit);
    parser.eager(true);
    if (head) {
      parser.skip(true);
    }
    // KMS's plain responses take the fast path (http_simple.h), others Beast.
    std::optional<detail::SimpleMessage> simple;
    const auto fast = [&](detail::WipingBuffer& b) {
      simple = head ? std::nullopt : detail::take_simple(b, limits, resp);
      return simple.has_value();
    };
    const ErrorCode ec =
        co_await detail::read_message(stream, c.rbuf, parser, detail::ReadUntil::kMessage, received, fast);
    if (ec) {
      a.result = read_failure(ec, received, ep, sh);
      a.stale = reused && received == 0 && ec != beast::error::timeout;
      co_return a;
    }
    if (simple) {
      a.keep = simple->keep_alive && c.rbuf.size() == 0;
      break;
    }
    if (resp.status / 100 == 1 && resp.status != 101) {
      if (++interim > kMaxInterimResponses) {
        a.result = kp::Error(Errc::kUpstreamProtocol, "upstream: " + host_port(ep.host, ep.port) +
                                                          " sent more than " + std::to_string(kMaxInterimResponses) +
                                                          " interim (1xx) responses");
        co_return a;
      }
      resp = kp::HttpResponse{};  // interim response (100 Continue, 103): read on
      continue;
    }
    // Leftover bytes after a complete response are not ours to interpret.
    a.keep = parser.keep_alive() && c.rbuf.size() == 0 && resp.status != 101;
    break;
  }
  if (reused && resp.status == 408) {
    // 408: the server did not get (all of) the request: the answer of a
    // server that closes idle connections with one (RFC 9110 15.5.9), sent
    // as our request crossed it. Nothing was done; replay on a fresh one.
    a.result = kp::Error(Errc::kUpstreamProtocol,
                         "upstream: " + host_port(ep.host, ep.port) + " answered 408 on a reused connection");
    a.stale = true;
    a.keep = false;
    co_return a;
  }
  if (resp.status < 200 || resp.status > 599) {
    a.result = kp::Error(Errc::kUpstreamProtocol, "upstream: " + host_port(ep.host, ep.port) +
                                                      " answered with status " + std::to_string(resp.status));
    a.keep = false;
    co_return a;
  }
  strip_hop_by_hop(resp.headers);
  a.result = std::move(resp);
  co_return a;
}

struct BodyWipe {
  std::string& s;
  ~BodyWipe() { detail::wipe_string(s); }
};

}  // namespace

struct UpstreamClient::Impl {
  Impl(IoPool& p, UpstreamOptions o) : pool(p), shared(std::make_shared<Shared>(std::move(o))) {
    for (std::size_t i = 0; i < pool.size(); ++i) {
      states.push_back(
          std::make_shared<ContextState>(asio::any_io_executor(pool.context(i).get_executor()), shared, true));
    }
  }

  std::shared_ptr<ContextState> state_for(const asio::any_io_executor& ex) const {
    const auto& ctx = asio::query(ex, asio::execution::context);
    const std::size_t i = pool.index_of(ctx);
    if (i < states.size()) {
      return states[i];
    }
    return std::make_shared<ContextState>(ex, shared, false);
  }

  IoPool& pool;
  std::shared_ptr<Shared> shared;
  std::vector<std::shared_ptr<ContextState>> states;
};

UpstreamClient::UpstreamClient(IoPool& pool, UpstreamOptions options)
    : impl_(std::make_shared<Impl>(pool, std::move(options))) {}

UpstreamClient::~UpstreamClient() {
  // Each context closes its own idle connections on its own thread. If the
  // pool is stopped, the posted handler (and the state it owns) is destroyed
  // with the io_context, which is why the pool must outlive this client.
  for (std::size_t i = 0; i < impl_->states.size(); ++i) {
    asio::post(impl_->pool.context(i), [st = impl_->states[i]] {
      st->closed = true;
      st->pools.clear();
      st->timer.cancel();
    });
  }
}

kp::Result<void> UpstreamClient::ready() const {
  if (impl_->shared->tls_error) {
    return *impl_->shared->tls_error;
  }
  return {};
}

void UpstreamClient::close_idle() {
  for (std::size_t i = 0; i < impl_->states.size(); ++i) {
    asio::post(impl_->pool.context(i), [st = impl_->states[i]] {
      for (auto& p : st->pools) {
        for (std::size_t k = 0; k < p.idle.size(); ++k) {
          st->bump(&Counters::idle_closed);
        }
        p.idle.clear();
      }
    });
  }
}

UpstreamStats UpstreamClient::stats() const {
  UpstreamStats s;
  auto add = [&s](const Counters& c) {
    s.requests += c.requests.load(std::memory_order_relaxed);
    s.failures += c.failures.load(std::memory_order_relaxed);
    s.opened += c.opened.load(std::memory_order_relaxed);
    s.reused += c.reused.load(std::memory_order_relaxed);
    s.retries += c.retries.load(std::memory_order_relaxed);
    s.idle_closed += c.idle_closed.load(std::memory_order_relaxed);
  };
  for (const auto& st : impl_->states) {
    add(st->own);
  }
  add(impl_->shared->foreign);
  return s;
}

asio::awaitable<kp::Result<kp::HttpResponse>> UpstreamClient::send(Endpoint ep, kp::HttpRequest req,
                                                                    bool replayable) {
  BodyWipe wipe{req.body};
  co_return co_await send_borrowed(ep, req, replayable);
}

asio::awaitable<kp::Result<kp::HttpResponse>> UpstreamClient::send_borrowed(const Endpoint& ep,
                                                                             const kp::HttpRequest& req,
                                                                             bool replayable) {
  auto ex = co_await asio::this_coro::executor;
  // From here on only the context state is used: it keeps the shared config
  // alive and belongs to this thread.
  std::shared_ptr<ContextState> st = impl_->state_for(ex);
  const Shared& sh = *st->shared;
  st->bump(&Counters::requests);

  if (auto v = validate(ep, req, sh); !v) {
    st->bump(&Counters::failures);
    co_return v.error();
  }
  const bool https = ep.scheme == "https";
  if (https && sh.tls_error) {
    st->bump(&Counters::failures);
    co_return *sh.tls_error;
  }
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn;
    if (attempt == 0) {
      conn = checkout(*st, ep);
    }
    const bool reused = conn != nullptr;
    if (reused) {
      st->bump(&Counters::reused);
    } else {
      auto opened = co_await open_connection(st, ep, https);
      if (!opened) {
        st->bump(&Counters::failures);
        co_return opened.error();
      }
      conn = std::move(*opened);
    }
    serialize_head(conn->wbuf, req, ep, https);
    Attempt a;
    if (https) {
      a = co_await exchange(*conn->tls, *conn, req, ep, sh, reused);
    } else {
      a = co_await exchange(*conn->plain, *conn, req, ep, sh, reused);
    }
    if (a.result) {
      if (a.keep) {
        checkin(st, ep, std::move(conn));
      }
      co_return std::move(*a.result);
    }
    // A cancelled exchange (the caller's client left) is not a stale
    // connection, and a cancelled coroutine may not wait again anyway.
    const bool cancelled =
        (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    if (a.stale && attempt == 0 && replayable && !cancelled) {
      // RFC 9112 9.3.1: the server may close an idle connection at any time;
      // nothing of the response arrived, so the request is replayed once on
      // a fresh connection (if repeating it cannot change anything).
      st->bump(&Counters::retries);
      continue;
    }
    st->bump(&Counters::failures);
    co_return a.result.error();
  }
}

}  // namespace kp::net
