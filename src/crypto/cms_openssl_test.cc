// Cross-checks seal_enveloped() against an independent CMS implementation:
// the openssl command-line tool (OpenSSL's CMS code, not our BER reader/writer).
#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/cms.h"
#include "crypto/test_util.h"

namespace kp::crypto {
namespace {

using testing::cfr_dir;
using testing::read_file;
using testing::read_text;
using testing::run;
using testing::TempDir;
using testing::write_file;

std::string quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Seals `plaintext` to the key in `key_pem`, then asks `openssl cms` to
// decrypt and to print the structure.
void expect_openssl_opens(const std::filesystem::path& key_pem, const RsaKeyPair& key, ByteView plaintext,
                          const TempDir& dir, const std::string& tag) {
  auto sealed = seal_enveloped(plaintext, key.spki_der());
  ASSERT_TRUE(sealed) << sealed.error().message;
  const auto in = dir.path() / (tag + ".ber");
  const auto out = dir.path() / (tag + ".out");
  write_file(in, *sealed);
  const auto dec = run("openssl cms -decrypt -inform DER -in " + quote(in) + " -inkey " + quote(key_pem) +
                       " -binary -out " + quote(out) + " 2>&1");
  ASSERT_EQ(dec.exit_code, 0) << dec.output;
  EXPECT_EQ(read_file(out), Bytes(plaintext.begin(), plaintext.end())) << tag;

  const auto print = run("openssl cms -cmsout -print -inform DER -in " + quote(in) + " 2>&1");
  ASSERT_EQ(print.exit_code, 0) << print.output;
  EXPECT_NE(print.output.find("contentType: pkcs7-envelopedData"), std::string::npos) << print.output;
  EXPECT_NE(print.output.find("rsaesOaep"), std::string::npos) << print.output;
  EXPECT_NE(print.output.find("aes-256-cbc"), std::string::npos) << print.output;
  EXPECT_NE(print.output.find("sha256"), std::string::npos) << print.output;
}

TEST(CmsOpensslCli, DecryptsWhatWeSealForTheVectorKey) {
  if (!testing::have_openssl_cli()) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const auto pem = cfr_dir("enclaver_hello_world") / "private_key_pkcs8.pem";
  auto key = RsaKeyPair::from_pem(read_text(pem));
  ASSERT_TRUE(key) << key.error().message;
  expect_openssl_opens(pem, *key, as_bytes("Hello, World"), dir, "hello");
  Bytes big(4096);
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<std::uint8_t>(i ^ (i >> 8));
  }
  for (std::size_t n : {1u, 15u, 16u, 17u, 32u, 1000u, 4096u}) {
    expect_openssl_opens(pem, *key, ByteView(big.data(), n), dir, "n" + std::to_string(n));
  }
}

TEST(CmsOpensslCli, DecryptsWhatWeSealForAnOpensslGeneratedKey) {
  if (!testing::have_openssl_cli()) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const auto pem = dir.path() / "key.pem";
  const auto gen =
      run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + quote(pem) + " 2>&1");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  auto key = RsaKeyPair::from_pem(read_text(pem));
  ASSERT_TRUE(key) << key.error().message;
  expect_openssl_opens(pem, *key, as_bytes("a 32-byte data key, say........"), dir, "dk");

  // And our SPKI is byte-identical to what openssl derives from the same key.
  const auto spki = dir.path() / "spki.der";
  const auto pub = run("openssl pkey -in " + quote(pem) + " -pubout -outform DER -out " + quote(spki) + " 2>&1");
  ASSERT_EQ(pub.exit_code, 0) << pub.output;
  EXPECT_EQ(read_file(spki), key->spki_der());
}

TEST(CmsOpensslCli, WrongSizeContentKeyIsRejected) {
  if (!testing::have_openssl_cli()) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  // Wrap a 16-byte CEK with RSA-OAEP-SHA256 using openssl, splice it into a
  // blob we sealed: OAEP succeeds, but AES-256 needs 32 bytes.
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const auto pem = cfr_dir("enclaver_hello_world") / "private_key_pkcs8.pem";
  auto key = RsaKeyPair::from_pem(read_text(pem));
  ASSERT_TRUE(key);
  write_file(dir.path() / "pub.der", key->spki_der());
  write_file(dir.path() / "cek16", Bytes(16, 0x42));
  const auto enc = run("openssl pkeyutl -encrypt -pubin -keyform DER -inkey " + quote(dir.path() / "pub.der") +
                       " -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in " +
                       quote(dir.path() / "cek16") + " -out " + quote(dir.path() / "ek") + " 2>&1");
  ASSERT_EQ(enc.exit_code, 0) << enc.output;
  const Bytes ek = read_file(dir.path() / "ek");
  ASSERT_EQ(ek.size(), 256u);
  auto sealed = seal_enveloped(as_bytes("Hello, World"), key->spki_der());
  ASSERT_TRUE(sealed);
  auto env = parse_enveloped(*sealed);
  ASSERT_TRUE(env);
  Bytes forged = *sealed;
  auto at = std::search(forged.begin(), forged.end(), env->encrypted_key.begin(), env->encrypted_key.end());
  ASSERT_NE(at, forged.end());
  std::copy(ek.begin(), ek.end(), at);
  auto r = open_enveloped(forged, *key);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCmsDecryptFailed);
  // Said like every other decryption failure (no oracle; cms_test.cc).
  EXPECT_EQ(r.error().message,
            "CiphertextForRecipient could not be decrypted with this proxy's key (wrong key or corrupted data)");
}

TEST(CmsOpensslCli, OpensslPrintsTheRealVectorsLikeOurs) {
  if (!testing::have_openssl_cli()) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  // Both parsers accept all four real blobs.
  for (const char* d : {"enclaver_hello_world", "nitro-enclaves-sdk-go_datakey", "sdk-c_parse_only_constructed",
                        "sdk-c_parse_only_primitive"}) {
    const auto path = cfr_dir(d) / "ciphertext_for_recipient.ber";
    const auto print = run("openssl cms -cmsout -print -inform DER -in " + quote(path) + " 2>&1");
    EXPECT_EQ(print.exit_code, 0) << d << ": " << print.output;
    EXPECT_TRUE(parse_enveloped(read_file(path))) << d;
  }
}

}  // namespace
}  // namespace kp::crypto
