#include "crypto/rsa_key.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "crypto/cms.h"
#include "crypto/digest.h"
#include "crypto/ec.h"
#include "crypto/test_util.h"

namespace kp::crypto {
namespace {

using testing::cfr_dir;
using testing::read_file;
using testing::read_text;

// DER prefix of an RSA-2048 SubjectPublicKeyInfo: SEQ(290) { SEQ { rsaEncryption, NULL }, BIT STRING(271) }.
constexpr std::string_view kSpki2048Prefix = "30820122300d06092a864886f70d01010105000382010f00";

TEST(RsaKeyPair, GenerateProducesA2048BitSpki) {
  auto key = RsaKeyPair::generate();
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->bits(), 2048u);
  ASSERT_EQ(key->spki_der().size(), 294u);
  EXPECT_EQ(hex_encode(ByteView(key->spki_der()).first(24)), kSpki2048Prefix);
  // e = 65537: the SPKI ends with INTEGER 010001.
  EXPECT_EQ(hex_encode(ByteView(key->spki_der()).last(5)), "0203010001");
  EXPECT_EQ(key->spki_sha256(), sha256(key->spki_der()));
  auto other = RsaKeyPair::generate();
  ASSERT_TRUE(other);
  EXPECT_NE(key->spki_der(), other->spki_der());
}

TEST(RsaKeyPair, GenerateRejectsUnsupportedSizes) {
  for (unsigned bits : {0u, 1024u, 2047u, 2050u, 8192u}) {
    auto key = RsaKeyPair::generate(bits);
    ASSERT_FALSE(key) << bits;
    EXPECT_EQ(key.error().code, Errc::kValidation);
  }
}

TEST(RsaKeyPair, FromPemMatchesTheVectorSpkis) {
  struct V {
    const char* dir;
    const char* pem;
  };
  for (const V v : {V{"enclaver_hello_world", "private_key_pkcs8.pem"},
                    V{"nitro-enclaves-sdk-go_datakey", "private_key_pkcs1.pem"}}) {
    auto key = RsaKeyPair::from_pem(read_text(cfr_dir(v.dir) / v.pem));
    ASSERT_TRUE(key) << v.dir << ": " << key.error().message;
    EXPECT_EQ(key->spki_der(), read_file(cfr_dir(v.dir) / "public_key_spki.der")) << v.dir;
    const std::string ski_hex = read_text(cfr_dir(v.dir) / "sha256_spki_equals_ski.txt");
    EXPECT_EQ(hex_encode(key->spki_sha256()), ski_hex.substr(0, 64)) << v.dir;
  }
}

TEST(RsaKeyPair, FromPemRejectsNonKeysWithoutPrompting) {
  const std::string encrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
      "MIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI7Zl6gSxz1HECAggA\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n";
  for (const std::string& pem :
       {std::string(), std::string("hello"), encrypted,
        read_text(cfr_dir("enclaver_hello_world") / "ciphertext_for_recipient.b64")}) {
    auto key = RsaKeyPair::from_pem(pem);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code, Errc::kValidation);
  }
}

TEST(RsaKeyPair, FromPemRejectsEcKeys) {
  auto ec = generate_key_pair(KeyPairSpec::kEccNistP256);
  ASSERT_TRUE(ec) << ec.error().message;
  const std::string b64 = base64_encode(ec->private_key_pkcs8.view());
  std::string pem = "-----BEGIN PRIVATE KEY-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) {
    pem += b64.substr(i, 64) + "\n";
  }
  pem += "-----END PRIVATE KEY-----\n";
  auto key = RsaKeyPair::from_pem(pem);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::kValidation);
  EXPECT_NE(key.error().message.find("not an RSA"), std::string::npos) << key.error().message;
}

TEST(RsaKeyPair, DecryptRejectsGarbageAndCountsOperations) {
  auto key = RsaKeyPair::generate();
  ASSERT_TRUE(key);
  EXPECT_EQ(key->private_operations(), 0u);
  const Bytes wrong_size(100, 0x01);
  auto r1 = key->decrypt_oaep_sha256(wrong_size);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, Errc::kCmsDecryptFailed);
  const Bytes garbage(256, 0x01);
  auto r2 = key->decrypt_oaep_sha256(garbage);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::kCmsDecryptFailed);
  EXPECT_EQ(key->private_operations(), 2u);
}

TEST(RsaKeyPair, MovedFromIsInertNotCrashing) {
  auto key = RsaKeyPair::generate();
  ASSERT_TRUE(key);
  RsaKeyPair moved = std::move(*key);
  EXPECT_EQ(moved.spki_der().size(), 294u);
  EXPECT_TRUE(key->spki_der().empty());  // NOLINT(bugprone-use-after-move)
  auto r = key->decrypt_oaep_sha256(Bytes(256, 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInternal);
}

TEST(RsaKeyPair, ConcurrentDecryptsShareOneKey) {
  auto key = RsaKeyPair::generate();
  ASSERT_TRUE(key);
  std::vector<Bytes> blobs;
  for (int i = 0; i < 4; ++i) {
    auto sealed = seal_enveloped(as_bytes("message " + std::to_string(i)), key->spki_der());
    ASSERT_TRUE(sealed) << sealed.error().message;
    blobs.push_back(std::move(*sealed));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto pt = open_enveloped(blobs[static_cast<std::size_t>((t + i) % 4)], *key);
        if (!pt || pt->chars() != "message " + std::to_string((t + i) % 4)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(key->private_operations(), 100u);
}

}  // namespace
}  // namespace kp::crypto
