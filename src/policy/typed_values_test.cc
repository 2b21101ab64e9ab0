#include "policy/typed_values.h"

#include <gtest/gtest.h>

#include <string>

namespace kp::policy {
namespace {

TEST(TypedValues, Numbers) {
  EXPECT_EQ(parse_number("30"), 30.0);
  EXPECT_EQ(parse_number("-1.5"), -1.5);
  EXPECT_EQ(parse_number("+2"), 2.0);
  EXPECT_EQ(parse_number("2e3"), 2000.0);
  EXPECT_EQ(parse_number(".5"), 0.5);
  EXPECT_EQ(parse_number("007"), 7.0);
  for (const char* bad : {"", "-", "+", ".", "1 ", " 1", "1,5", "0x10", "inf", "-inf", "nan", "NaN", "1e999",
                          "--1", "+-1", "1e", "e5", "thirty"}) {
    EXPECT_FALSE(parse_number(bad)) << bad;
  }
}

TEST(TypedValues, Dates) {
  constexpr std::int64_t k20261126 = 1795651200000;  // 2026-11-26T00:00:00Z
  EXPECT_EQ(parse_date_ms("2026-11-26"), k20261126);
  EXPECT_EQ(parse_date_ms("2026-11"), k20261126 - 25 * 86400000LL);
  EXPECT_EQ(parse_date_ms("2026-11-26T18:00Z"), k20261126 + 18 * 3600000LL);
  EXPECT_EQ(parse_date_ms("2026-11-26T18:00:00Z"), k20261126 + 18 * 3600000LL);
  EXPECT_EQ(parse_date_ms("2026-11-26T18:00:00.25Z"), k20261126 + 18 * 3600000LL + 250);
  EXPECT_EQ(parse_date_ms("2026-11-26T20:30:00+02:30"), k20261126 + 18 * 3600000LL);
  EXPECT_EQ(parse_date_ms("2026-11-25T23:00:00-01:00"), k20261126);
  EXPECT_EQ(parse_date_ms("1795716000"), k20261126 + 18 * 3600000LL);  // epoch seconds
  EXPECT_EQ(parse_date_ms("0"), 0);
  EXPECT_EQ(parse_date_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_date_ms("2024-02-29"), 1709164800000);  // leap day
  EXPECT_EQ(parse_date_ms("2026"), 2026000);  // digits alone are epoch seconds, not a year
  for (const char* bad : {"", "2026-1", "2026-13", "2026-00-10", "2026-02-30", "2025-02-29", "2026-11-26T",
                          "2026-11-26T18", "2026-11-26T18:00", "2026-11-26T18:00:00", "2026-11-26T24:00:00Z",
                          "2026-11-26T18:60:00Z", "2026-11-26T18:00:60Z", "2026-11-26T18:00:00.Z",
                          "2026-11-26T18:00:00+2:00", "2026-11-26T18:00:00+02:60", "2026-11-26 18:00:00Z",
                          "2026-11-26t18:00:00Z", "2026-11-26T18:00:00ZZ", "0000-01-01", "123456789012",
                          "-1", "1.5", "yesterday"}) {
    EXPECT_FALSE(parse_date_ms(bad)) << bad;
  }
}

TEST(TypedValues, IpRanges) {
  auto r = parse_ip_range("203.0.113.0/24");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->v6);
  EXPECT_EQ(r->prefix, 24u);
  EXPECT_TRUE(ip_in_range(*r, "203.0.113.255"));
  EXPECT_FALSE(ip_in_range(*r, "203.0.112.255"));
  EXPECT_FALSE(ip_in_range(*r, "203.0.113.1/32"));  // a request value is one address
  auto host = parse_ip_range("198.51.100.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32u);
  auto odd = parse_ip_range("10.0.0.0/9");  // a prefix that is not a whole byte
  ASSERT_TRUE(odd);
  EXPECT_TRUE(ip_in_range(*odd, "10.127.255.255"));
  EXPECT_FALSE(ip_in_range(*odd, "10.128.0.0"));
  auto all = parse_ip_range("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(ip_in_range(*all, "255.255.255.255"));
  EXPECT_FALSE(ip_in_range(*all, "::1"));  // families do not mix
  auto v6 = parse_ip_range("2001:db8:1234::/48");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->v6);
  EXPECT_TRUE(ip_in_range(*v6, "2001:db8:1234:ffff::1"));
  EXPECT_FALSE(ip_in_range(*v6, "2001:db8:1235::1"));
  EXPECT_TRUE(ip_in_range(*parse_ip_range("::/0"), "::ffff:1.2.3.4"));
  EXPECT_TRUE(ip_in_range(*parse_ip_range("1.2.3.0/24"), "::ffff:1.2.3.4"));  // IPv4-mapped
  for (const char* bad : {"", "/24", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/1000", "10.0.0",
                          "10.0.0.256", "10.0.0.0/24/8", "2001:db8::/129", "2001:db8:::1", "localhost",
                          " 10.0.0.1", "10.0.0.1 ", "0x0a.0.0.1"}) {
    EXPECT_FALSE(parse_ip_range(bad)) << bad;
  }
  EXPECT_FALSE(parse_ip_range(std::string(100, '1')));
}

TEST(TypedValues, Binary) {
  EXPECT_EQ(parse_binary("QmluYXJ5"), (Bytes{'B', 'i', 'n', 'a', 'r', 'y'}));
  EXPECT_FALSE(parse_binary(""));
  EXPECT_FALSE(parse_binary("not base64!"));
}

}  // namespace
}  // namespace kp::policy
