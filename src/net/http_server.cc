// HttpServer: one acceptor, one coroutine per connection on the connection's
// own io_context. See http_server.h for the contract. This file: start, the
// accept loop, shutdown and statistics; the per-connection half is in
// http_session.cc, the state both share in detail/server_state.h.
#include "net/http_server.h"

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "base/error.h"
#include "net/detail/server_state.h"
#include "net/detail/http_wire.h"
#include "net/transport.h"

namespace kp::net {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using namespace std::chrono_literals;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// At most this many 503 answers in flight; beyond, over-limit sockets are
// closed at once (a flood must not grow memory without bound).
constexpr std::size_t kMaxRejecting = 256;

using Impl = HttpServer::Impl;

bool is_resource_exhaustion(const ErrorCode& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}

asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self, tcp::acceptor acc) {
  struct AcceptGuard {
    Impl& self;
    ~AcceptGuard() {
      self.acceptor = nullptr;
      self.task_done();
    }
  } guard{*self};
  self->acceptor = &acc;
  if (self->shutting_down.load(std::memory_order_acquire)) {
    co_return;
  }
  asio::steady_timer backoff(acc.get_executor());
  std::size_t rr = 0;
  for (;;) {
    const std::size_t idx = rr++ % self->ctx.size();
    auto [ec, sock] =
        co_await acc.async_accept(asio::any_io_executor(self->pool.context(idx).get_executor()), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open() ||
          self->shutting_down.load(std::memory_order_acquire)) {
        break;
      }
      if (is_resource_exhaustion(ec)) {
        // Out of descriptors: pause instead of spinning (nginx does the same).
        backoff.expires_after(50ms);
        co_await backoff.async_wait(kUseTuple);
      }
      continue;
    }
    if (self->shutting_down.load(std::memory_order_acquire)) {
      break;
    }
    ErrorCode ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    auto ex = sock.get_executor();
    if (self->active.load(std::memory_order_relaxed) >= self->opt.max_connections) {
      self->rejected.fetch_add(1, std::memory_order_relaxed);
      if (self->opt.on_rejected) {
        self->opt.on_rejected();
      }
      if (self->rejecting.load(std::memory_order_relaxed) >= kMaxRejecting || self->opt.tls) {
        sock.close(ignored);
        continue;
      }
      self->rejecting.fetch_add(1, std::memory_order_relaxed);
      self->tasks.fetch_add(1, std::memory_order_relaxed);
      asio::co_spawn(ex, detail::refuse_connection(self, std::move(sock)), [](std::exception_ptr) {});
      continue;
    }
    self->active.fetch_add(1, std::memory_order_relaxed);
    self->tasks.fetch_add(1, std::memory_order_relaxed);
    bump(self->ctx[idx]->accepted);  // single writer: the accept loop
    auto owned = std::make_unique<Conn>();
    Conn* conn = owned.get();
    asio::co_spawn(ex, detail::serve_connection(self, std::move(sock), conn, idx),
                   asio::bind_cancellation_slot(conn->cancel.slot(),
                                                [owned = std::move(owned)](std::exception_ptr) {}));
  }
}

}  // namespace

ScopedWipe::~ScopedWipe() { detail::wipe_string(s_); }

void HttpServer::Impl::begin_shutdown() {
  if (shutting_down.exchange(true)) {
    return;
  }
  if (!started.load()) {
    return;
  }
  auto self = shared_from_this();
  asio::post(pool.context(0), [self] {
    if (self->acceptor) {
      ErrorCode ec;
      self->acceptor->close(ec);
    }
  });
  for (std::size_t i = 0; i < ctx.size(); ++i) {
    asio::post(pool.context(i), [self, i] {
      for (Conn* c = self->ctx[i]->head; c != nullptr;) {
        Conn* next = c->next;
        if (c->idle && c->stream != nullptr) {
          c->stream->cancel();
        }
        c = next;
      }
    });
  }
}

void HttpServer::Impl::close_all(bool now) {
  begin_shutdown();
  auto self = shared_from_this();
  for (std::size_t i = 0; i < ctx.size(); ++i) {
    asio::post(pool.context(i), [self, i, now] {
      for (Conn* c = self->ctx[i]->head; c != nullptr;) {
        Conn* next = c->next;
        // A request with the handler keeps its stream (unless `now`): the
        // session answers it (503) once the cut handler returns, then closes.
        const bool answer = c->in_handler && !now;
        if (answer) {
          c->cut = true;
        }
        c->cancel.emit(asio::cancellation_type::terminal);
        if (c->stream != nullptr && !answer) {
          c->stream->close();
        }
        c = next;
      }
    });
  }
}

HttpServer::HttpServer(IoPool& pool, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(pool, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  // Non-blocking: sessions hold their own reference to Impl.
  if (impl_->started.load()) {
    impl_->close_all(/*now=*/true);
  }
}

kp::Result<std::uint16_t> HttpServer::start() {
  Impl& s = *impl_;
  if (s.started.exchange(true)) {
    return kp::fail(Errc::kValidation, "http server: already started");
  }
  if (s.shutting_down.load()) {
    return kp::fail(Errc::kValidation, "http server: start() after shutdown");
  }
  ErrorCode ec;
  asio::ip::address addr;
  if (kp::iequals(s.opt.host, "localhost")) {
    addr = asio::ip::address_v4::loopback();
  } else {
    addr = asio::ip::make_address(s.opt.host, ec);
    if (ec) {
      return kp::fail(Errc::kValidation,
                      "http server: listen host '" + s.opt.host + "' is not an IP address or 'localhost'");
    }
  }
  if (!is_loopback_host(s.opt.host) && !s.opt.allow_non_loopback) {  // 127/8, ::1, ::ffff:127/104
    return kp::fail(Errc::kValidation,
                    "http server: refusing to listen on non-loopback address " + s.opt.host + " (local clients only)");
  }
  const tcp::endpoint ep(addr, s.opt.port);
  const std::string where = addr.to_string() + ":" + std::to_string(s.opt.port);
  tcp::acceptor acc(s.pool.context(0));
  auto fail_os = [&](std::string_view what) {
    return kp::fail(Errc::kInternal, "http server: " + std::string(what) + " " + where + ": " + ec.message());
  };
  acc.open(ep.protocol(), ec);
  if (ec) {
    return fail_os("cannot open a socket for");
  }
  acc.set_option(tcp::acceptor::reuse_address(true), ec);
  acc.bind(ep, ec);
  if (ec) {
    return fail_os("cannot bind");
  }
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail_os("cannot listen on");
  }
  const auto bound = acc.local_endpoint(ec).port();
  s.port.store(bound);
  s.tasks.fetch_add(1);
  asio::co_spawn(s.pool.context(0), accept_loop(impl_, std::move(acc)), [](std::exception_ptr) {});
  return bound;
}

void HttpServer::begin_shutdown() { impl_->begin_shutdown(); }

void HttpServer::close_all() { impl_->close_all(/*now=*/false); }

void HttpServer::close_all_now() { impl_->close_all(/*now=*/true); }

bool HttpServer::wait_drained(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(impl_->drain_mutex);
  return impl_->drain_cv.wait_until(lock, deadline,
                                    [&] { return impl_->tasks.load(std::memory_order_acquire) == 0; });
}

bool HttpServer::shutdown() { return shutdown(impl_->opt.shutdown_grace); }

bool HttpServer::shutdown(std::chrono::milliseconds grace, const std::function<void()>& before_cut) {
  begin_shutdown();
  if (wait_drained(std::chrono::steady_clock::now() + grace)) {
    return true;
  }
  if (before_cut) {
    before_cut();
  }
  close_all();
  if (!wait_drained(std::chrono::steady_clock::now() + 2s)) {
    close_all_now();  // a handler that did not return when cut
    wait_drained(std::chrono::steady_clock::now() + 500ms);
  }
  return false;
}

ServerStats HttpServer::stats() const {
  ServerStats st;
  st.active_connections = impl_->active.load(std::memory_order_relaxed);
  st.rejected_connections = impl_->rejected.load(std::memory_order_relaxed);
  for (const auto& c : impl_->ctx) {
    st.accepted_connections += c->accepted.load(std::memory_order_relaxed);
    st.requests += c->requests.load(std::memory_order_relaxed);
    st.local_errors += c->local_errors.load(std::memory_order_relaxed);
    st.handler_exceptions += c->handler_exceptions.load(std::memory_order_relaxed);
    st.timeouts += c->timeouts.load(std::memory_order_relaxed);
    st.tls_handshake_failures += c->tls_failures.load(std::memory_order_relaxed);
  }
  return st;
}

std::uint16_t HttpServer::port() const noexcept { return impl_->port.load(); }

}  // namespace kp::net
