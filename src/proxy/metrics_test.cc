#include "proxy/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kp::proxy {
namespace {

using namespace std::chrono_literals;

struct Rendered {
  std::vector<std::uint64_t> buckets;  // cumulative, +Inf last
  std::uint64_t count = 0;
};

Rendered parse(const std::string& text) {
  Rendered r;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto value = std::stoull(line.substr(line.rfind(' ') + 1));
    if (line.starts_with("h_bucket{")) {
      r.buckets.push_back(value);
    } else if (line.starts_with("h_count")) {
      r.count = value;
    }
  }
  return r;
}

TEST(Histogram, RendersCumulativeBucketsWithTheCountAsInf) {
  Histogram h;
  h.observe(30us);   // first bucket (<= 50 us)
  h.observe(2ms);    // <= 2.5 ms
  h.observe(10s);    // only +Inf
  std::string out;
  h.render(out, "h", "");
  const auto r = parse(out);
  ASSERT_EQ(r.buckets.size(), Histogram::kBounds.size() + 1);
  EXPECT_EQ(r.buckets.front(), 1u);
  EXPECT_EQ(r.buckets[5], 2u);  // le="0.0025"
  EXPECT_EQ(r.buckets[Histogram::kBounds.size() - 1], 2u);
  EXPECT_EQ(r.buckets.back(), 3u);
  EXPECT_EQ(r.count, 3u);
  EXPECT_NE(out.find("h_sum 10.002030000\n"), std::string::npos) << out;
}

// A scrape while requests finish: the exposition format requires
// +Inf == _count within one scrape, and buckets that never decrease.
TEST(Histogram, ScrapeDuringObservationsIsConsistent) {
  Histogram h;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&h, &stop, t] {
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        h.observe(std::chrono::microseconds((i * 37 + static_cast<std::uint64_t>(t)) % 20000));
      }
    });
  }
  int mismatches = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string out;
    h.render(out, "h", "");
    const auto r = parse(out);
    ASSERT_EQ(r.buckets.size(), Histogram::kBounds.size() + 1);
    for (std::size_t b = 1; b < r.buckets.size(); ++b) {
      ASSERT_LE(r.buckets[b - 1], r.buckets[b]);
    }
    mismatches += r.buckets.back() != r.count ? 1 : 0;
  }
  stop = true;
  for (auto& w : writers) {
    w.join();
  }
  EXPECT_EQ(mismatches, 0);
}

// Threads count into shards of their own (no cache line shared between I/O
// threads on the request path); a scrape adds the shards up.
TEST(ProxyMetrics, ThreadsGetTheirOwnShardsAndScrapesAddThemUp) {
  std::vector<std::size_t> shards(detail::kMetricShards);
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      threads.emplace_back([&shards, i] { shards[i] = detail::metric_shard(); });
      threads.back().join();  // one after the other: consecutive shards
    }
  }
  std::sort(shards.begin(), shards.end());
  EXPECT_EQ(std::unique(shards.begin(), shards.end()), shards.end()) << "two threads share a shard";

  ProxyMetrics m;
  constexpr int kThreads = 12;  // more threads than shards: some share one
  constexpr int kEach = 2000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&m] {
      PhaseTimes times;
      times.upstream = 300us;
      times.total = 400us;
      for (int i = 0; i < kEach; ++i) {
        m.record("Encrypt", 200, times);
      }
      m.record("Decrypt", 503, times);
    });
  }
  for (auto& w : writers) {
    w.join();
  }
  EXPECT_EQ(m.requests_total(), static_cast<std::uint64_t>(kThreads * (kEach + 1)));
  const std::string out = m.render();
  EXPECT_NE(out.find("kms_proxy_requests_total{operation=\"Encrypt\",status=\"2xx\"} 24000\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("kms_proxy_requests_total{operation=\"Decrypt\",status=\"5xx\"} 12\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("kms_proxy_request_duration_seconds_count{phase=\"total\"} 24012\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("kms_proxy_request_duration_seconds_sum{phase=\"upstream\"} 7.203600000\n"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace kp::proxy
