#include <gtest/gtest.h>

#include <cstring>

#include "net/detail/http_wire.h"
#include "net/detail/wiping_buffer.h"
#include "net/http_server.h"

namespace kp::net::detail {
namespace {

std::string_view view(const boost::asio::const_buffer& b) {
  return {static_cast<const char*>(b.data()), b.size()};
}

void put(WipingBuffer& b, std::string_view s) {
  auto m = b.prepare(s.size());
  ASSERT_EQ(m.size(), s.size());
  std::memcpy(m.data(), s.data(), s.size());
  b.commit(s.size());
}

TEST(WipingBuffer, ConsumeWipesTheConsumedBytes) {
  WipingBuffer b(64, 1024);
  put(b, "secret-plaintext|rest");
  const char* base = static_cast<const char*>(b.data().data());
  b.consume(17);
  EXPECT_EQ(view(b.data()), "rest");
  // The consumed region of the (still allocated) block is zeroed.
  for (int i = 0; i < 17; ++i) {
    EXPECT_EQ(base[i], 0) << i;
  }
}

TEST(WipingBuffer, CompactionWipesTheVacatedTail) {
  WipingBuffer b(32, 32);
  put(b, std::string(20, 'a'));
  b.consume(10);  // 10 'a' left at offset 10..19
  const char* base = static_cast<const char*>(b.data().data()) - 10;
  put(b, std::string(15, 'b'));  // needs compaction: 10 + 15 <= 32
  EXPECT_EQ(view(b.data()), std::string(10, 'a') + std::string(15, 'b'));
  EXPECT_EQ(static_cast<const char*>(b.data().data()), base);
  EXPECT_EQ(b.capacity(), 32u);
}

TEST(WipingBuffer, GrowsUpToMaxThenReportsFull) {
  WipingBuffer b(16, 40);
  put(b, std::string(16, 'x'));
  put(b, std::string(20, 'y'));
  EXPECT_EQ(b.size(), 36u);
  EXPECT_LE(b.capacity(), 40u);
  EXPECT_EQ(b.prepare(100).size(), 4u);
  put(b, "zzzz");
  EXPECT_EQ(b.prepare(1).size(), 0u);
  b.clear();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.prepare(40).size(), 40u);
}

TEST(HttpWire, AppendWipingKeepsContent) {
  std::string s;
  for (int i = 0; i < 1000; ++i) {
    append_wiping(s, "0123456789");
  }
  EXPECT_EQ(s.size(), 10000u);
  EXPECT_EQ(s.substr(9990), "0123456789");
  wipe_string(s);
  EXPECT_TRUE(s.empty());
}

TEST(HttpWire, TokensHopByHopAndValues) {
  EXPECT_TRUE(is_token("X-Amz-Target"));
  EXPECT_FALSE(is_token("Bad Header"));
  EXPECT_FALSE(is_token(""));
  EXPECT_TRUE(is_safe_field_value("a b\tc"));
  EXPECT_FALSE(is_safe_field_value("a\r\nInjected: 1"));
  EXPECT_TRUE(is_hop_by_hop("Connection"));
  EXPECT_TRUE(is_hop_by_hop("transfer-encoding"));
  EXPECT_TRUE(is_hop_by_hop("Content-Length"));
  EXPECT_FALSE(is_hop_by_hop("x-amzn-RequestId"));
  EXPECT_TRUE(has_token("close, X-Foo", "x-foo"));
  EXPECT_TRUE(has_token(" keep-alive ", "Keep-Alive"));
  EXPECT_FALSE(has_token("keep-alive-ish", "keep-alive"));
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  std::string d;
  append_date_field(d);
  EXPECT_EQ(d.rfind("Date: ", 0), 0u);
  EXPECT_EQ(d.substr(d.size() - 6), " GMT\r\n");
}

TEST(ScopedWipe, ClearsTheString) {
  std::string body = "plaintext that must not linger";
  {
    kp::net::ScopedWipe w(body);
  }
  EXPECT_TRUE(body.empty());
}

}  // namespace
}  // namespace kp::net::detail
