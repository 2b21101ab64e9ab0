// DeadlineSweeper: the per-execution-context service behind TimedStream.
#include "net/detail/timed_stream.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>

namespace kp::net::detail {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr std::chrono::nanoseconds kMinResolution = 1ms;
constexpr std::chrono::nanoseconds kMaxResolution = 100ms;
}  // namespace

class DeadlineSweeper final : public asio::execution_context::service {
 public:
  using key_type = DeadlineSweeper;
  static inline asio::execution_context::id id;

  explicit DeadlineSweeper(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  void add(const std::shared_ptr<DeadlineState>& st) {
    std::lock_guard lock(mu_);
    states_.push_back(st);
    st->posted_due = DeadlineState::kNever;
  }

  void remove(const std::shared_ptr<DeadlineState>& st) {
    std::lock_guard lock(mu_);
    auto it = std::find(states_.begin(), states_.end(), st);
    if (it != states_.end()) {
      *it = std::move(states_.back());
      states_.pop_back();
    }
  }

  // Hot path: the stream just set a finite deadline.
  void armed(DeadlineState& st, std::chrono::nanoseconds timeout) {
    if (!st.finite) {
      st.finite = true;
      finite_.fetch_add(1, std::memory_order_acq_rel);
    }
    const std::int64_t want = std::clamp(timeout / 8, kMinResolution, kMaxResolution).count();
    if (running_.load(std::memory_order_acquire) && want >= resolution_ns_.load(std::memory_order_relaxed)) {
      return;
    }
    std::lock_guard lock(mu_);
    if (want < resolution_ns_.load(std::memory_order_relaxed)) {
      resolution_ns_.store(want, std::memory_order_relaxed);
    }
    if (!running_.load(std::memory_order_relaxed) && !shut_down_) {
      if (!timer_) {
        timer_.emplace(st.ex);
      }
      running_.store(true, std::memory_order_release);
      schedule_locked();
    }
  }

  void cleared(DeadlineState& st) {
    st.finite = false;
    if (finite_.fetch_sub(1, std::memory_order_acq_rel) != 1) {
      return;
    }
    // The last finite deadline is gone: stop the ticker on its own executor,
    // unless a new deadline came first.
    std::lock_guard lock(mu_);
    if (!shut_down_ && timer_ && running_.load(std::memory_order_relaxed)) {
      asio::post(timer_->get_executor(), [this] {
        std::lock_guard l(mu_);
        if (finite_.load(std::memory_order_acquire) == 0 && running_.load(std::memory_order_relaxed)) {
          running_.store(false, std::memory_order_release);
          timer_->cancel();
        }
      });
    }
  }

 private:
  void shutdown() override {
    std::lock_guard lock(mu_);
    // The timer's service was created after this one, so it is already shut
    // down (services stop newest first) and is destroyed before this one:
    // the timer must go now, not in our destructor.
    shut_down_ = true;
    running_.store(false, std::memory_order_relaxed);
    timer_.reset();
    states_.clear();
  }

  void schedule_locked() {
    timer_->expires_after(std::chrono::nanoseconds(resolution_ns_.load(std::memory_order_relaxed)));
    timer_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        tick();
      }
    });
  }

  void tick() {
    std::lock_guard lock(mu_);
    if (shut_down_) {
      return;
    }
    if (!running_.load(std::memory_order_relaxed)) {
      return;  // stopped by cleared() after this tick was queued
    }
    const std::int64_t now = steady_ns(SteadyClock::now());
    bool any_finite = false;
    for (const auto& st : states_) {
      const std::int64_t due = st->due_ns.load(std::memory_order_relaxed);
      if (due == DeadlineState::kNever || st->posted_due == due) {
        continue;  // nothing to watch, or already acted upon
      }
      if (due > now) {
        any_finite = true;
        continue;
      }
      st->posted_due = due;
      // The owner's executor serialises this with the stream's own use of it.
      asio::post(st->ex, [st, due] {
        if (st->owner == nullptr || st->due_ns.load(std::memory_order_relaxed) != due) {
          return;  // gone, or a new deadline was set meanwhile
        }
        st->expired = true;
        st->cancel_fn(st->owner);
      });
    }
    if (any_finite) {
      schedule_locked();
    } else {
      // Nothing left to watch: stop ticking until armed() is called again.
      running_.store(false, std::memory_order_release);
    }
  }

  std::mutex mu_;
  std::vector<std::shared_ptr<DeadlineState>> states_;
  std::optional<asio::steady_timer> timer_;
  std::atomic<bool> running_{false};
  std::atomic<std::int64_t> finite_{0};  // streams with a finite deadline
  std::atomic<std::int64_t> resolution_ns_{kMaxResolution.count()};
  bool shut_down_ = false;
};

namespace {
DeadlineSweeper& sweeper_for(const asio::any_io_executor& ex) {
  return asio::use_service<DeadlineSweeper>(asio::query(ex, asio::execution::context));
}
}  // namespace

std::shared_ptr<DeadlineState> register_deadline(const asio::any_io_executor& ex) {
  auto st = std::make_shared<DeadlineState>(ex);
  st->sweeper = &sweeper_for(ex);
  st->sweeper->add(st);
  return st;
}

void unregister_deadline(const std::shared_ptr<DeadlineState>& st) { st->sweeper->remove(st); }

void deadline_armed(DeadlineState& st, std::chrono::nanoseconds timeout) { st.sweeper->armed(st, timeout); }

void deadline_cleared(DeadlineState& st) { st.sweeper->cleared(st); }

}  // namespace kp::net::detail
