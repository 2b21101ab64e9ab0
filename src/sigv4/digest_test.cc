#include "sigv4/digest.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace kp::sigv4::detail {
namespace {

std::string hex(const Digest& d) {
  std::string out;
  append_hex(d, out);
  return out;
}

ByteView bytes(std::string_view s) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// RFC 4231 test cases 2 and 1 (key "Jefe"; key 0x0b x 20).
constexpr std::string_view kJefeMsg = "what do ya want for nothing?";
constexpr std::string_view kJefeMac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
constexpr std::string_view kHiThereMac = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";

TEST(Digest, HexCoversEveryByteValue) {
  for (unsigned first = 0; first < 256; first += 32) {
    Digest d{};
    std::string want;
    for (unsigned i = 0; i < d.size(); ++i) {
      d[i] = static_cast<std::uint8_t>(first + i);
      static constexpr char kHex[] = "0123456789abcdef";
      want += kHex[(first + i) >> 4];
      want += kHex[(first + i) & 0xf];
    }
    EXPECT_EQ(hex(d), want);
  }
}

TEST(Digest, Sha256OfEmptyAndAbc) {
  EXPECT_EQ(hex(sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256(bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The thread's HMAC context skips re-keying when the key repeats; alternating
// keys, repeating one, and changing only the data must all give RFC 4231's MACs.
TEST(Digest, HmacReusesTheKeyedContextOnlyForTheSameKey) {
  const std::string jefe = "Jefe";
  const std::string b20(20, '\x0b');
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(hex(hmac_sha256(bytes(jefe), bytes(kJefeMsg))), kJefeMac);
    EXPECT_EQ(hex(hmac_sha256(bytes(jefe), bytes(kJefeMsg))), kJefeMac);
    EXPECT_EQ(hex(hmac_sha256(bytes(b20), bytes("Hi There"))), kHiThereMac);
    EXPECT_EQ(hex(hmac_sha256(bytes(b20), bytes("Hi There"))), kHiThereMac);
  }
  // Same length, one byte different: must re-key.
  std::string jefx = "Jefx";
  EXPECT_EQ(hex(hmac_sha256(bytes(jefe), bytes(kJefeMsg))), kJefeMac);
  EXPECT_NE(hex(hmac_sha256(bytes(jefx), bytes(kJefeMsg))), kJefeMac);
  EXPECT_EQ(hex(hmac_sha256(bytes(jefe), bytes(kJefeMsg))), kJefeMac);
  // A key longer than the block (hashed first, not remembered) and an empty key.
  const std::string aa131(131, '\xaa');
  constexpr std::string_view kLongMsg = "Test Using Larger Than Block-Size Key - Hash Key First";
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(hex(hmac_sha256(bytes(aa131), bytes(kLongMsg))),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  }
  const auto empty1 = hex(hmac_sha256({}, bytes("x")));
  EXPECT_EQ(hex(hmac_sha256({}, bytes("x"))), empty1);
  EXPECT_NE(hex(hmac_sha256(bytes(jefe), bytes("x"))), empty1);
}

TEST(Digest, HmacKeyMemoryIsPerThread) {
  const std::string jefe = "Jefe";
  ASSERT_EQ(hex(hmac_sha256(bytes(jefe), bytes(kJefeMsg))), kJefeMac);
  std::string other;
  std::thread t([&] { other = hex(hmac_sha256(bytes(std::string(20, '\x0b')), bytes("Hi There"))); });
  t.join();
  EXPECT_EQ(other, kHiThereMac);
  EXPECT_EQ(hex(hmac_sha256(bytes(jefe), bytes(kJefeMsg))), kJefeMac);
}

}  // namespace
}  // namespace kp::sigv4::detail
