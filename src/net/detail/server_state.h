// File: net/detail/server_state.h
// HttpServer's private state, shared by its two halves: the accept loop and
// shutdown (http_server.cc) and the per-connection code (http_session.cc).
// Include it nowhere else.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/detail/timed_stream.h"
#include "net/http_server.h"

namespace kp::net {

namespace detail {
using ServerStream = TimedStream<boost::asio::ip::tcp>;  // deadlines without a timer per operation
}  // namespace detail

// A live session, registered in its context's list so begin_shutdown() and
// close_all() can reach it. Touched only on the session's thread; owned by
// the co_spawn completion handler so the cancellation signal outlives the
// coroutine.
struct Conn {
  boost::asio::cancellation_signal cancel;
  detail::ServerStream* stream = nullptr;
  bool idle = false;  // no request in hand: waiting for one, or reading its header (shutdown cuts these)
  bool in_handler = false;     // a request is with the handler
  bool cut = false;            // close_all() cut that request: answer 503
  std::uint64_t handled = 0;   // requests given to the handler so far
  std::uint64_t watched = ~std::uint64_t{0};  // `handled` when watch_clients() last looked
  Conn* prev = nullptr;
  Conn* next = nullptr;
};

struct alignas(64) CtxState {
  Conn* head = nullptr;
  bool watching = false;  // a watch_clients() runs on this context
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> local_errors{0};
  std::atomic<std::uint64_t> handler_exceptions{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> tls_failures{0};
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(IoPool& p, ServerOptions o, Handler h) : pool(p), opt(std::move(o)), handler(std::move(h)) {
    for (std::size_t i = 0; i < pool.size(); ++i) {
      ctx.push_back(std::make_unique<CtxState>());
    }
  }

  void task_done() {
    if (tasks.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(drain_mutex);
      drain_cv.notify_all();
    }
  }

  void begin_shutdown();
  void close_all(bool now);

  IoPool& pool;
  const ServerOptions opt;
  const Handler handler;
  std::vector<std::unique_ptr<CtxState>> ctx;
  // The acceptor lives in the accept loop's frame on pool.context(0) (Impl
  // may outlive the contexts, so it must own no I/O object); this pointer is
  // set and read only on that context's thread.
  boost::asio::ip::tcp::acceptor* acceptor = nullptr;

  std::atomic<bool> started{false};
  std::atomic<bool> shutting_down{false};
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::uint64_t> active{0};     // sessions (for max_connections)
  std::atomic<std::uint64_t> tasks{0};      // sessions + rejections + acceptor
  std::atomic<std::uint64_t> rejecting{0};  // 503 answers in flight
  std::atomic<std::uint64_t> rejected{0};
  std::mutex drain_mutex;
  std::condition_variable drain_cv;
};

// Counters are written only by their context's thread: a relaxed load+store
// is enough and avoids a locked RMW on the hot path.
inline void bump(std::atomic<std::uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

namespace detail {

/// Serves one accepted connection, plain HTTP or TLS (ServerOptions::tls),
/// until it closes; `conn` is in its context's list meanwhile. Accounted in
/// Impl::active and Impl::tasks, which the caller has incremented.
boost::asio::awaitable<void> serve_connection(std::shared_ptr<HttpServer::Impl> self,
                                              boost::asio::ip::tcp::socket sock, Conn* conn,
                                              std::size_t idx);

/// A connection over max_connections: a 503 at once (writing before the
/// request has been read is allowed, RFC 9112 9.3), then a graceful close.
/// Accounted in Impl::rejecting and Impl::tasks (incremented by the caller).
boost::asio::awaitable<void> refuse_connection(std::shared_ptr<HttpServer::Impl> self,
                                               boost::asio::ip::tcp::socket sock);

}  // namespace detail

}  // namespace kp::net
