#include "proxy/metrics.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kp::proxy
