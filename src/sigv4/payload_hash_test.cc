#include "sigv4/payload_hash.h"

#include <gtest/gtest.h>

#include <string>

#include "base/encoding.h"
#include "base/time_format.h"
#include "sigv4/digest.h"
#include "sigv4/signer.h"

namespace kp::sigv4 {
namespace {

std::string patterned(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('A' + (static_cast<std::size_t>(seed) + i * 7) % 26);
  }
  return s;
}

PayloadHash whole(std::string_view s) { return detail::sha256(as_bytes(s)); }

TEST(PrefixedSha256, EqualsTheHashOfTheWholeBody) {
  // Prefix and rest lengths on both sides of SHA-256's 64-byte blocks.
  for (const std::size_t p : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 127u, 128u, 3713u, 6000u}) {
    const std::string prefix = patterned(p, 'p');
    const PrefixedSha256 h(prefix);
    EXPECT_EQ(h.prefix_size(), p);
    for (const std::size_t r : {0u, 1u, 8u, 63u, 64u, 200u, 1000u}) {
      const std::string body = prefix + patterned(r, 'r');
      const auto got = h.hash(body);
      ASSERT_TRUE(got) << p << "+" << r;
      EXPECT_EQ(*got, whole(body)) << p << "+" << r;
    }
  }
  // The known answer: SHA-256("abc") resumed after "ab".
  const auto abc = PrefixedSha256("ab").hash("abc");
  ASSERT_TRUE(abc);
  EXPECT_EQ(hex_encode(ByteView(abc->data(), abc->size())),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(PrefixedSha256, BodiesWithoutThePrefixAreNotHashed) {
  const PrefixedSha256 h(R"({"Recipient":{"AttestationDocument":"QUJD"})");
  EXPECT_FALSE(h.hash(R"({"Recipient":{"AttestationDocument":"QUJE"}})"));  // last byte differs
  EXPECT_FALSE(h.hash(R"( {"Recipient":{"AttestationDocument":"QUJD"}})"));  // shifted
  EXPECT_FALSE(h.hash(R"({"Recipient")"));                                  // shorter
  EXPECT_FALSE(h.hash(""));
  EXPECT_TRUE(h.hash(R"({"Recipient":{"AttestationDocument":"QUJD"}})"));
  // Reuse does not disturb the saved state; a moved-from hasher declines.
  PrefixedSha256 a("xyz");
  EXPECT_EQ(a.hash("xyz1"), a.hash("xyz1"));
  PrefixedSha256 b(std::move(a));
  EXPECT_EQ(b.hash("xyz1"), whole("xyz1"));
  EXPECT_FALSE(a.hash("xyz1"));  // NOLINT(bugprone-use-after-move): defined as declining
}

TEST(PrefixedSha256, SignRequestWithItSignsExactlyAsWithout) {
  const std::string prefix = "{" + patterned(4000, 'd');
  const PrefixedSha256 h(prefix);
  HttpRequest a;
  a.headers.set("Host", "kms.us-east-1.amazonaws.com");
  a.headers.set("X-Amz-Target", "TrentService.Decrypt");
  a.body = prefix + R"(,"CiphertextBlob":"AQID"})";
  HttpRequest b = a;
  const Credentials creds{"AKIDEXAMPLE", SecretBytes::copy_of("secret"), {}, std::nullopt};
  SignOptions o;
  o.region = "us-east-1";
  o.time = *parse_time_utc("2024-03-01T10:20:30Z");
  o.add_content_sha256 = true;
  ASSERT_TRUE(sign_request(a, creds, o));
  const auto ph = h.hash(b.body);
  ASSERT_TRUE(ph);
  o.payload_hash = &*ph;
  ASSERT_TRUE(sign_request(b, creds, o));
  EXPECT_EQ(a.headers.get("Authorization"), b.headers.get("Authorization"));
  EXPECT_EQ(a.headers.get("x-amz-content-sha256"), b.headers.get("x-amz-content-sha256"));
  // And it is used: a hash of other bytes changes the signature.
  const PayloadHash other = whole("other");
  o.payload_hash = &other;
  HttpRequest c = a;
  ASSERT_TRUE(sign_request(c, creds, o));
  EXPECT_NE(a.headers.get("Authorization"), c.headers.get("Authorization"));
}

}  // namespace
}  // namespace kp::sigv4
