#include "proxy/clock_skew.h"

#include <gtest/gtest.h>

#include "base/time_format.h"

namespace kp::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const SysTime kT0 = *parse_time_utc("2026-11-26T10:00:00Z");

TEST(ClockSkew, NoCorrectionWithinTheThreshold) {
  FixedClock machine(kT0);
  ClockSkew skew(machine);
  EXPECT_EQ(skew.clock().now(), kT0);
  for (auto d : {seconds(0), seconds(-1), seconds(30), seconds(-58), seconds(58)}) {
    EXPECT_FALSE(skew.observe(kT0 + d)) << d.count();
  }
  EXPECT_EQ(skew.offset(), milliseconds(0));
  EXPECT_EQ(skew.clock().now(), kT0);
}

TEST(ClockSkew, MachineBehindThenAheadThenFixed) {
  FixedClock machine(kT0);
  ClockSkew skew(machine);
  // KMS is 10 minutes ahead: the machine is behind.
  auto c = skew.observe(kT0 + minutes(10));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->from, milliseconds(0));
  EXPECT_EQ(c->to, minutes(10) + milliseconds(500));  // the middle of the Date's second
  EXPECT_EQ(skew.clock().now(), kT0 + minutes(10) + milliseconds(500));
  // Later answers agree with the corrected clock: nothing changes.
  machine.advance(seconds(90));
  EXPECT_FALSE(skew.observe(kT0 + seconds(90) + minutes(10)));
  EXPECT_FALSE(skew.observe(kT0 + seconds(90) + minutes(10) + seconds(40)));
  // The machine's clock is set right (e.g. by a time client): back to ~0.
  machine.set(kT0 + minutes(20));
  c = skew.observe(kT0 + minutes(20));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->from, minutes(10) + milliseconds(500));
  EXPECT_EQ(c->to, milliseconds(500));
  // Now the machine runs 7 minutes ahead of KMS.
  c = skew.observe(kT0 + minutes(13));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->to, -minutes(7) + milliseconds(500));
  EXPECT_EQ(skew.clock().now(), kT0 + minutes(13) + milliseconds(500));
}

TEST(ClockSkew, SignedFarFromServer) {
  EXPECT_FALSE(ClockSkew::signed_far_from(kT0, kT0));
  EXPECT_FALSE(ClockSkew::signed_far_from(kT0, kT0 + seconds(30)));
  EXPECT_FALSE(ClockSkew::signed_far_from(kT0 + seconds(59), kT0));
  EXPECT_TRUE(ClockSkew::signed_far_from(kT0, kT0 + minutes(6)));
  EXPECT_TRUE(ClockSkew::signed_far_from(kT0 + minutes(6), kT0));
  EXPECT_TRUE(ClockSkew::signed_far_from(kT0, kT0 + seconds(60)));
}

TEST(ClockSkew, ExtremeDatesDoNotOverflowAndImplausibleOnesAreIgnored) {
  FixedClock machine(kT0);
  ClockSkew skew(machine);
  const auto early = parse_http_date("Mon, 01 Jan 1900 00:00:00 GMT", kT0);
  const auto late = parse_http_date("Tue, 31 Dec 2199 23:59:59 GMT", kT0);
  ASSERT_TRUE(early && late);
  EXPECT_FALSE(skew.observe(*late));
  EXPECT_FALSE(skew.observe(*early));
  EXPECT_EQ(skew.offset(), milliseconds(0));
  EXPECT_TRUE(ClockSkew::signed_far_from(*early, *late));
  EXPECT_TRUE(ClockSkew::signed_far_from(*late, *early));
  // Up to the limit, both ways, and from one side to the other.
  const auto nine_years = std::chrono::hours(24 * 365 * 9);
  ASSERT_TRUE(skew.observe(kT0 + nine_years));
  const auto c = skew.observe(kT0 - nine_years);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->to, -nine_years + milliseconds(500));
  EXPECT_FALSE(skew.observe(kT0 + std::chrono::hours(24 * 366 * 11)));
  EXPECT_EQ(skew.offset(), -nine_years + milliseconds(500));
}

}  // namespace
}  // namespace kp::proxy
