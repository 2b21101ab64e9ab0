#include "base/encoding.h"

#include <gtest/gtest.h>

namespace kp {
namespace {

TEST(Hex, RoundTrip) {
  const Bytes b{0x00, 0xab, 0xff};
  EXPECT_EQ(hex_encode(b), "00abff");
  EXPECT_EQ(hex_decode("00ABff"), b);
  EXPECT_FALSE(hex_decode("0"));
  EXPECT_FALSE(hex_decode("zz"));
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> v[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : v) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), enc);
    auto d = base64_decode(enc);
    ASSERT_TRUE(d) << enc;
    EXPECT_EQ(as_chars(*d), plain);
    auto s = base64_decode_secret(enc);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->chars(), plain);
  }
}

TEST(Base64, RejectsMalformed) {
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm9v!A==", "=Zm9", "Zg==Zg=="}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

}  // namespace
}  // namespace kp

namespace kp {
namespace {

TEST(DecimalDigits, OnlyNonEmptyRunsOfAsciiDigits) {
  EXPECT_TRUE(is_decimal_digits("0"));
  EXPECT_TRUE(is_decimal_digits("0042"));
  for (const char* s : {"", "+1", "-1", "1,2", "1, 1", " 1", "1 ", "1.0", "0x1", "\xd9\xa1"}) {
    EXPECT_FALSE(is_decimal_digits(s)) << s;
  }
}

}  // namespace
}  // namespace kp
