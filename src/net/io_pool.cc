#include "net/io_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <string>

#include <boost/asio/executor_work_guard.hpp>

namespace kp::net {

namespace {

// Runs `ctx` until it is stopped or runs out of work. With busy polling,
// poll() (epoll_wait with a zero timeout, then the ready handlers) repeats
// until `spin` has passed since the last handler ran; only then does the
// thread block in run_one().
void run_context(boost::asio::io_context& ctx, std::chrono::microseconds spin) {
  if (spin.count() <= 0) {
    ctx.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto last_event = Clock::now();
  while (!ctx.stopped()) {
    if (ctx.poll() > 0) {
      last_event = Clock::now();
      continue;
    }
    if (Clock::now() - last_event < spin) {
      sched_yield();  // let a runnable thread on this CPU go first
      continue;
    }
    if (ctx.run_one() == 0) {
      return;  // stopped, or out of work
    }
    last_event = Clock::now();
  }
}

}  // namespace

IoPool::IoPool(std::size_t n_threads, std::chrono::microseconds busy_poll) : busy_poll_(busy_poll) {
  if (n_threads == 0) {
    n_threads = std::max(1u, std::thread::hardware_concurrency());
  }
  contexts_.reserve(n_threads);
  for (std::size_t i = 0; i < n_threads; ++i) {
    // Hint 1: each context is run by exactly one thread (lets the scheduler
    // use its single-thread fast paths; cross-thread post stays safe).
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
  }
}

IoPool::~IoPool() {
  stop();
  join();
}

boost::asio::io_context& IoPool::next() noexcept {
  const auto i = rr_.fetch_add(1, std::memory_order_relaxed);
  return *contexts_[i % contexts_.size()];
}

std::size_t IoPool::index_of(const boost::asio::execution_context& ctx) const noexcept {
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    if (static_cast<const boost::asio::execution_context*>(contexts_[i].get()) == &ctx) {
      return i;
    }
  }
  return contexts_.size();
}

void IoPool::run() {
  if (!threads_.empty()) {
    return;
  }
  guards_.clear();
  for (auto& ctx : contexts_) {
    ctx->restart();
    guards_.emplace_back(ctx->get_executor());
  }
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, c = contexts_[i].get(), i] {
      // Named for operators (top -H, perf) and the benchmark's thread pinning.
      const std::string name = "kp-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      // Sessions catch their own exceptions; anything reaching here is a bug
      // in a completion handler. Count it and keep the thread serving rather
      // than terminating the daemon.
      for (;;) {
        try {
          run_context(*c, busy_poll_);
          return;
        } catch (...) {
          uncaught_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
}

void IoPool::stop() {
  for (auto& ctx : contexts_) {
    ctx->stop();
  }
}

void IoPool::join() {
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) {
      t.join();
    }
  }
  threads_.clear();
  guards_.clear();
}

}  // namespace kp::net
