#include "base/instance_id.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace kp {
namespace {

// Ids are never 0 and never repeat, also when threads take them at once.
TEST(InstanceId, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&got, t] {
        for (int i = 0; i < kEach; ++i) {
          got[t].push_back(next_instance_id());
        }
      });
    }
  }
  std::set<std::uint64_t> all;
  for (const auto& v : got) {
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(all.count(0), 0u);
  EXPECT_GT(next_instance_id(), *all.rbegin());
}

}  // namespace
}  // namespace kp
