#include "base/secret.h"

#include <gtest/gtest.h>

#include <array>
#include <sstream>

namespace kp {
namespace {

TEST(SecretBytes, NeverPrintsItsContent) {
  auto s = SecretBytes::copy_of(std::string_view("hunter2"));
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "<redacted 7 bytes>");
  EXPECT_EQ(os.str().find("hunter2"), std::string::npos);
}

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  auto a = SecretBytes::copy_of(std::string_view("abc"));
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.chars(), "abc");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytes, TakeWipesTheSource) {
  std::string src = "plaintext";
  const char* p = src.data();
  auto s = SecretBytes::take(std::move(src));
  EXPECT_EQ(s.chars(), "plaintext");
  EXPECT_EQ(std::string_view(p, 9), std::string(9, '\0'));
}

TEST(SecureWipe, ZeroesExactlyTheRangeAtEveryOffsetAndLength) {
  std::array<unsigned char, 200> buf{};
  for (std::size_t off : {0u, 1u, 7u, 33u}) {
    for (std::size_t n : {0u, 1u, 15u, 16u, 64u, 129u}) {
      buf.fill(0xa5);
      secure_wipe(buf.data() + off, n);
      for (std::size_t i = 0; i < buf.size(); ++i) {
        const bool inside = i >= off && i < off + n;
        ASSERT_EQ(buf[i], inside ? 0 : 0xa5) << "offset " << off << " length " << n << " byte " << i;
      }
    }
  }
  secure_wipe(nullptr, 10);  // no-op
}

TEST(SecretBytes, TruncateAndEquals) {
  auto s = SecretBytes::copy_of(std::string_view("abcdef"));
  s.truncate(3);
  EXPECT_EQ(s.chars(), "abc");
  EXPECT_TRUE(s.equals(as_bytes("abc")));
  EXPECT_FALSE(s.equals(as_bytes("abd")));
  EXPECT_FALSE(s.equals(as_bytes("ab")));
}

}  // namespace
}  // namespace kp
