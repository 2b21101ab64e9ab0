// CachingProvider: expiry, background refresh, single flight, failure
// handling, cross-executor waiters and the cost of the hot path. Time is
// pinned with FixedClock; every wait has a deadline.
#include "credentials/caching_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <future>
#include <mutex>
#include <condition_variable>
#include <new>
#include <thread>

#include "base/time_format.h"
#include "credentials/test_http.h"

// Counts heap allocations while g_counting is set (hot-path test). The other
// forms (array, nothrow) forward to these in libstdc++.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace kp::credentials {
namespace {

namespace asio = boost::asio;
using testing::run_for;
using CredsResult = Result<std::shared_ptr<const sigv4::Credentials>>;

const SysTime kT0 = *parse_time_utc("2024-05-01T12:00:00Z");

/// A scripted source: each fetch yields "AKID-<n>" expiring `lifetime` after
/// the clock's now, or fails with `error`; optionally after a real delay.
class FakeSource final : public CredentialsSource {
 public:
  explicit FakeSource(const Clock& clock) : clock_(clock) {}

  const std::string& name() const override { return name_; }

  asio::awaitable<Result<sigv4::Credentials>> fetch() override {
    const int n = ++calls;
    if (delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (!error.empty()) {
      co_return Error{Errc::kCredentialsUnavailable, name_ + ": " + error};
    }
    sigv4::Credentials c;
    c.access_key_id = "AKID-" + std::to_string(n);
    c.secret_access_key = SecretBytes::copy_of(std::string_view("secret"));
    if (lifetime) {
      c.expiration = clock_.now() + *lifetime;
    }
    co_return c;
  }

  std::atomic<int> calls{0};
  std::chrono::milliseconds delay{0};
  std::string error;  // non-empty: fail
  std::optional<std::chrono::seconds> lifetime{std::chrono::hours(1)};

 private:
  const Clock& clock_;
  std::string name_ = "fake source";
};

class CachingTest : public ::testing::Test {
 protected:
  asio::io_context ioc_;
  FixedClock clock_{kT0};
  std::shared_ptr<FakeSource> source_ = std::make_shared<FakeSource>(clock_);
  std::atomic<int> ok_callbacks_{0};
  std::atomic<int> failed_callbacks_{0};
  std::optional<SysTime> last_callback_expiration_;  // set by on_refresh (this test's one thread)
  std::string last_callback_reason_;                  // a failed fetch's reason, from on_refresh

  std::shared_ptr<CachingProvider> make() {
    CacheOptions o;
    o.clock = &clock_;
    o.refresh_window = std::chrono::minutes(5);
    o.retry_after_failure = std::chrono::seconds(10);
    o.on_refresh = [this](bool ok, std::optional<SysTime> expiration, std::string_view reason) {
      (ok ? ok_callbacks_ : failed_callbacks_).fetch_add(1);
      if (ok) {
        last_callback_expiration_ = expiration;
        EXPECT_TRUE(reason.empty());
      } else {
        last_callback_reason_ = std::string(reason);
      }
    };
    return std::make_shared<CachingProvider>(source_, std::move(o));
  }

  CredsResult get(CachingProvider& p) { return run_for(ioc_, p.get()); }

  std::string key_of(CachingProvider& p) {
    auto r = get(p);
    return r ? (*r)->access_key_id : "error: " + r.error().message;
  }

  /// Runs the context until `pred` holds (fails the test after 5 s).
  template <class Pred>
  void run_until(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      ioc_.run_one_for(std::chrono::milliseconds(10));
      if (ioc_.stopped()) {
        ioc_.restart();
      }
    }
    ASSERT_TRUE(pred()) << "condition not reached within 5 s";
  }

  /// Starts `n` concurrent get() calls; returns their (eventual) results.
  std::shared_ptr<std::vector<std::optional<CredsResult>>> spawn_gets(CachingProvider& p, int n) {
    auto results = std::make_shared<std::vector<std::optional<CredsResult>>>(n);
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          ioc_, [&p, results, i]() -> asio::awaitable<void> { (*results)[i] = co_await p.get(); },
          asio::detached);
    }
    return results;
  }

  static bool all_done(const std::vector<std::optional<CredsResult>>& rs) {
    for (const auto& r : rs) {
      if (!r) {
        return false;
      }
    }
    return true;
  }
};

TEST_F(CachingTest, CachedUntilTheRefreshWindow) {
  auto p = make();
  EXPECT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(54));  // 6 min left: still outside the window
  EXPECT_EQ(key_of(*p), "AKID-1");
  EXPECT_EQ(key_of(*p), "AKID-1");
  EXPECT_EQ(source_->calls.load(), 1);
  const auto s = p->stats();
  EXPECT_EQ(s.refreshes, 1U);
  EXPECT_EQ(s.failures, 0U);
  ASSERT_TRUE(s.expiration.has_value());
  EXPECT_EQ(*s.expiration, kT0 + std::chrono::hours(1));
  EXPECT_EQ(ok_callbacks_.load(), 1);
  EXPECT_EQ(last_callback_expiration_, std::optional<SysTime>(kT0 + std::chrono::hours(1)));
}

TEST_F(CachingTest, InsideTheWindowOneBackgroundRefreshServesEveryone) {
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(57));  // 3 min left: inside the window
  source_->delay = std::chrono::milliseconds(100);

  auto results = spawn_gets(*p, 10);
  run_until([&] { return all_done(*results); });
  for (const auto& r : *results) {
    ASSERT_TRUE(*r) << r->error().message;
    EXPECT_EQ((**r)->access_key_id, "AKID-1");  // served from cache, not blocked
  }
  EXPECT_EQ(source_->calls.load(), 2);  // exactly one refresh for ten callers
  EXPECT_TRUE(p->stats().in_flight);

  run_until([&] { return !p->stats().in_flight; });
  EXPECT_EQ(key_of(*p), "AKID-2");
  EXPECT_EQ(source_->calls.load(), 2);
  EXPECT_EQ(*p->stats().expiration, clock_.now() + std::chrono::hours(1));
}

TEST_F(CachingTest, AfterExpiryCallersShareOneFetch) {
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(61));
  source_->delay = std::chrono::milliseconds(100);
  auto results = spawn_gets(*p, 10);
  run_until([&] { return all_done(*results); });
  for (const auto& r : *results) {
    ASSERT_TRUE(*r) << r->error().message;
    EXPECT_EQ((**r)->access_key_id, "AKID-2");
  }
  EXPECT_EQ(source_->calls.load(), 2);
}

TEST_F(CachingTest, FailedRefreshKeepsOldCredentialsUntilExpiryThenErrors) {
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(56));
  source_->error = "IMDS said no";

  EXPECT_EQ(key_of(*p), "AKID-1");  // starts a refresh that fails
  run_until([&] { return p->stats().failures == 1; });
  EXPECT_EQ(key_of(*p), "AKID-1");  // still valid; back-off: no new fetch yet
  EXPECT_EQ(source_->calls.load(), 2);

  clock_.advance(std::chrono::seconds(11));
  EXPECT_EQ(key_of(*p), "AKID-1");  // past the back-off: one more attempt
  run_until([&] { return p->stats().failures == 2; });
  EXPECT_EQ(source_->calls.load(), 3);

  clock_.advance(std::chrono::minutes(4));  // now past the expiry
  auto r = get(*p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_NE(r.error().message.find("fake source"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("IMDS said no"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("expired at 2024-05-01T13:00:00Z"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(source_->calls.load(), 4);

  // The log hook hears why (the source's own message).
  EXPECT_NE(last_callback_reason_.find("IMDS said no"), std::string::npos) << last_callback_reason_;
  // Within the back-off the error comes back at once, without a fetch.
  auto again = get(*p);
  ASSERT_FALSE(again);
  EXPECT_EQ(source_->calls.load(), 4);

  // Recovery after the back-off.
  source_->error.clear();
  clock_.advance(std::chrono::seconds(11));
  EXPECT_EQ(key_of(*p), "AKID-5");
  EXPECT_EQ(ok_callbacks_.load(), 2);
  EXPECT_EQ(failed_callbacks_.load(), 3);
  const auto s = p->stats();
  EXPECT_EQ(s.refreshes, 2U);
  EXPECT_EQ(s.failures, 3U);
  EXPECT_NE(s.last_error.find("IMDS said no"), std::string::npos);
}

TEST_F(CachingTest, NeverFetchedFailureIsClear) {
  source_->error = "connection refused";
  auto p = make();
  auto r = get(*p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(r.error().message,
            "credentials: no usable credentials from fake source; last error: fake source: "
            "connection refused");
  EXPECT_EQ(source_->calls.load(), 1);
}

// Credentials that look expired on arrival are used for a grace period (as
// botocore does for IMDS: a source serving its last keys during an outage, or
// a clock ahead of the source's, which the proxy corrects from KMS's first
// answer), with a warning, and fetched again half-way; with no grace, refused.
TEST_F(CachingTest, AlreadyExpiredCredentialsGetAGracePeriodOrAreRefused) {
  source_->lifetime = std::chrono::seconds(-1);
  std::vector<std::string> warnings;
  CacheOptions o;
  o.clock = &clock_;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto p = std::make_shared<CachingProvider>(source_, o);
  auto r = get(*p);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->access_key_id, "AKID-1");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("returned credentials that expired"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("using them for 300 s"), std::string::npos) << warnings[0];
  EXPECT_EQ(p->stats().expiration, clock_.now() + std::chrono::seconds(300));
  clock_.advance(std::chrono::seconds(151));  // half-way: fetched again
  EXPECT_EQ(key_of(*p), "AKID-1");
  run_until([&] { return !p->stats().in_flight; });
  EXPECT_EQ(key_of(*p), "AKID-2");

  CacheOptions strict;
  strict.clock = &clock_;
  strict.expired_grace = std::chrono::seconds(0);
  auto refused = std::make_shared<CachingProvider>(source_, strict);
  auto e = get(*refused);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("returned credentials that expired"), std::string::npos);
}

TEST_F(CachingTest, ShortLivedCredentialsRefreshHalfway) {
  source_->lifetime = std::chrono::minutes(4);  // shorter than the 5 min window
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(1));
  EXPECT_EQ(key_of(*p), "AKID-1");
  EXPECT_EQ(source_->calls.load(), 1);  // not refreshing on every call
  clock_.advance(std::chrono::minutes(1) + std::chrono::seconds(1));
  EXPECT_EQ(key_of(*p), "AKID-1");
  run_until([&] { return !p->stats().in_flight; });
  EXPECT_EQ(key_of(*p), "AKID-2");
}

TEST_F(CachingTest, CredentialsWithoutExpiryAreRefetchedPeriodically) {
  source_->lifetime.reset();
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(59));
  EXPECT_EQ(key_of(*p), "AKID-1");
  EXPECT_EQ(source_->calls.load(), 1);
  source_->error = "down";
  clock_.advance(std::chrono::hours(2));
  EXPECT_EQ(key_of(*p), "AKID-1");  // never expires, failure keeps them
  run_until([&] { return !p->stats().in_flight; });
  EXPECT_EQ(key_of(*p), "AKID-1");
  EXPECT_EQ(p->stats().failures, 1U);
}

TEST_F(CachingTest, RefreshForcesAFetch) {
  auto p = make();
  auto first = run_for(ioc_, p->refresh());
  ASSERT_TRUE(first);
  auto second = run_for(ioc_, p->refresh());
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)->access_key_id, "AKID-2");
  EXPECT_EQ(source_->calls.load(), 2);
}

TEST_F(CachingTest, ProviderDestroyedDuringRefreshIsSafe) {
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  clock_.advance(std::chrono::minutes(57));
  source_->delay = std::chrono::milliseconds(50);
  ASSERT_EQ(key_of(*p), "AKID-1");  // starts a background refresh
  ASSERT_TRUE(p->stats().in_flight);
  std::weak_ptr<CachingProvider> weak = p;
  p.reset();
  EXPECT_TRUE(weak.expired());
  // The refresh still completes (it owns the shared state) and reports.
  run_until([&] { return ok_callbacks_.load() == 2; });
  EXPECT_EQ(source_->calls.load(), 2);
}

TEST_F(CachingTest, HotPathDoesNotAllocate) {
  auto p = make();
  ASSERT_EQ(key_of(*p), "AKID-1");
  auto count = run_for(ioc_, [](CachingProvider& prov) -> asio::awaitable<std::size_t> {
    for (int i = 0; i < 16; ++i) {  // warm the coroutine frame cache
      (void)co_await prov.get();
    }
    g_allocations.store(0);
    g_counting.store(true);
    std::size_t ok = 0;
    for (int i = 0; i < 1000; ++i) {
      auto r = co_await prov.get();
      ok += r ? 1 : 0;
    }
    g_counting.store(false);
    co_return ok == 1000 ? g_allocations.load() : 999999;
  }(*p));
  EXPECT_EQ(count, 0U);
}

// The hot path serves each thread a copy of its own (a reference count no
// other thread changes); a refresh reaches every thread's copy.
TEST(CachingThreads, EachThreadIsServedItsOwnCopyAndSeesRefreshes) {
  FixedClock clock(kT0);
  auto source = std::make_shared<FakeSource>(clock);
  CacheOptions o;
  o.clock = &clock;
  o.refresh_window = std::chrono::minutes(5);
  auto p = std::make_shared<CachingProvider>(source, o);
  asio::io_context ioc;
  ASSERT_EQ((*run_for(ioc, p->get()))->access_key_id, "AKID-1");  // the fetch
  auto serve_on_new_thread = [&p] {
    std::shared_ptr<const sigv4::Credentials> first;
    std::shared_ptr<const sigv4::Credentials> second;
    std::thread([&] {
      asio::io_context own;
      auto a = run_for(own, p->get());
      auto b = run_for(own, p->get());
      if (a && b) {
        first = *a;
        second = *b;
      }
    }).join();
    EXPECT_TRUE(first && second);
    EXPECT_EQ(first.get(), second.get()) << "the same thread is served the same copy";
    return first;
  };
  const auto one = serve_on_new_thread();
  const auto two = serve_on_new_thread();
  ASSERT_TRUE(one && two);
  EXPECT_NE(one.get(), two.get()) << "two threads shared one copy";
  EXPECT_EQ(one->access_key_id, "AKID-1");
  EXPECT_EQ(two->access_key_id, "AKID-1");
  EXPECT_EQ(two->secret_access_key.chars(), "secret");

  // A refresh while the credentials are fresh (only the generation tells):
  // this thread's copy of AKID-1 gives way to AKID-2, and so does another
  // thread's that it took before.
  ASSERT_EQ((*run_for(ioc, p->get()))->access_key_id, "AKID-1");
  asio::io_context other_ioc;
  std::string other_key;
  std::mutex m;
  std::condition_variable cv;
  int step = 0;  // 0: other thread to take its copy; 1: taken; 2: refreshed; 3: read again
  std::thread other([&] {
    auto first = run_for(other_ioc, p->get());
    {
      std::unique_lock lk(m);
      other_key = first ? (*first)->access_key_id : "error";
      step = 1;
      cv.notify_all();
      cv.wait_for(lk, std::chrono::seconds(5), [&] { return step == 2; });
    }
    auto again = run_for(other_ioc, p->get());
    std::lock_guard lk(m);
    other_key = again ? (*again)->access_key_id : "error";
    step = 3;
    cv.notify_all();
  });
  {
    std::unique_lock lk(m);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(5), [&] { return step == 1; }));
    EXPECT_EQ(other_key, "AKID-1");
  }
  clock.advance(std::chrono::minutes(1));  // still far from the refresh window
  ASSERT_TRUE(run_for(ioc, p->refresh()));
  EXPECT_EQ((*run_for(ioc, p->get()))->access_key_id, "AKID-2");
  {
    std::unique_lock lk(m);
    step = 2;
    cv.notify_all();
    EXPECT_TRUE(cv.wait_for(lk, std::chrono::seconds(5), [&] { return step == 3; }));
    EXPECT_EQ(other_key, "AKID-2");
  }
  other.join();
}

// Providers alternating on one thread never serve each other's copies.
TEST(CachingThreads, AThreadsCopyBelongsToOneProvider) {
  FixedClock clock(kT0);
  auto source_a = std::make_shared<FakeSource>(clock);
  auto source_b = std::make_shared<FakeSource>(clock);
  source_b->calls = 100;
  CacheOptions o;
  o.clock = &clock;
  asio::io_context ioc;
  for (int round = 0; round < 3; ++round) {
    auto a = std::make_shared<CachingProvider>(source_a, o);
    auto b = std::make_shared<CachingProvider>(source_b, o);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ((*run_for(ioc, a->get()))->access_key_id, "AKID-" + std::to_string(round + 1));
      EXPECT_EQ((*run_for(ioc, b->get()))->access_key_id, "AKID-" + std::to_string(101 + round));
    }
  }
}

TEST(CachingThreads, WaitersOnOtherThreadsAreResumedOnTheirOwnExecutor) {
  FixedClock clock(kT0);
  auto source = std::make_shared<FakeSource>(clock);
  source->delay = std::chrono::milliseconds(100);
  CacheOptions o;
  o.clock = &clock;
  auto p = std::make_shared<CachingProvider>(source, o);

  // Two single-threaded contexts, like net::IoPool: the fetch runs on the
  // context of whichever caller started it, and every waiter must resume on
  // its own context's thread.
  asio::io_context a;
  asio::io_context b;
  std::vector<std::future<std::pair<std::string, std::thread::id>>> futures;
  for (int i = 0; i < 6; ++i) {
    auto& ctx = i % 2 == 0 ? a : b;
    futures.push_back(asio::co_spawn(
        ctx,
        [p]() -> asio::awaitable<std::pair<std::string, std::thread::id>> {
          auto r = co_await p->get();
          co_return std::make_pair(r ? (*r)->access_key_id : r.error().message,
                                   std::this_thread::get_id());
        },
        asio::use_future));
  }
  std::thread::id ta;
  std::thread::id tb;
  std::thread thread_a([&] {
    ta = std::this_thread::get_id();
    a.run_for(std::chrono::seconds(5));
  });
  std::thread thread_b([&] {
    tb = std::this_thread::get_id();
    b.run_for(std::chrono::seconds(5));
  });
  for (std::size_t i = 0; i < futures.size(); ++i) {
    ASSERT_EQ(futures[i].wait_for(std::chrono::seconds(5)), std::future_status::ready);
  }
  thread_a.join();
  thread_b.join();
  for (std::size_t i = 0; i < futures.size(); ++i) {
    auto [key, tid] = futures[i].get();
    EXPECT_EQ(key, "AKID-1");
    EXPECT_EQ(tid, i % 2 == 0 ? ta : tb);
  }
  EXPECT_EQ(source->calls.load(), 1);
}

}  // namespace
}  // namespace kp::credentials
