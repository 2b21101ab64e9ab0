#include "base/time_format.h"

#include <gtest/gtest.h>

namespace kp {
namespace {

TEST(TimeFormat, FormatsAndParses) {
  const SysTime t = from_unix_ms(1440938160000);  // 2015-08-30T12:36:00Z
  EXPECT_EQ(format_rfc3339(t), "2015-08-30T12:36:00Z");
  EXPECT_EQ(format_amz_date(t), "20150830T123600Z");
  EXPECT_EQ(parse_time_utc("2015-08-30T12:36:00Z"), t);
  EXPECT_EQ(parse_time_utc("20150830T123600Z"), t);
  EXPECT_EQ(parse_time_utc("2015-08-30T12:36:00.250Z"), t + std::chrono::milliseconds(250));
  EXPECT_EQ(parse_time_utc("2015-08-30T12:36:00+00:00"), t);
  EXPECT_FALSE(parse_time_utc("2015-08-30 12:36:00"));
  EXPECT_FALSE(parse_time_utc("2015-13-30T12:36:00Z"));
}

TEST(TimeFormat, LeapYearsAndEpoch) {
  EXPECT_EQ(format_rfc3339(from_unix_ms(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(*parse_time_utc("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
}

// X-Amz-Date and credential expiries are external input; a year SysTime
// cannot hold used to overflow (UB) in the conversion (found by
// fuzz/sigv4_authorization).
TEST(TimeFormat, YearsOutsideTheSafeRangeAreRejected) {
  EXPECT_FALSE(parse_time_utc("50210830T123600Z"));
  EXPECT_FALSE(parse_time_utc("9999-12-31T23:59:59.999Z"));
  EXPECT_FALSE(parse_time_utc("0000-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_time_utc("2200-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_time_utc("1899-12-31T23:59:59Z"));
  const auto last = parse_time_utc("2199-12-31T23:59:59Z");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(format_rfc3339(*last), "2199-12-31T23:59:59Z");
  const auto first = parse_time_utc("19000101T000000Z");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(format_rfc3339(*first), "1900-01-01T00:00:00Z");
}

}  // namespace
}  // namespace kp
