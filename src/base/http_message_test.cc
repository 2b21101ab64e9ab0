#include "base/http_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kp {
namespace {

std::vector<std::pair<std::string, std::string>> dump(const Headers& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : h.fields()) {
    out.emplace_back(std::string(name), std::string(value));
  }
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The i-th field as views into `h`.
std::pair<std::string_view, std::string_view> nth(const Headers& h, std::size_t i) {
  for (const auto& [name, value] : h.fields()) {
    if (i-- == 0) {
      return {name, value};
    }
  }
  return {};
}

TEST(Headers, KeepsOrderSpellingAndDuplicates) {
  Headers h;
  h.add("Host", "kms.us-east-1.amazonaws.com");
  h.add("X-Amz-Target", "TrentService.Decrypt");
  h.add("x-amz-target", "second");
  EXPECT_EQ(dump(h), (Pairs{{"Host", "kms.us-east-1.amazonaws.com"},
                            {"X-Amz-Target", "TrentService.Decrypt"},
                            {"x-amz-target", "second"}}));
  EXPECT_EQ(h.get("X-AMZ-TARGET"), "TrentService.Decrypt");
  EXPECT_EQ(h.get_all("x-amz-target"), (std::vector<std::string_view>{"TrentService.Decrypt", "second"}));
  EXPECT_FALSE(h.get("Content-Type"));
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(nth(h, 1).first, "X-Amz-Target");
}

TEST(Headers, SetReplacesInPlaceAndDropsLaterDuplicates) {
  Headers h;
  h.add("A", "1");
  h.add("X-Amz-Date", "20260101T000000Z");
  h.add("B", "2");
  h.add("x-amz-date", "dup");
  h.set("X-AMZ-DATE", "20261125T180000Z");  // same length: overwritten where it is
  EXPECT_EQ(dump(h), (Pairs{{"A", "1"}, {"X-AMZ-DATE", "20261125T180000Z"}, {"B", "2"}}));
  h.set("B", "a much longer value than before");  // longer: moved, position kept
  h.set("A", "");
  EXPECT_EQ(dump(h), (Pairs{{"A", ""}, {"X-AMZ-DATE", "20261125T180000Z"}, {"B", "a much longer value than before"}}));
  h.set("New", "v");
  EXPECT_EQ(nth(h, 3).first, "New");
  EXPECT_EQ(h.erase("x-amz-date"), 1u);
  EXPECT_EQ(h.erase("x-amz-date"), 0u);
  EXPECT_EQ(dump(h), (Pairs{{"A", ""}, {"B", "a much longer value than before"}, {"New", "v"}}));
  h.clear();
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.fields().empty());
}

// Values taken from the same Headers can be added back to it while it grows.
TEST(Headers, SelfReferencesSurviveGrowth) {
  Headers h;
  h.add("Source", std::string(300, 's'));
  for (int i = 0; i < 20; ++i) {
    h.add("Copy" + std::to_string(i), *h.get("Source"));
  }
  h.set("Source", std::string(*h.get("Copy3")) + "!");  // a temporary: not aliased
  h.set("Copy0", *h.get("Copy1"));
  h.add(nth(h, 2).first, nth(h, 2).second);
  EXPECT_EQ(*h.get("Copy0"), std::string(300, 's'));
  EXPECT_EQ(*h.get("Source"), std::string(300, 's') + "!");
  EXPECT_EQ(h.get_all("Copy1").size(), 2u);
  EXPECT_EQ(h.get_all("Copy1")[1], std::string(300, 's'));
}

// Repeated set() keeps one field per name, with the last value; copies are independent.
TEST(Headers, RepeatedSetsKeepValuesRight) {
  Headers h;
  h.add("Keep", "k");
  for (int i = 0; i < 5000; ++i) {
    h.set("Grow", std::string(static_cast<std::size_t>(i % 700), 'g'));
    h.set("Keep", i % 2 ? "kk" : "k");
  }
  EXPECT_EQ(*h.get("Grow"), std::string(4999 % 700, 'g'));
  EXPECT_EQ(*h.get("Keep"), "kk");
  EXPECT_EQ(h.size(), 2u);
  const Headers copy = h;  // copies stay independent
  h.set("Keep", "changed");
  EXPECT_EQ(*copy.get("Keep"), "kk");
}

TEST(FieldValue, CrLfAndNulAreUnsafeAnywhere) {
  EXPECT_TRUE(is_safe_field_value("a b\tc"));
  EXPECT_FALSE(is_safe_field_value("a\r\nInjected: 1"));
  EXPECT_FALSE(is_safe_field_value(std::string_view("a\0b", 3)));
  EXPECT_FALSE(is_safe_field_value(std::string(200, 'v') + "\n"));  // past any vector width
  EXPECT_TRUE(is_safe_field_value(std::string(200, 'v') + "\x7f\x80\xff"));
  // Every position within and across 8-byte words, and bytes next to the
  // forbidden ones (0x01, 0x0b, 0x0c, 0x0e, 0x8a, 0x8d) that must pass.
  // Lengths 1..24 (word-at-a-time scan) and 60..72 (around the switch to
  // libc's search at 64).
  std::vector<std::size_t> lengths;
  for (std::size_t len = 1; len <= 72; len = len == 24 ? 60 : len + 1) {
    lengths.push_back(len);
  }
  for (const std::size_t len : lengths) {
    for (std::size_t at = 0; at < len; ++at) {
      for (const char bad : {'\0', '\r', '\n'}) {
        std::string v(len, 'x');
        v[at] = bad;
        EXPECT_FALSE(is_safe_field_value(v)) << len << " " << at << " " << int(bad);
      }
      for (const char ok : {'\x01', '\x0b', '\x0c', '\x0e', '\x8a', '\x8d', '\t', ' '}) {
        std::string v(len, '\x80');
        v[at] = ok;
        EXPECT_TRUE(is_safe_field_value(v)) << len << " " << at << " " << int(ok);
      }
    }
  }
}

TEST(Headers, CaseInsensitiveCompareIsAsciiOnly) {
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("@", "`"));   // differ only in 0x20, not letters
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("ab", "abc"));
  // Longer than a word: equal words, case-only differences, other differences
  // in the first, second and last (partial) word.
  EXPECT_TRUE(iequals("X-Amz-Security-Token", "x-amz-security-token"));
  EXPECT_TRUE(iequals("x-amz-security-token", "x-amz-security-token"));
  EXPECT_TRUE(iequals("abcdefghIJKLMNOPqrs", "ABCDEFGHijklmnopQRS"));
  EXPECT_FALSE(iequals("@@@@@@@@x", "````````x"));
  EXPECT_FALSE(iequals("abcdefgh[[", "abcdefgh{{"));
  EXPECT_FALSE(iequals("abcdefgh-Amz-Date", "abcdefgh-Amz-Data"));
  EXPECT_FALSE(iequals("content-lengthX", "content-length_"));
  EXPECT_FALSE(iequals("Authorization", "Authorizatiom"));
}

}  // namespace
}  // namespace kp
