#include "credentials/caching_provider.h"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <exception>
#include <mutex>
#include <vector>

#include "base/instance_id.h"
#include "base/time_format.h"

namespace kp::credentials {

namespace {

using CredsPtr = std::shared_ptr<const sigv4::Credentials>;
using CredsResult = Result<CredsPtr>;
using Handler = boost::asio::any_completion_handler<void(CredsResult)>;

/// The calling thread's copy of the credentials it was last served: the hot
/// path hands out a shared_ptr whose count only this thread changes, and
/// takes no lock. (One shared copy made the I/O threads take the count's
/// cache line, and the lock's, from each other on every request.)
struct ThreadCopy {
  std::uint64_t state_id = 0;
  std::uint64_t generation = 0;
  SysTime refresh_at{};
  CredsPtr creds;  // the secrets are wiped when it is replaced and at thread exit
};
thread_local ThreadCopy t_copy;

/// One fetch and the callers waiting for it. A waiter also keeps its
/// executor busy (outstanding work): co_spawn'ed coroutines already do, but a
/// plain callback handler would otherwise let a single-threaded io_context of
/// the pool run out of work while it waits on another thread's fetch.
struct Waiter {
  Handler handler;
  boost::asio::any_io_executor work;
};

struct Flight {
  std::mutex mu;
  std::optional<CredsResult> result;
  std::vector<Waiter> waiters;
};

/// Suspends until `flight` has a result (immediately if it already has one)
/// and resumes on the waiter's own executor.
template <class Token>
auto async_join(std::shared_ptr<Flight> flight, Token&& token) {
  return boost::asio::async_initiate<Token, void(CredsResult)>(
      [](auto handler, std::shared_ptr<Flight> f) {
        auto ex = boost::asio::get_associated_executor(handler);
        std::unique_lock lk(f->mu);
        if (f->result) {
          CredsResult r = *f->result;
          lk.unlock();
          boost::asio::post(ex, [h = std::move(handler), r = std::move(r)]() mutable {
            std::move(h)(std::move(r));
          });
          return;
        }
        auto work = boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
        f->waiters.push_back(Waiter{Handler(std::move(handler)), std::move(work)});
      },
      token, std::move(flight));
}

void complete(Flight& f, const CredsResult& r) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lk(f.mu);
    f.result = r;
    waiters.swap(f.waiters);
  }
  for (auto& w : waiters) {
    boost::asio::post(w.work,
                      [h = std::move(w.handler), r]() mutable { std::move(h)(std::move(r)); });
  }
}

}  // namespace

struct CachingProvider::State {
  std::shared_ptr<CredentialsSource> source;
  CacheOptions opts;
  const std::uint64_t id = next_instance_id();  // unique per provider (addresses are reused)
  // Bumped (under mu) whenever `current` or `refresh_at` changes: threads'
  // own copies (get()) of an older generation are not served. Written once
  // per refresh, read per request: a line of its own.
  alignas(64) std::atomic<std::uint64_t> generation{0};

  alignas(64) mutable std::mutex mu;  // guards everything below; never held across co_await
  CredsPtr current;
  SysTime refresh_at{};
  bool expires = false;
  SysTime expires_at{};
  SysTime next_attempt_at{};  // back-off after a failure
  std::shared_ptr<Flight> flight;
  std::uint64_t refreshes = 0;
  std::uint64_t failures = 0;
  std::optional<SysTime> last_success;
  std::string last_error;

  /// The error for a caller without valid credentials (mu held).
  Error unavailable_locked() const {
    std::string msg = "credentials: no usable credentials from " + source->name();
    if (current && expires) {
      msg += " (they expired at " + format_rfc3339(expires_at) + ")";
    }
    msg += "; last error: ";
    msg += last_error.empty() ? std::string("none") : last_error;
    return Error{Errc::kCredentialsUnavailable, std::move(msg)};
  }
};

namespace {

boost::asio::awaitable<void> run_refresh(std::shared_ptr<CachingProvider::State> st,
                                         std::shared_ptr<Flight> flight) {
  Result<sigv4::Credentials> fetched = fail(Errc::kInternal, "not fetched");
  try {
    fetched = co_await st->source->fetch();
  } catch (const std::exception& e) {
    fetched = fail(Errc::kCredentialsUnavailable,
                   st->source->name() + ": unexpected exception: " + e.what());
  }
  const SysTime now = st->opts.clock->now();
  std::string warning;
  if (fetched && fetched->expiration && *fetched->expiration <= now) {
    const std::string what = st->source->name() + ": returned credentials that expired at " +
                             format_rfc3339(*fetched->expiration) + " by this clock (" + format_rfc3339(now) +
                             "; is the clock of the proxy or the source wrong?)";
    if (st->opts.expired_grace.count() > 0) {
      warning = what + "; using them for " + std::to_string(st->opts.expired_grace.count()) +
                " s and fetching again meanwhile";
      fetched->expiration = now + st->opts.expired_grace;
    } else {
      fetched = fail(Errc::kCredentialsUnavailable, what);
    }
  }

  const bool ok = static_cast<bool>(fetched);
  const std::optional<SysTime> new_expiration = ok ? fetched->expiration : std::nullopt;
  CredsResult out = CredsPtr{};
  {
    std::lock_guard lk(st->mu);
    if (ok) {
      const auto exp = fetched->expiration;
      st->current = std::make_shared<const sigv4::Credentials>(std::move(*fetched));
      st->generation.fetch_add(1, std::memory_order_release);
      if (exp) {
        st->expires = true;
        st->expires_at = *exp;
        st->refresh_at = *exp - st->opts.refresh_window;
        if (st->refresh_at <= now) {
          // Short-lived credentials: refresh half-way instead of constantly.
          st->refresh_at = now + (*exp - now) / 2;
        }
      } else {
        st->expires = false;
        st->refresh_at = now + st->opts.refresh_without_expiry;
      }
      ++st->refreshes;
      st->last_success = now;
      out = st->current;
    } else {
      ++st->failures;
      st->last_error = fetched.error().message;
      st->next_attempt_at = now + st->opts.retry_after_failure;
      out = st->unavailable_locked();
    }
    st->flight.reset();
  }
  if (!warning.empty() && st->opts.on_warning) {
    st->opts.on_warning(warning);
  }
  if (st->opts.on_refresh) {
    st->opts.on_refresh(ok, new_expiration, ok ? std::string_view() : std::string_view(fetched.error().message));
  }
  complete(*flight, out);
}

}  // namespace

CachingProvider::CachingProvider(std::shared_ptr<CredentialsSource> source, CacheOptions opts)
    : state_(std::make_shared<State>()) {
  state_->source = std::move(source);
  state_->opts = std::move(opts);
  if (state_->opts.clock == nullptr) {
    state_->opts.clock = &SystemClock::instance();
  }
}

CachingProvider::~CachingProvider() = default;

boost::asio::awaitable<Result<std::shared_ptr<const sigv4::Credentials>>> CachingProvider::get() {
  State& st = *state_;
  const SysTime now = st.opts.clock->now();
  if (t_copy.state_id == st.id && t_copy.generation == st.generation.load(std::memory_order_acquire) &&
      now < t_copy.refresh_at) {
    co_return t_copy.creds;  // the hot path
  }
  CredsPtr serve;
  std::shared_ptr<Flight> start;
  std::shared_ptr<Flight> join;
  std::optional<Error> fast_fail;
  {
    std::lock_guard lk(st.mu);
    if (st.current && now < st.refresh_at) {
      // Fresh: this thread takes a copy of its own for the hot path.
      t_copy.state_id = st.id;
      t_copy.generation = st.generation.load(std::memory_order_relaxed);
      t_copy.refresh_at = st.refresh_at;
      t_copy.creds = std::make_shared<const sigv4::Credentials>(st.current->clone());
      serve = t_copy.creds;
    } else {
      const bool valid = st.current && (!st.expires || now < st.expires_at);
      if (st.flight) {
        if (!valid) {
          join = st.flight;
        }
      } else if (now >= st.next_attempt_at) {
        st.flight = std::make_shared<Flight>();
        start = st.flight;
        if (!valid) {
          join = start;
        }
      } else if (!valid) {
        fast_fail = st.unavailable_locked();
      }
      if (valid) {
        serve = st.current;
      }
    }
  }
  if (start) {
    boost::asio::co_spawn(co_await boost::asio::this_coro::executor, run_refresh(state_, start),
                          boost::asio::detached);
  }
  if (serve) {
    co_return serve;
  }
  if (fast_fail) {
    co_return std::move(*fast_fail);
  }
  co_return co_await async_join(std::move(join), boost::asio::use_awaitable);
}

boost::asio::awaitable<Result<std::shared_ptr<const sigv4::Credentials>>>
CachingProvider::refresh() {
  std::shared_ptr<Flight> join;
  bool started = false;
  {
    std::lock_guard lk(state_->mu);
    if (!state_->flight) {
      state_->flight = std::make_shared<Flight>();
      started = true;
    }
    join = state_->flight;
  }
  if (started) {
    boost::asio::co_spawn(co_await boost::asio::this_coro::executor, run_refresh(state_, join),
                          boost::asio::detached);
  }
  co_return co_await async_join(std::move(join), boost::asio::use_awaitable);
}

RefreshStats CachingProvider::stats() const {
  std::lock_guard lk(state_->mu);
  RefreshStats s;
  s.refreshes = state_->refreshes;
  s.failures = state_->failures;
  s.in_flight = state_->flight != nullptr;
  if (state_->current && state_->expires) {
    s.expiration = state_->expires_at;
  }
  s.last_success = state_->last_success;
  s.last_error = state_->last_error;
  return s;
}

const std::string& CachingProvider::source_name() const { return state_->source->name(); }

}  // namespace kp::credentials
