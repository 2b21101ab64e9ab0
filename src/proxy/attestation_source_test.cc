#include "proxy/attestation_source.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "net/io_pool.h"

namespace kp::proxy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct FakeNsm {
  std::atomic<int> calls{0};
  std::atomic<int> concurrent{0};
  std::atomic<int> max_concurrent{0};
  std::chrono::milliseconds latency{20};
  bool fail = false;

  AttestFn fn() {
    return [this](ByteView pk) -> Result<Bytes> {
      const int now = ++concurrent;
      int prev = max_concurrent.load();
      while (now > prev && !max_concurrent.compare_exchange_weak(prev, now)) {
      }
      std::this_thread::sleep_for(latency);
      --concurrent;
      const int n = ++calls;
      if (fail) {
        return fail_result();
      }
      Bytes doc(pk.begin(), pk.end());
      doc.push_back(static_cast<std::uint8_t>(n));
      return doc;
    };
  }
  static Result<Bytes> fail_result() { return Error{Errc::kNsmFailed, "NSM error InternalError"}; }
};

struct Outcome {
  SysTime arrived;
  Result<std::shared_ptr<const Attestation>> doc = Error{Errc::kInternal, "unset"};
};

// Runs `n` concurrent get() calls spread over the pool and waits for all.
std::vector<Outcome> run_concurrent(AttestationSource& src, int n, net::IoPool& pool) {
  std::vector<Outcome> out(static_cast<std::size_t>(n));
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        pool.next(),
        [&, i]() -> asio::awaitable<void> {
          auto& o = out[static_cast<std::size_t>(i)];
          o.arrived = std::chrono::system_clock::now();
          o.doc = co_await src.get();
          if (++done == n) {
            all.set_value();
          }
        },
        asio::detached);
  }
  EXPECT_EQ(all.get_future().wait_for(30s), std::future_status::ready);
  return out;
}

TEST(AttestationSource, ConcurrentRequestsShareFewNsmCalls) {
  net::IoPool pool(2);
  pool.run();
  FakeNsm nsm;
  {
    AttestationSource src(nsm.fn(), Bytes{1, 2, 3}, {});
    const int n = 64;
    auto out = run_concurrent(src, n, pool);
    for (const auto& o : out) {
      ASSERT_TRUE(o.doc) << o.doc.error().message;
      // The rule: each request gets a document whose NSM call started after
      // the request arrived.
      EXPECT_GE((*o.doc)->call_started, o.arrived);
      EXPECT_EQ((*o.doc)->document.size(), 4u);
    }
    EXPECT_LT(nsm.calls.load(), n / 4) << "coalescing should turn 64 requests into a few NSM calls";
    EXPECT_EQ(nsm.max_concurrent.load(), 1) << "at most one NSM call in flight";
    const auto st = src.stats();
    EXPECT_EQ(st.requests_served, static_cast<std::uint64_t>(n));
    EXPECT_EQ(st.nsm_calls, static_cast<std::uint64_t>(nsm.calls.load()));
  }
  pool.stop();
  pool.join();
}

TEST(AttestationSource, SequentialRequestsEachGetAFreshDocument) {
  net::IoPool pool(1);
  pool.run();
  FakeNsm nsm;
  nsm.latency = 1ms;
  {
    AttestationSource src(nsm.fn(), Bytes{9}, {});
    std::uint64_t last_seq = 0;
    for (int i = 0; i < 5; ++i) {
      auto out = run_concurrent(src, 1, pool);
      ASSERT_TRUE(out[0].doc);
      EXPECT_GT((*out[0].doc)->sequence, last_seq);
      last_seq = (*out[0].doc)->sequence;
    }
    EXPECT_EQ(nsm.calls.load(), 5);
  }
  pool.stop();
  pool.join();
}

// The NSM runs at the worker's priority: nice 19 when asked (simulated NSM),
// the process's own otherwise; the I/O threads keep theirs.
TEST(AttestationSource, BackgroundWorkerRunsTheNsmAtLowestPriority) {
  net::IoPool pool(1);
  pool.run();
  const int own = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  for (const bool background : {false, true}) {
    std::atomic<int> nice_in_call{-100};
    AttestFn fn = [&](ByteView pk) -> Result<Bytes> {
      nice_in_call = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
      return Bytes(pk.begin(), pk.end());
    };
    AttestationSourceOptions opts;
    opts.background_worker = background;
    {
      AttestationSource src(fn, Bytes{9}, opts);
      auto out = run_concurrent(src, 1, pool);
      ASSERT_TRUE(out[0].doc);
    }
    EXPECT_EQ(nice_in_call.load(), background ? 19 : own) << "background=" << background;
  }
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), own);
  pool.stop();
  pool.join();
}

TEST(AttestationSource, MaxAgeReusesARecentDocument) {
  net::IoPool pool(1);
  pool.run();
  FakeNsm nsm;
  nsm.latency = 1ms;
  {
    AttestationSourceOptions o;
    o.max_age = 60s;
    AttestationSource src(nsm.fn(), Bytes{9}, o);
    for (int i = 0; i < 5; ++i) {
      auto out = run_concurrent(src, 1, pool);
      ASSERT_TRUE(out[0].doc);
    }
    EXPECT_EQ(nsm.calls.load(), 1);
    EXPECT_EQ(src.stats().cache_hits, 4u);
  }
  pool.stop();
  pool.join();
}

TEST(AttestationSource, NsmErrorsReachEveryWaiter) {
  net::IoPool pool(2);
  pool.run();
  FakeNsm nsm;
  nsm.fail = true;
  {
    AttestationSource src(nsm.fn(), Bytes{9}, {});
    auto out = run_concurrent(src, 8, pool);
    for (const auto& o : out) {
      ASSERT_FALSE(o.doc);
      EXPECT_EQ(o.doc.error().code, Errc::kNsmFailed);
    }
    EXPECT_GE(src.stats().nsm_failures, 1u);
  }
  pool.stop();
  pool.join();
}

TEST(AttestationSource, HungNsmTimesOutWithoutBlockingIoThreads) {
  net::IoPool pool(1);
  pool.run();
  FakeNsm nsm;
  nsm.latency = 600ms;
  {
    AttestationSourceOptions o;
    o.timeout = 100ms;
    AttestationSource src(nsm.fn(), Bytes{9}, o);
    const auto t0 = std::chrono::steady_clock::now();
    auto out = run_concurrent(src, 3, pool);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    for (const auto& o2 : out) {
      ASSERT_FALSE(o2.doc);
      EXPECT_EQ(o2.doc.error().code, Errc::kNsmTimeout);
      EXPECT_NE(o2.doc.error().message.find("100 ms"), std::string::npos);
    }
  }  // the destructor waits for the hung call to finish
  pool.stop();
  pool.join();
}

// While a call hangs, requests that time out leave the queue (memory stays
// bounded by the requests actually waiting) and are not counted as served;
// no call starts afterwards for requests that are gone.
TEST(AttestationSource, TimedOutRequestsLeaveTheQueueAndAreNotCountedAsServed) {
  net::IoPool pool(2);
  pool.run();
  FakeNsm nsm;
  nsm.latency = 700ms;
  {
    AttestationSourceOptions o;
    o.timeout = 50ms;
    AttestationSource src(nsm.fn(), Bytes{9}, o);
    for (int round = 0; round < 5; ++round) {  // the first round's batch is the hung call's
      for (const auto& out : run_concurrent(src, 40, pool)) {
        ASSERT_FALSE(out.doc);
        EXPECT_EQ(out.doc.error().code, Errc::kNsmTimeout);
      }
      EXPECT_EQ(src.stats().waiting, 0u) << "round " << round;
    }
    std::this_thread::sleep_for(1s);  // the hung call returns
    const auto st = src.stats();
    EXPECT_EQ(st.nsm_calls, 1u);
    EXPECT_EQ(st.requests_served, 0u);
    EXPECT_EQ(nsm.calls.load(), 1);
    // The source still works: the next request starts a call and is served.
    nsm.latency = 1ms;
    const auto again = run_concurrent(src, 1, pool);
    ASSERT_TRUE(again[0].doc) << again[0].doc.error().message;
    EXPECT_EQ(src.stats().requests_served, 1u);
  }
  pool.stop();
  pool.join();
}

}  // namespace
}  // namespace kp::proxy
