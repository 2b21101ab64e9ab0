// HttpServer's per-connection half: one coroutine per connection reads its
// requests, hands each to the handler and writes the answer (plain HTTP or
// TLS, one template); the client watch; the 503 for connections over the
// limit. The accept loop and shutdown are in http_server.cc, the state both
// halves share in detail/server_state.h.
#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>

#include "base/error.h"
#include "base/secret.h"
#include "net/detail/http_parse.h"
#include "net/detail/http_wire.h"
#include "net/detail/server_state.h"
#include "net/detail/server_tls_impl.h"
#include "net/detail/wiping_buffer.h"
#include "net/transport.h"

namespace kp::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Stream = detail::ServerStream;
using detail::ErrorCode;
using namespace std::chrono_literals;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Read buffers start small (most KMS requests are well under 4 KiB) and grow
// to header limit + this slack; body bytes stream through the buffer.
constexpr std::size_t kInitialReadBuffer = 8 * 1024;
constexpr std::size_t kReadSlack = 16 * 1024;
// After an error answer we half-close and drain what the client still sends
// (so its unread data does not turn our close into an RST that destroys the
// answer), bounded in bytes and time.
constexpr std::size_t kLingerMaxBytes = 256 * 1024;
constexpr std::chrono::milliseconds kLingerTimeout = 2s;
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";
// How often requests with the handler are checked for a client that left.
constexpr std::chrono::milliseconds kClientWatchPeriod = 1s;

// TLS: a response up to this size goes out as one write (one TLS record,
// one send) instead of one per buffer.
constexpr std::size_t kTlsCoalesceLimit = 16 * 1024;
// TLS: closing without an error answer pending (idle timeout, shutdown, the
// peer left), we send close_notify and give the peer this long to answer
// with its own (RFC 8446 6.1 does not require waiting for it).
constexpr std::chrono::milliseconds kCloseNotifyWait = 250ms;
// How long the answer to a request cut by close_all() may take to write
// (shutdown() waits 2 s for the cut sessions to end).
constexpr std::chrono::milliseconds kCutAnswerWriteTimeout = 1s;

kp::HttpResponse error_response(Errc code, std::string_view message) {
  const auto h = kp::to_http(code);
  return kp::make_error_response(h.status, h.type, message);
}

// Stamps one of the server's own answers with the application's request id
// (ServerOptions::make_request_id); returns it ("" without a maker).
std::string stamp_request_id(const ServerOptions& opt, kp::HttpResponse& resp) {
  if (!opt.make_request_id) {
    return {};
  }
  std::string id = opt.make_request_id();
  resp.headers.set("x-amzn-RequestId", id);
  return id;
}

// What the server answers itself to a failed request read (nullopt: the
// client went away, or a socket error: just close).
struct LocalAnswer {
  Errc code;
  std::string message;
};
std::optional<LocalAnswer> answer_to_read_error(const ErrorCode& ec, const ServerOptions& opt, bool header_done) {
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    return LocalAnswer{Errc::kHeaderTooLarge,
                       "http: request header exceeds " + std::to_string(opt.max_header_bytes) + " bytes"};
  }
  if (ec == bhttp::error::body_limit) {
    return LocalAnswer{Errc::kPayloadTooLarge,
                       "http: request body exceeds " + std::to_string(opt.max_body_bytes) + " bytes"};
  }
  if (ec == beast::error::timeout) {
    // Only a request that has begun gets here (a connection that stays idle
    // is closed without a word): tell the client why before closing.
    return LocalAnswer{Errc::kRequestTimeout,
                       header_done ? "http: request body not received within " +
                                         std::to_string(opt.body_read_timeout.count()) + " ms"
                                   : "http: request header not received within " +
                                         std::to_string(opt.header_read_timeout.count()) + " ms"};
  }
  if (ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
      ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
    return LocalAnswer{Errc::kMalformedRequest, "http: malformed request: " + ec.message()};
  }
  return std::nullopt;
}

// Wipes a sensitive response body however the write ends (also when the
// session is torn down by cancellation mid-write).
struct ResponseWipe {
  kp::HttpResponse& r;
  ~ResponseWipe() {
    if (r.sensitive_body) {
      detail::wipe_string(r.body);
    }
  }
};

// The TLS session stream: Asio's SSL stream over the plain Stream (whose
// deadline bounds every TLS read and write underneath), forwarding the few
// Stream calls the session makes, so one session template serves both.
class TlsStream {
 public:
  using executor_type = Stream::executor_type;
  TlsStream(tcp::socket sock, asio::ssl::context& ctx) : ssl_(std::move(sock), ctx) {}

  executor_type get_executor() noexcept { return ssl_.get_executor(); }
  Stream& lowest() noexcept { return ssl_.next_layer(); }
  tcp::socket& socket() noexcept { return lowest().socket(); }
  void expires_after(std::chrono::steady_clock::duration d) { lowest().expires_after(d); }
  asio::ssl::stream<Stream>& ssl() noexcept { return ssl_; }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    return ssl_.async_read_some(b, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return ssl_.async_write_some(b, std::forward<Token>(token));
  }

 private:
  asio::ssl::stream<Stream> ssl_;
};

template <class S>
constexpr bool kIsTls = std::is_same_v<S, TlsStream>;

inline Stream& lowest_layer(Stream& s) noexcept { return s; }
inline Stream& lowest_layer(TlsStream& s) noexcept { return s.lowest(); }

using Impl = HttpServer::Impl;

// Registers the session and undoes everything on every exit path, including
// destruction of a suspended frame when the pool stops.
struct SessionGuard {
  Impl& self;
  CtxState& cs;
  Conn& conn;
  SessionGuard(Impl& s, CtxState& c, Conn& n) : self(s), cs(c), conn(n) {
    conn.next = cs.head;
    if (cs.head != nullptr) {
      cs.head->prev = &conn;
    }
    cs.head = &conn;
  }
  ~SessionGuard() {
    conn.stream = nullptr;
    if (conn.prev != nullptr) {
      conn.prev->next = conn.next;
    } else {
      cs.head = conn.next;
    }
    if (conn.next != nullptr) {
      conn.next->prev = conn.prev;
    }
    self.active.fetch_sub(1, std::memory_order_relaxed);
    self.task_done();
  }
  SessionGuard(const SessionGuard&) = delete;
  SessionGuard& operator=(const SessionGuard&) = delete;
};

struct TaskGuard {
  Impl& self;
  std::atomic<std::uint64_t>* extra = nullptr;  // decremented too
  ~TaskGuard() {
    if (extra != nullptr) {
      extra->fetch_sub(1, std::memory_order_relaxed);
    }
    self.task_done();
  }
};

template <class S>
asio::awaitable<ErrorCode> write_response(S& stream, std::string& out, const kp::HttpResponse& resp,
                                          bool keep_alive, unsigned req_version, bool head_request,
                                          std::chrono::milliseconds timeout) {
  out.clear();
  const bool with_body = detail::build_response_head(out, resp, keep_alive, req_version, head_request);
  if constexpr (kIsTls<S>) {
    if (with_body && out.size() + resp.body.size() <= kTlsCoalesceLimit) {
      out.append(resp.body);
      stream.expires_after(timeout);
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kUseTuple);
      (void)n;
      if (resp.sensitive_body) {
        detail::wipe_string(out);
      }
      co_return ec;
    }
  }
  std::array<asio::const_buffer, 2> bufs{asio::buffer(out),
                                         with_body ? asio::buffer(resp.body) : asio::const_buffer{}};
  // TimedStream sends at once what the socket takes (usually the whole
  // answer) and waits in the reactor only for the rest.
  stream.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(stream, bufs, kUseTuple);
  (void)n;
  co_return ec;
}

// Half-close, then drain the client's remaining bytes for a short while so
// the close does not become an RST that discards our answer (RFC 9112 9.6).
asio::awaitable<void> linger_close(Stream& stream, detail::WipingBuffer& buf) {
  ErrorCode ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    co_return;
  }
  stream.expires_after(kLingerTimeout);
  std::size_t total = 0;
  while (total < kLingerMaxBytes) {
    buf.clear();
    auto space = buf.prepare_at_least(4096);
    auto [rec, n] = co_await stream.async_read_some(space, kUseTuple);
    buf.commit(n);
    buf.clear();
    total += n;
    if (rec) {
      break;
    }
  }
}

// TLS close: close_notify (and the peer's, briefly), then for an error
// answer the same drain as plain HTTP, on the raw socket.
asio::awaitable<void> tls_close(TlsStream& stream, detail::WipingBuffer& buf, bool linger) {
  stream.expires_after(linger ? kLingerTimeout : kCloseNotifyWait);
  auto [ec] = co_await stream.ssl().async_shutdown(kUseTuple);
  (void)ec;
  if (linger && stream.socket().is_open()) {
    co_await linger_close(stream.lowest(), buf);
  }
}

// A client that left (its SDK gave up) must not hold its slot, the handler's
// wait and the upstream connection until the upstream answers. Once a second,
// each request that was with the handler a second ago too gets a peek at its
// socket: end of stream (a half-close too, as in nginx) or an error cuts the
// handler as close_all() does. Per request: two assignments and a flag test.
asio::awaitable<void> watch_clients(std::shared_ptr<Impl> self, std::size_t idx) {
  CtxState& cs = *self->ctx[idx];
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (;;) {
    tick.expires_after(kClientWatchPeriod);
    auto [ec] = co_await tick.async_wait(kUseTuple);
    bool busy = false;
    for (Conn* c = cs.head, *next = nullptr; c != nullptr && !ec; c = next) {
      next = c->next;
      if (!c->in_handler || c->stream == nullptr) {
        continue;
      }
      busy = true;
      if (c->watched != c->handled) {
        c->watched = c->handled;  // a newer request: look again next time
      } else if (peek_peer(c->stream->socket().native_handle()) == PeerState::kClosed) {
        c->cancel.emit(asio::cancellation_type::terminal);
        c->stream->close();
      }
    }
    if (ec || !busy) {  // also while draining: a client that left must not hold the drain
      cs.watching = false;
      co_return;
    }
  }
}

// Starts watch_clients() on context `idx` unless one runs there already.
void watch_clients_of(const std::shared_ptr<Impl>& self, std::size_t idx) {
  CtxState& cs = *self->ctx[idx];
  if (!cs.watching) {
    cs.watching = true;
    asio::co_spawn(self->pool.context(idx), watch_clients(self, idx), asio::detached);
  }
}

template <class S>
S open_stream(tcp::socket sock, const ServerOptions& opt) {
  if constexpr (kIsTls<S>) {
    return S(std::move(sock), opt.tls->impl().ctx);
  } else {
    return S(std::move(sock));
  }
}

template <class S>
asio::awaitable<void> session(std::shared_ptr<Impl> self, tcp::socket sock, Conn* conn, std::size_t idx) {
  CtxState& cs = *self->ctx[idx];
  SessionGuard guard(*self, cs, *conn);
  const ServerOptions& opt = self->opt;
  S stream = open_stream<S>(std::move(sock), opt);
  conn->stream = &lowest_layer(stream);
  if constexpr (kIsTls<S>) {
    // The handshake deadline runs from accept; the header deadline from its end.
    stream.expires_after(opt.tls_handshake_timeout);
    auto [hec] = co_await stream.ssl().async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (hec) {
      bump(cs.tls_failures);
      if (hec == beast::error::timeout) {
        bump(cs.timeouts);
      }
      ErrorCode ignored;
      stream.socket().close(ignored);
      co_return;
    }
  }

  detail::WipingBuffer buf(kInitialReadBuffer, opt.max_header_bytes + kReadSlack);
  std::string out;
  out.reserve(512);
  bool first = true;
  bool idle_deadline_set = false;  // the keep-alive wait's deadline runs (blank lines do not renew it)
  bool linger = false;
  const detail::SimpleLimits simple_limits{
      .header_limit = std::min<std::size_t>(opt.max_header_bytes, std::numeric_limits<std::uint32_t>::max()),
      .body_limit = static_cast<std::uint64_t>(opt.max_body_bytes)};
  // The first request's header deadline runs from accept.
  stream.expires_after(opt.header_read_timeout);

  for (;;) {
    // --- Wait for the first byte of the next request (idle keep-alive). ---
    if (buf.size() == 0) {
      if (self->shutting_down.load(std::memory_order_acquire)) {
        break;
      }
      if (!first && !idle_deadline_set) {
        stream.expires_after(opt.idle_keepalive_timeout);
        idle_deadline_set = true;
      }
      conn->idle = true;
      auto [ec, n] = co_await stream.async_read_some(buf.prepare_at_least(4096), kUseTuple);
      buf.commit(n);
      if (ec) {
        if (ec == beast::error::timeout && first) {
          bump(cs.timeouts);
        }
        break;
      }
    }
    // RFC 9112 2.2: empty lines before a request line are ignored (some
    // clients end a POST body with an extra CRLF). Only CR/LF: back to the
    // idle wait, under the deadline that was running (idle_deadline_set).
    if (const std::size_t blank = detail::leading_empty_lines(
            std::string_view(static_cast<const char*>(buf.data().data()), buf.size()));
        blank > 0) {
      buf.consume(blank);
      if (buf.size() == 0) {
        continue;
      }
    }
    if (!first) {
      stream.expires_after(opt.header_read_timeout);
    }
    first = false;
    idle_deadline_set = false;

    // --- Read the header, then (after 100 Continue if asked) the body. An
    // SDK's plain request, here whole before Beast has read any of it, takes
    // the fast path instead (http_simple.h). ---
    kp::HttpRequest req;
    detail::RequestSink parser(req);
    parser.header_limit(static_cast<std::uint32_t>(simple_limits.header_limit));
    parser.body_limit(simple_limits.body_limit);
    std::optional<detail::SimpleMessage> simple;
    const auto fast = [&](detail::WipingBuffer& b) {
      simple = detail::take_simple(b, simple_limits, req);
      return simple.has_value();
    };
    std::size_t received = 0;
    // Until the header is in, shutdown may still cut the connection: no
    // request has been taken, and a half-sent one must not hold the drain.
    if (self->shutting_down.load(std::memory_order_acquire)) {
      break;
    }
    ErrorCode ec = co_await detail::read_message(stream, buf, parser, detail::ReadUntil::kHeader, received, fast);
    conn->idle = false;
    if (!ec && !simple) {
      if (!parser.is_done()) {
        if (parser.expect_continue() && req.version >= 11 && buf.size() == 0) {
          stream.expires_after(opt.write_timeout);
          auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(k100Continue), kUseTuple);
          (void)wn;
          if (wec) {
            break;
          }
        }
        parser.eager(true);
        stream.expires_after(opt.body_read_timeout);
        ec = co_await detail::read_message(stream, buf, parser, detail::ReadUntil::kMessage, received);
      }
    }
    // What the server answers itself: a read that failed in a way the client
    // should hear about, or (RFC 9112 3.2) a missing (HTTP/1.1), repeated or
    // malformed Host, which is a 400. Then the connection closes.
    std::optional<LocalAnswer> local;
    if (ec) {
      if (ec == beast::error::timeout) {
        bump(cs.timeouts);
      }
      local = answer_to_read_error(ec, opt, parser.is_header_done());
    } else if (const std::string_view bad_host = detail::host_field_problem(req); !bad_host.empty()) {
      local = LocalAnswer{Errc::kMalformedRequest, "http: malformed request: " + std::string(bad_host)};
    }
    if (ec || local) {
      detail::wipe_string(req.body);
      if (!local) {
        break;
      }
      bump(cs.local_errors);
      auto resp = error_response(local->code, local->message);
      const std::string request_id = stamp_request_id(opt, resp);
      if (opt.on_local_error) {
        opt.on_local_error(resp.status, local->message, request_id);
      }
      const auto wec = co_await write_response(stream, out, resp, false, 11, false, opt.write_timeout);
      linger = !wec;
      break;
    }

    // --- Handle. ---
    const bool head_request = req.method == "HEAD";
    const bool client_keep_alive = simple ? simple->keep_alive : parser.keep_alive();
    const unsigned version = req.version;
    bump(cs.requests);
    kp::HttpResponse resp;
    bool threw = false;
    conn->in_handler = true;
    ++conn->handled;
    watch_clients_of(self, idx);
    try {
      resp = co_await self->handler(std::move(req));
    } catch (...) {
      threw = true;
    }
    conn->in_handler = false;
    // Cut on purpose: a client that left (its stream is closed: nobody reads
    // an answer), or close_all() at the end of the shutdown grace, which
    // leaves the stream open so that the client hears why (503, which SDKs
    // retry) instead of finding its connection dropped.
    const bool cut_by_shutdown = conn->cut;
    const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
    if (cancel_state.cancelled() != asio::cancellation_type::none) {
      if (!cut_by_shutdown) {
        break;
      }
      co_await asio::this_coro::reset_cancellation_state();  // so that the answer can be written
    }
    if (threw && cut_by_shutdown) {
      const std::string_view message =
          "proxy: stopping: the request was cut at the end of the shutdown grace period; retry";
      resp = error_response(Errc::kShuttingDown, message);
      const std::string request_id = stamp_request_id(opt, resp);
      if (opt.on_local_error) {
        opt.on_local_error(resp.status, message, request_id);
      }
    } else if (threw || resp.status < 200 || resp.status > 599) {
      // The handler failed (a bug): a 500 of the server's own, with an id
      // the operator can find in the log (fixed text, never the exception's).
      bump(cs.handler_exceptions);
      const std::string_view message = threw ? "proxy: internal error while handling the request"
                                             : "proxy: handler produced an invalid HTTP status";
      detail::wipe_string(resp.body);
      resp = error_response(Errc::kInternal, message);
      const std::string request_id = stamp_request_id(opt, resp);
      if (opt.on_local_error) {
        opt.on_local_error(resp.status, message, request_id);
      }
    }
    ResponseWipe wipe{resp};

    // --- Write. ---
    const bool keep = client_keep_alive && !self->shutting_down.load(std::memory_order_acquire);
    const auto wec = co_await write_response(stream, out, resp, keep, version, head_request,
                                             cut_by_shutdown ? std::min<std::chrono::milliseconds>(
                                                                   opt.write_timeout, kCutAnswerWriteTimeout)
                                                             : opt.write_timeout);
    if (wec) {
      if (wec == beast::error::timeout) {
        bump(cs.timeouts);
      }
      break;
    }
    if (!keep) {
      linger = !cut_by_shutdown && (buf.size() != 0 || !client_keep_alive);
      break;
    }
  }

  if constexpr (kIsTls<S>) {
    co_await tls_close(stream, buf, linger);
  } else if (linger) {
    co_await linger_close(stream, buf);
  }
  ErrorCode ignored;
  stream.socket().close(ignored);
}

asio::awaitable<void> reject(std::shared_ptr<Impl> self, tcp::socket sock) {
  TaskGuard guard{*self, &self->rejecting};
  Stream stream(std::move(sock));
  std::string out;
  auto resp = error_response(
      Errc::kTooManyConnections,
      "http: too many connections (limit " + std::to_string(self->opt.max_connections) + "), retry later");
  stamp_request_id(self->opt, resp);
  const auto ec =
      co_await write_response(stream, out, resp, false, 11, false, std::min<std::chrono::milliseconds>(
                                                                         self->opt.write_timeout, 2s));
  if (!ec) {
    detail::WipingBuffer buf(4096, 4096);
    co_await linger_close(stream, buf);
  }
}

}  // namespace

namespace detail {

asio::awaitable<void> serve_connection(std::shared_ptr<Impl> self, tcp::socket sock, Conn* conn, std::size_t idx) {
  const bool tls = self->opt.tls != nullptr;
  return tls ? session<TlsStream>(std::move(self), std::move(sock), conn, idx)
             : session<Stream>(std::move(self), std::move(sock), conn, idx);
}

asio::awaitable<void> refuse_connection(std::shared_ptr<Impl> self, tcp::socket sock) {
  return reject(std::move(self), std::move(sock));
}

}  // namespace detail

}  // namespace kp::net
