// File: net/detail/timed_stream.h
//
// TimedStream<Protocol>: a socket with a deadline, a cheaper stand-in for
// beast::basic_stream. basic_stream arms an Asio timer for every read and
// write and cancels it when the operation completes: one timerfd_settime
// system call and one extra completion handler per operation whenever the
// timer is the context's earliest (on a quiet keep-alive connection: every
// time). Here a deadline is a number stored in the stream; one coarse sweeper
// per execution context (DeadlineSweeper, an Asio service) looks at all
// registered streams every `resolution` and cancels the pending operations of
// those past their deadline, which then complete with beast::error::timeout,
// as basic_stream's do. Setting a deadline costs an atomic store: no system
// call on the request path (nginx's model: a timer tree checked by the event
// loop, not a kernel timer per operation).
//
// Precision: a deadline fires between `d` and `d + resolution` late, where
// resolution = clamp(shortest timeout seen / 8, 1 ms, 100 ms).
//
// Thread model: a stream is used from one executor at a time (its socket's);
// the sweeper may run on another thread and reaches the stream only by
// posting to that executor. Internal to net; no Beast in the interface.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/error_code.hpp>

namespace kp::net::detail {

using SteadyClock = std::chrono::steady_clock;

/// Registers deadline states and expires them. One per execution context.
class DeadlineSweeper;

/// One stream's deadline as the sweeper sees it. `due_ns` is written by the
/// owner and read by the sweeper; the rest belongs to the owner's executor.
struct DeadlineState {
  static constexpr std::int64_t kNever = INT64_MAX;

  explicit DeadlineState(boost::asio::any_io_executor e) : ex(std::move(e)) {}

  std::atomic<std::int64_t> due_ns{kNever};
  boost::asio::any_io_executor ex;
  DeadlineSweeper* sweeper = nullptr;   // set at registration
  // Owner-thread only:
  bool finite = false;                  // a deadline is set (counted by the sweeper)
  bool expired = false;                 // the current deadline passed; pending ops were cancelled
  void (*cancel_fn)(void*) = nullptr;   // cancels the owner's pending operations
  void* owner = nullptr;                // null once the stream is gone
  // Sweeper only (under its mutex): the deadline already acted upon.
  std::int64_t posted_due = kNever;
};

/// Registration helpers (implemented in timed_stream.cc, keeping the service
/// machinery out of every user's compile).
std::shared_ptr<DeadlineState> register_deadline(const boost::asio::any_io_executor& ex);
void unregister_deadline(const std::shared_ptr<DeadlineState>& st);
/// Makes sure the sweeper of `st`'s context runs with a resolution fit for
/// `timeout`. Cheap when it already does (two atomic loads).
void deadline_armed(DeadlineState& st, std::chrono::nanoseconds timeout);
/// The stream has no deadline any more; the sweeper stops ticking (so an
/// io_context can run out of work) when no stream of its context has one.
void deadline_cleared(DeadlineState& st);

inline std::int64_t steady_ns(SteadyClock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

/// Completion wrapper: reports operation_aborted as beast::error::timeout
/// when the stream's deadline caused it. Forwards the wrapped handler's
/// associated executor, allocator and cancellation slot.
template <class Handler>
struct TimedHandler {
  Handler handler;
  std::shared_ptr<DeadlineState> state;

  void operator()(boost::system::error_code ec, std::size_t n) {
    // An operation that completed in the same instant as the deadline still
    // counts as done: only a cancelled one is a timeout.
    if (state->expired && ec == boost::asio::error::operation_aborted) {
      ec = boost::beast::error::timeout;
    }
    state.reset();
    std::move(handler)(ec, n);
  }
  // Readiness waits (async_wait) complete with the error code alone.
  void operator()(boost::system::error_code ec) {
    if (state->expired && ec == boost::asio::error::operation_aborted) {
      ec = boost::beast::error::timeout;
    }
    state.reset();
    std::move(handler)(ec);
  }
};

template <class Protocol>
class TimedStream {
 public:
  using socket_type = typename Protocol::socket;
  using lowest_layer_type = socket_type;
  using executor_type = typename socket_type::executor_type;

  explicit TimedStream(socket_type&& s)
      : socket_(std::move(s)), state_(register_deadline(socket_.get_executor())) {
    state_->owner = this;
    state_->cancel_fn = [](void* self) { static_cast<TimedStream*>(self)->cancel(); };
  }
  TimedStream(const TimedStream&) = delete;
  TimedStream& operator=(const TimedStream&) = delete;
  ~TimedStream() {
    state_->owner = nullptr;
    expires_never();
    unregister_deadline(state_);
  }

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  socket_type& socket() noexcept { return socket_; }
  lowest_layer_type& lowest_layer() noexcept { return socket_; }
  const lowest_layer_type& lowest_layer() const noexcept { return socket_; }

  void expires_after(std::chrono::nanoseconds d) {
    state_->expired = false;
    state_->due_ns.store(steady_ns(SteadyClock::now()) + d.count(), std::memory_order_relaxed);
    deadline_armed(*state_, d);
  }
  void expires_never() {
    state_->expired = false;
    state_->due_ns.store(DeadlineState::kNever, std::memory_order_relaxed);
    if (state_->finite) {
      deadline_cleared(*state_);
    }
  }

  void cancel() {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (past_due()) {
            // Not started at all: a read of bytes already in the socket
            // would complete before any cancel, so a peer that never stops
            // sending could outlive the deadline read after read.
            state_->expired = true;
            auto ex = boost::asio::get_associated_executor(handler, socket_.get_executor());
            boost::asio::post(ex, [h = std::move(handler)]() mutable {
              std::move(h)(boost::beast::error::timeout, std::size_t{0});
            });
            return;
          }
          socket_.async_read_some(b, wrap(std::move(handler)));
        },
        token, buffers);
  }

  /// Waits until the socket is readable or writable, under the stream's
  /// deadline (TlsClientStream waits so for a full socket buffer). Asio
  /// re-arms the descriptor for every wait (an epoll_ctl system call), so a
  /// wait also sees readiness that arrived before it; reads that wait often
  /// are cheaper through async_read_some, which tries the socket first and
  /// needs no re-arming.
  template <class Token>
  auto async_wait(typename socket_type::wait_type w, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, typename socket_type::wait_type wt) {
          socket_.async_wait(wt, wrap(std::move(handler)));
          cancel_if_past_due();
        },
        token, w);
  }

  /// Tries the write at once with a non-blocking send: a KMS-sized message
  /// almost always fits the socket buffer. When it does (or the send fails
  /// for good), the handler runs inline, before async_write_some returns:
  /// the caller is on the stream's executor (see the thread model above).
  /// Asio 1.81 would post even a write that completed at once: one more trip
  /// through the scheduler and one more epoll_wait per message; and
  /// asio::dispatch through an any_io_executor wraps the handler in a
  /// type-erased function and a work guard (callgrind: ~1.9k instructions
  /// per pass-through request).
  /// Inline runs are bounded: the only caller that loops on writes,
  /// asio::async_write, stops at the end of its message. Only when the
  /// socket would block does the write wait in the reactor.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (!past_due() && boost::asio::buffer_size(b) != 0) {
            boost::system::error_code ec;
            std::size_t n = 0;
            if (!socket_.non_blocking()) {
              socket_.non_blocking(true, ec);
            }
            if (!ec) {
              n = socket_.write_some(b, ec);
            }
            if (ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) {
              std::move(handler)(ec, n);
              return;
            }
          }
          socket_.async_write_some(b, wrap(std::move(handler)));
          cancel_if_past_due();
        },
        token, buffers);
  }

 private:
  template <class Handler>
  TimedHandler<std::decay_t<Handler>> wrap(Handler&& h) {
    return TimedHandler<std::decay_t<Handler>>{std::forward<Handler>(h), state_};
  }

  bool past_due() const noexcept {
    const std::int64_t due = state_->due_ns.load(std::memory_order_relaxed);
    return due != DeadlineState::kNever && (state_->expired || steady_ns(SteadyClock::now()) >= due);
  }

  // An operation started after its deadline fails at once, as with
  // basic_stream (the sweeper would only notice on its next tick).
  void cancel_if_past_due() {
    if (past_due()) {
      state_->expired = true;
      cancel();
    }
  }

  socket_type socket_;
  std::shared_ptr<DeadlineState> state_;
};

}  // namespace kp::net::detail

namespace boost::asio {

template <template <typename, typename> class Associator, typename Handler, typename DefaultCandidate>
struct associator<Associator, kp::net::detail::TimedHandler<Handler>, DefaultCandidate> {
  using type = typename Associator<Handler, DefaultCandidate>::type;

  static type get(const kp::net::detail::TimedHandler<Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler);
  }
  static auto get(const kp::net::detail::TimedHandler<Handler>& h, const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler, c);
  }
};

}  // namespace boost::asio
