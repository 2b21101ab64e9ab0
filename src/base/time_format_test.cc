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
  // RFC 3339 offsets (a container credentials helper in a local zone) and the
  // space RFC 3339 allows for the "T"; a time without a zone is ambiguous.
  EXPECT_EQ(parse_time_utc("2015-08-30T13:36:00+01:00"), t);
  EXPECT_EQ(parse_time_utc("2015-08-30T07:06:00-05:30"), t);
  EXPECT_EQ(parse_time_utc("2015-08-30 12:36:00Z"), t);
  EXPECT_EQ(parse_time_utc("2015-08-30T13:36:00.500+01:00"), t + std::chrono::milliseconds(500));
  EXPECT_FALSE(parse_time_utc("2015-08-30 12:36:00"));
  EXPECT_FALSE(parse_time_utc("2015-08-30T12:36:00+0100"));
  EXPECT_FALSE(parse_time_utc("2015-08-30T12:36:00+24:00"));
  EXPECT_FALSE(parse_time_utc("20150830T123600+01:00"));
  EXPECT_FALSE(parse_time_utc("2015-13-30T12:36:00Z"));
}

TEST(TimeFormat, LeapYearsAndEpoch) {
  EXPECT_EQ(format_rfc3339(from_unix_ms(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(*parse_time_utc("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
  EXPECT_EQ(format_rfc3339(*parse_time_utc("2000-02-29T00:00:00Z")), "2000-02-29T00:00:00Z");
  // Days past the end of their month are refused, not rolled over.
  EXPECT_FALSE(parse_time_utc("2026-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_time_utc("1900-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_time_utc("2026-04-31T00:00:00Z"));
  EXPECT_FALSE(parse_time_utc("20261131T000000Z"));
  EXPECT_TRUE(parse_time_utc("2026-12-31T00:00:00Z"));
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

// RFC 9110 5.6.7: the three HTTP-date forms, the example of the RFC in each.
TEST(HttpDate, ThreeFormsOfTheSameInstant) {
  const SysTime now = *parse_time_utc("2026-11-26T00:00:00Z");
  const SysTime want = *parse_time_utc("1994-11-06T08:49:37Z");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now), want);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now), want);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994", now), want);
  EXPECT_EQ(parse_http_date("Sun Nov 16 08:49:37 1994", now), want + std::chrono::hours(240));
  EXPECT_EQ(format_http_date(want), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HttpDate, FormatRoundTripsAndNamesTheWeekday) {
  const SysTime now = *parse_time_utc("2026-11-26T00:00:00Z");
  for (const char* t : {"Thu, 01 Jan 1970 00:00:00 GMT", "Wed, 31 Dec 1969 23:59:59 GMT",
                        "Thu, 29 Feb 2024 12:00:00 GMT", "Thu, 26 Nov 2026 06:05:53 GMT",
                        "Mon, 01 Jan 1900 00:00:00 GMT", "Tue, 31 Dec 2199 23:59:59 GMT"}) {
    const auto parsed = parse_http_date(t, now);
    ASSERT_TRUE(parsed) << t;
    EXPECT_EQ(format_http_date(*parsed), t);
  }
}

TEST(HttpDate, LeapSecondIsTheLastSecondOfItsMinute) {
  const SysTime now = *parse_time_utc("2026-11-26T00:00:00Z");
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", now), parse_time_utc("2016-12-31T23:59:59Z"));
  EXPECT_EQ(parse_http_date("Tue, 31 Dec 2199 23:59:60 GMT", now), parse_time_utc("2199-12-31T23:59:59Z"));
}

TEST(HttpDate, TwoDigitYearsFollowTheFiftyYearRule) {
  const SysTime now = *parse_time_utc("2026-11-26T00:00:00Z");
  auto year = [&](const char* s) { return format_rfc3339(*parse_http_date(s, now)).substr(0, 4); };
  EXPECT_EQ(year("Monday, 01-Jan-76 00:00:00 GMT"), "2076");  // exactly 50 years ahead: kept
  EXPECT_EQ(year("Tuesday, 01-Jan-77 00:00:00 GMT"), "1977");  // more than 50: the past
  EXPECT_EQ(year("Thursday, 26-Nov-26 00:00:00 GMT"), "2026");
  EXPECT_EQ(year("Saturday, 01-Jan-00 00:00:00 GMT"), "2000");
}

TEST(HttpDate, RejectsWhatTheGrammarDoesNot) {
  const SysTime now = *parse_time_utc("2026-11-26T00:00:00Z");
  for (const char* bad : {
           "", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 gmt", "sun, 06 Nov 1994 08:49:37 GMT",
           "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMT ", " Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT",
           "Sun, 06 Nov 1994 08-49-37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
           "Sun, 29 Feb 2023 08:49:37 GMT", "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
           "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT", "Sun, 06 Nov 1899 08:49:37 GMT",
           "Sun, 06 Nov 2200 08:49:37 GMT", "Sun, 06 Nov 9999 08:49:37 GMT", "Sun, 06 Nov +994 08:49:37 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMTX", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT",
           "Sundae, 06-Nov-94 08:49:37 GMT", "Sunday, 06 Nov 94 08:49:37 GMT", "Sunday,06-Nov-94 08:49:37 GMT",
           "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov 06 08:49:37 1994 ",
           "Sun Nov  x 08:49:37 1994", "1994-11-06T08:49:37Z", "784111777"}) {
    EXPECT_FALSE(parse_http_date(bad, now)) << bad;
  }
}

TEST(OffsetClock, AddsItsOffsetToTheBase) {
  FixedClock base(*parse_time_utc("2026-11-26T00:00:00Z"));
  OffsetClock c(base, std::chrono::seconds(-90));
  EXPECT_EQ(format_rfc3339(c.now()), "2026-11-25T23:58:30Z");
  c.set_offset(std::chrono::minutes(10));
  base.advance(std::chrono::seconds(1));
  EXPECT_EQ(format_rfc3339(c.now()), "2026-11-26T00:10:01Z");
  EXPECT_EQ(c.offset(), std::chrono::minutes(10));
  EXPECT_EQ(&c.base(), &base);
}

}  // namespace
}  // namespace kp
