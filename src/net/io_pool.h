// File: net/io_pool.h
//
// A pool of single-threaded io_contexts, nginx-style: every connection lives
// on one context (one thread) for its whole life, so per-connection and
// per-context state needs no locks. The acceptor and the upstream client
// spread work with next() (round-robin).
//
//   kp::net::IoPool pool(2);
//   boost::asio::co_spawn(pool.next(), my_coroutine(), boost::asio::detached);
//   pool.run();  ...  pool.stop(); pool.join();
//
// Lifetime: servers and clients that use the pool must be destroyed before
// the pool (declare the pool first). Depends on Asio only.
//
// Busy polling (opt-in): a thread that has just run a handler keeps checking
// for ready events, without sleeping, for up to `busy_poll` before it blocks
// in epoll_wait. Between checks it yields the CPU to any other runnable
// thread. An event arriving in that window is picked up without a sleep and
// a wake-up (tens of microseconds each on a VM); the price is CPU time spent
// polling while there is nothing to do. HAProxy's `busy-polling` is the same
// trade, without the bound.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace kp::net {

class IoPool {
 public:
  /// `n_threads == 0` means std::thread::hardware_concurrency() (at least 1).
  /// `busy_poll` zero or negative: threads sleep as soon as they are idle.
  explicit IoPool(std::size_t n_threads = 0, std::chrono::microseconds busy_poll = {});
  /// Stops and joins the threads if still running.
  ~IoPool();

  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  std::size_t size() const noexcept { return contexts_.size(); }
  /// Round-robin choice of a context (thread-safe, lock-free).
  boost::asio::io_context& next() noexcept;
  boost::asio::io_context& context(std::size_t i) noexcept { return *contexts_[i]; }
  /// Index of `ctx` in the pool, or size() when it is not one of ours.
  std::size_t index_of(const boost::asio::execution_context& ctx) const noexcept;

  /// Starts one thread per context and returns (idempotent until stop()).
  void run();
  /// Asks every context to stop; pending handlers are abandoned. Thread-safe.
  void stop();
  /// Waits for the threads started by run() to exit. Not from a pool thread.
  void join();

  /// Exceptions that escaped a handler (a bug; the thread kept running).
  std::uint64_t uncaught_exceptions() const noexcept {
    return uncaught_.load(std::memory_order_relaxed);
  }

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;

  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::chrono::microseconds busy_poll_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> rr_{0};
  std::atomic<std::uint64_t> uncaught_{0};
};

}  // namespace kp::net
