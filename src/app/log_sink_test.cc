// Tests for app/log_sink.h: lines reach the descriptor whole and in order,
// at once when the sink has been quiet, batched under a burst, warnings at
// once, nothing lost at destruction. No timing assertion: waits are bounded.
#include "app/log_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace kp::app {
namespace {

using namespace std::chrono_literals;

// Everything readable from `fd` until `want` bytes arrived or `timeout` passed.
std::string read_for(int fd, std::size_t want, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      char buf[65536];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  return out;
}

struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
    ::fcntl(r, F_SETFL, O_NONBLOCK);
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
};

std::shared_ptr<spdlog::logger> logger_on(const std::shared_ptr<BatchingFdSink>& sink) {
  auto l = std::make_shared<spdlog::logger>("t", sink);
  l->set_formatter(std::make_unique<spdlog::pattern_formatter>("%l %v"));
  l->set_level(spdlog::level::trace);
  return l;
}

TEST(BatchingFdSink, QuietSinkWritesALineAtOnce) {
  Pipe p;
  auto sink = std::make_shared<BatchingFdSink>(p.w, 1h);  // no flusher help: only "at once" can deliver
  auto log = logger_on(sink);
  log->info("first");
  EXPECT_EQ(read_for(p.r, 11, 2s), "info first\n");
  EXPECT_EQ(sink->writes(), 1U);
}

TEST(BatchingFdSink, ABurstIsBatchedAndArrivesWholeAndInOrder) {
  Pipe p;
  std::string expected;
  {
    auto sink = std::make_shared<BatchingFdSink>(p.w, 200ms, 4096);
    auto log = logger_on(sink);
    for (int i = 0; i < 500; ++i) {
      log->info("request {}", i);
      expected += "info request " + std::to_string(i) + "\n";
    }
    const std::string got = read_for(p.r, expected.size(), 5s);  // the flusher delivers the tail
    EXPECT_EQ(got, expected);
    // 500 lines of ~17 bytes: a handful of 4 KiB batches, not 500 writes.
    EXPECT_LT(sink->writes(), 20U);
  }
}

// An idle sink's flusher waits without a deadline; the first line left
// pending after that must wake it (else it waited for the next line or the
// end of the process).
TEST(BatchingFdSink, AFlusherThatWentToSleepIsWokenByAPendingLine) {
  Pipe p;
  auto sink = std::make_shared<BatchingFdSink>(p.w, 30ms);
  auto log = logger_on(sink);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(150ms);  // quiet for five windows: the flusher sleeps
    log->info("a{}", round);                // at once (quiet)
    log->info("b{}", round);                // pending: only the flusher can write it
    EXPECT_EQ(read_for(p.r, 16, 5s), "info a" + std::to_string(round) + "\ninfo b" + std::to_string(round) + "\n");
  }
}

// Several I/O threads log at once while the flusher writes batches outside
// the logging lock: every line arrives once, whole, each thread's in order.
TEST(BatchingFdSink, ConcurrentLoggersKeepEveryLineWholeAndInOrder) {
  Pipe p;
  constexpr int kThreads = 4;
  constexpr int kLines = 3000;
  std::string got;
  std::thread reader([&] { got = read_for(p.r, std::size_t{1} << 30, 8s); });
  {
    auto sink = std::make_shared<BatchingFdSink>(p.w, 1ms, 4096);
    auto log = logger_on(sink);
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < kLines; ++i) {
          if (i % 500 == 0) {
            log->warn("t{} line {}", t, i);  // written at once, with what is pending
          } else {
            log->info("t{} line {}", t, i);
          }
        }
      });
    }
    for (auto& w : writers) {
      w.join();
    }
  }  // the sink goes: the tail is written
  ::close(p.w);
  p.w = -1;
  reader.join();
  std::vector<int> next(kThreads, 0);
  std::size_t pos = 0;
  int lines = 0;
  while (pos < got.size()) {
    const auto nl = got.find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "a torn last line";
    const std::string line = got.substr(pos, nl - pos);
    pos = nl + 1;
    int t = -1;
    int i = -1;
    char level[16] = {};
    ASSERT_EQ(std::sscanf(line.c_str(), "%15s t%d line %d", level, &t, &i), 3) << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(i, next[t]) << line;
    next[t] = i + 1;
    ++lines;
  }
  EXPECT_EQ(lines, kThreads * kLines);
}

TEST(BatchingFdSink, WarningsGoOutAtOnceWithWhatIsPending) {
  Pipe p;
  auto sink = std::make_shared<BatchingFdSink>(p.w, 1h);
  auto log = logger_on(sink);
  log->info("a");          // at once (quiet)
  log->info("b");          // pending: the window (an hour) has not passed
  log->warn("c");          // writes b and c
  EXPECT_EQ(read_for(p.r, 21, 2s), "info a\ninfo b\nwarning c\n");
  EXPECT_EQ(sink->writes(), 2U);
}

TEST(BatchingFdSink, PendingLinesAreWrittenOnFlushAndDestruction) {
  Pipe p;
  {
    auto sink = std::make_shared<BatchingFdSink>(p.w, 1h);
    auto log = logger_on(sink);
    log->info("a");
    log->info("b");
    log->flush();
    EXPECT_EQ(read_for(p.r, 14, 2s), "info a\ninfo b\n");
    log->info("c");
  }  // the sink goes: "c" must not be lost
  EXPECT_EQ(read_for(p.r, 7, 2s), "info c\n");
}

}  // namespace
}  // namespace kp::app
