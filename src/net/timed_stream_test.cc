// TimedStream: deadlines enforced by the per-context sweeper.
#include "net/detail/timed_stream.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>

#include "net/net_test_support.h"

namespace kp::net::detail {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// A connected loopback pair on `io`.
struct Pair {
  explicit Pair(asio::io_context& io) : a(io), b(io) {
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    a.connect(acc.local_endpoint());
    b = acc.accept();
  }
  tcp::socket a;
  tcp::socket b;
};

// Runs `io` with a hard stop so a broken deadline cannot hang the test.
void run_bounded(asio::io_context& io, std::chrono::milliseconds limit) {
  io.run_for(limit);
}

struct ReadOutcome {
  boost::system::error_code ec;
  Clock::duration took{};
};

// One read_some on `s`, timed from its start.
asio::awaitable<ReadOutcome> timed_read(TimedStream<tcp>& s) {
  std::array<char, 16> buf{};
  const auto t0 = Clock::now();
  auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kUseTuple);
  co_return ReadOutcome{ec, Clock::now() - t0};
}

TEST(TimedStream, ReadOnASilentPeerTimesOutNearTheDeadline) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  std::optional<ReadOutcome> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        s.expires_after(200ms);
        got = co_await timed_read(s);
      },
      asio::detached);
  run_bounded(io, 5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, boost::beast::error::timeout) << got->ec.message();
  EXPECT_GE(got->took, 200ms);
  // Resolution is 200 ms / 8 = 25 ms; allow scheduling slack on a busy box.
  EXPECT_LT(got->took, 2s);
}

TEST(TimedStream, DataBeforeTheDeadlineIsNotATimeoutAndRearmingWorks) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  std::vector<boost::system::error_code> results;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::array<char, 16> buf{};
        for (int i = 0; i < 3; ++i) {
          s.expires_after(150ms);
          co_await asio::async_write(p.b, asio::buffer("x", 1), kUseTuple);
          auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kUseTuple);
          results.push_back(ec);
          // Sleep past the old deadline between reads: a fresh deadline
          // must not inherit the expired one.
          asio::steady_timer t(io, 200ms);
          co_await t.async_wait(kUseTuple);
        }
        s.expires_after(100ms);
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kUseTuple);
        results.push_back(ec);
      },
      asio::detached);
  run_bounded(io, 5s);
  ASSERT_EQ(results.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(results[i]) << i << ": " << results[i].message();
  }
  EXPECT_EQ(results[3], boost::beast::error::timeout);
}

TEST(TimedStream, OperationStartedAfterTheDeadlineFailsAtOnce) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  std::optional<ReadOutcome> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        s.expires_after(10ms);
        asio::steady_timer t(io, 50ms);
        co_await t.async_wait(kUseTuple);
        got = co_await timed_read(s);
      },
      asio::detached);
  run_bounded(io, 5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ec, boost::beast::error::timeout);
  EXPECT_LT(got->took, 1s);
}

// Bytes already waiting do not outlive the deadline: a read of them would
// complete before any cancel, so a peer that never stops sending (an endless
// body, a flood of interim responses) could otherwise run on read after read.
TEST(TimedStream, ReadAfterTheDeadlineFailsEvenWithBytesWaiting) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  asio::write(p.b, asio::buffer(std::string(4096, 'x')));
  std::optional<ReadOutcome> before;
  std::optional<ReadOutcome> after;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        s.expires_after(30ms);
        before = co_await timed_read(s);  // within the deadline: the bytes
        asio::steady_timer t(io, 60ms);
        co_await t.async_wait(kUseTuple);
        after = co_await timed_read(s);
      },
      asio::detached);
  run_bounded(io, 5s);
  ASSERT_TRUE(before.has_value() && after.has_value());
  EXPECT_FALSE(before->ec) << before->ec.message();
  EXPECT_EQ(after->ec, boost::beast::error::timeout) << after->ec.message();
}

TEST(TimedStream, NoDeadlineLeftLetsTheContextRunOutOfWork) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        s.expires_after(30s);
        co_await asio::async_write(p.b, asio::buffer("x", 1), kUseTuple);
        std::array<char, 16> buf{};
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kUseTuple);
        s.expires_never();
        done = !ec;
      },
      asio::detached);
  const auto t0 = Clock::now();
  io.run_for(10s);  // returns as soon as no work is left
  EXPECT_TRUE(done);
  // The sweeper ticks every 100 ms for a 30 s deadline; once the deadline is
  // cleared it must stop, not keep the context alive.
  EXPECT_LT(Clock::now() - t0, 3s);
}

TEST(TimedStream, ManyStreamsEachGetTheirOwnDeadline) {
  asio::io_context io(1);
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::unique_ptr<TimedStream<tcp>>> streams;
  for (int i = 0; i < 8; ++i) {
    pairs.push_back(std::make_unique<Pair>(io));
    streams.push_back(std::make_unique<TimedStream<tcp>>(std::move(pairs.back()->a)));
  }
  std::vector<std::optional<boost::system::error_code>> got(8);
  for (int i = 0; i < 8; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          std::array<char, 16> buf{};
          // Odd streams get data, even ones stay silent and time out.
          streams[i]->expires_after(i % 2 == 0 ? 100ms : 3s);
          if (i % 2 == 1) {
            co_await asio::async_write(pairs[i]->b, asio::buffer("y", 1), kUseTuple);
          }
          auto [ec, n] = co_await streams[i]->async_read_some(asio::buffer(buf), kUseTuple);
          got[i] = ec;
          streams[i]->expires_never();
        },
        asio::detached);
  }
  run_bounded(io, 5s);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(got[i].has_value()) << i;
    if (i % 2 == 0) {
      EXPECT_EQ(*got[i], boost::beast::error::timeout) << i;
    } else {
      EXPECT_FALSE(*got[i]) << i << ": " << got[i]->message();
    }
  }
}

// A write the socket takes at once completes inline: the handler has run
// when async_write_some returns (called in the initiating call), with the
// byte count, and the peer receives the bytes.
TEST(TimedStream, WriteTheSocketTakesCompletesInline) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  bool ran_inline = false;
  std::size_t written = 0;
  asio::post(io, [&] {
    bool done = false;
    s.expires_after(5s);
    s.async_write_some(asio::buffer("hello", 5), [&](boost::system::error_code ec, std::size_t n) {
      EXPECT_FALSE(ec) << ec.message();
      written = n;
      done = true;
    });
    ran_inline = done;
    s.expires_never();
  });
  run_bounded(io, 5s);
  EXPECT_TRUE(ran_inline);
  EXPECT_EQ(written, 5u);
  std::array<char, 8> buf{};
  EXPECT_EQ(p.b.read_some(asio::buffer(buf)), 5u);
  EXPECT_EQ(std::string_view(buf.data(), 5), "hello");
}

// When the socket buffer is full the write waits in the reactor, completes
// once the peer reads, and a whole async_write delivers every byte in order.
TEST(TimedStream, WriteToAFullSocketWaitsAndDeliversEverything) {
  asio::io_context io(1);
  Pair p(io);
  // (A tiny receive buffer as well would stall loopback TCP on its window
  // rules for seconds; 1 MB against the default buffers blocks all the same:
  // the reader runs on this thread only when the writer yields.)
  p.a.set_option(asio::socket_base::send_buffer_size(4096));
  TimedStream<tcp> s(std::move(p.a));
  const std::string big = kp::net::testing::patterned(1 << 20);
  std::optional<boost::system::error_code> wrote;
  std::string got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        s.expires_after(60s);  // generous: sanitizer builds run this too
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(big), kUseTuple);
        EXPECT_EQ(n, big.size());
        wrote = ec;
        s.expires_never();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::array<char, 65536> buf{};
        while (got.size() < big.size()) {
          auto [ec, n] = co_await p.b.async_read_some(asio::buffer(buf), kUseTuple);
          if (ec) {
            break;
          }
          got.append(buf.data(), n);
        }
      },
      asio::detached);
  run_bounded(io, 90s);
  ASSERT_TRUE(wrote.has_value());
  EXPECT_FALSE(*wrote) << wrote->message();
  EXPECT_TRUE(got == big) << got.size() << " of " << big.size() << " bytes arrived intact";
}

// A write blocked on a peer that never reads still ends at the deadline.
TEST(TimedStream, BlockedWriteTimesOutAtTheDeadline) {
  asio::io_context io(1);
  Pair p(io);
  p.a.set_option(asio::socket_base::send_buffer_size(4096));
  p.b.set_option(asio::socket_base::receive_buffer_size(4096));
  TimedStream<tcp> s(std::move(p.a));
  const std::string big(8 << 20, 'z');
  std::optional<boost::system::error_code> wrote;
  Clock::duration took{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto t0 = Clock::now();
        s.expires_after(200ms);
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(big), kUseTuple);
        EXPECT_LT(n, big.size());
        took = Clock::now() - t0;
        wrote = ec;
      },
      asio::detached);
  run_bounded(io, 10s);
  ASSERT_TRUE(wrote.has_value());
  EXPECT_EQ(*wrote, boost::beast::error::timeout) << wrote->message();
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
}

// A failed send is reported to the handler (not thrown, not lost).
TEST(TimedStream, WriteToAClosedSocketReportsTheError) {
  asio::io_context io(1);
  Pair p(io);
  TimedStream<tcp> s(std::move(p.a));
  s.close();
  std::optional<boost::system::error_code> got;
  asio::post(io, [&] {
    s.async_write_some(asio::buffer("x", 1), [&](boost::system::error_code ec, std::size_t) { got = ec; });
  });
  run_bounded(io, 5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got);
}

}  // namespace
}  // namespace kp::net::detail
