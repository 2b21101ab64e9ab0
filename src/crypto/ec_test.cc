#include "crypto/ec.h"

#include <gtest/gtest.h>

#include <set>

#include "base/encoding.h"
#include "crypto/digest.h"
#include "crypto/random.h"
#include "crypto/test_util.h"

namespace kp::crypto {
namespace {

TEST(KeyPairSpec, NamesRoundTrip) {
  for (auto spec : {KeyPairSpec::kEccNistP256, KeyPairSpec::kEccNistP384, KeyPairSpec::kEccNistP521,
                    KeyPairSpec::kEccSecgP256k1, KeyPairSpec::kRsa2048, KeyPairSpec::kRsa3072,
                    KeyPairSpec::kRsa4096}) {
    EXPECT_EQ(key_pair_spec_from_name(key_pair_spec_name(spec)), spec);
  }
  EXPECT_EQ(key_pair_spec_name(KeyPairSpec::kEccNistP384), "ECC_NIST_P384");
  EXPECT_FALSE(key_pair_spec_from_name("ecc_nist_p256"));
  EXPECT_FALSE(key_pair_spec_from_name("SYMMETRIC_DEFAULT"));
  EXPECT_TRUE(is_ecc(KeyPairSpec::kEccSecgP256k1));
  EXPECT_FALSE(is_ecc(KeyPairSpec::kRsa2048));
}

struct EcCase {
  KeyPairSpec spec;
  std::size_t secret_bytes;
  std::string_view spki_prefix;  // DER up to the curve OID
};

TEST(Ecdh, BothSidesDeriveTheSameRawX) {
  const EcCase cases[] = {
      {KeyPairSpec::kEccNistP256, 32, "3059301306072a8648ce3d020106082a8648ce3d030107"},
      {KeyPairSpec::kEccNistP384, 48, "3076301006072a8648ce3d020106052b81040022"},
      {KeyPairSpec::kEccNistP521, 66, "30819b301006072a8648ce3d020106052b81040023"},
      {KeyPairSpec::kEccSecgP256k1, 32, "3056301006072a8648ce3d020106052b8104000a"},
  };
  for (const auto& c : cases) {
    auto a = generate_key_pair(c.spec);
    auto b = generate_key_pair(c.spec);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(hex_encode(a->public_key_spki).rfind(c.spki_prefix, 0), 0u) << hex_encode(a->public_key_spki);
    auto ab = ecdh_derive(a->private_key_pkcs8.view(), b->public_key_spki);
    auto ba = ecdh_derive(b->private_key_pkcs8.view(), a->public_key_spki);
    ASSERT_TRUE(ab) << ab.error().message;
    ASSERT_TRUE(ba) << ba.error().message;
    EXPECT_EQ(ab->size(), c.secret_bytes);
    EXPECT_TRUE(ab->equals(ba->view()));
    auto pub = public_key_of(a->private_key_pkcs8.view());
    ASSERT_TRUE(pub) << pub.error().message;
    EXPECT_EQ(*pub, a->public_key_spki);
  }
}

TEST(Ecdh, MatchesTheOpensslCli) {
  if (!testing::have_openssl_cli()) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  auto a = generate_key_pair(KeyPairSpec::kEccNistP384);
  auto b = generate_key_pair(KeyPairSpec::kEccNistP384);
  ASSERT_TRUE(a && b);
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  testing::write_file(dir.path() / "a.der", a->private_key_pkcs8.view());
  testing::write_file(dir.path() / "b.pub.der", b->public_key_spki);
  const auto d = dir.path().string();
  const auto r = testing::run("openssl pkeyutl -derive -keyform DER -inkey '" + d + "/a.der' -peerform DER -peerkey '" +
                              d + "/b.pub.der' -out '" + d + "/s.bin' 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto ours = ecdh_derive(a->private_key_pkcs8.view(), b->public_key_spki);
  ASSERT_TRUE(ours);
  EXPECT_TRUE(ours->equals(testing::read_file(dir.path() / "s.bin")));
}

TEST(Ecdh, RejectsMismatchedOrNonEcKeys) {
  auto p256 = generate_key_pair(KeyPairSpec::kEccNistP256);
  auto p384 = generate_key_pair(KeyPairSpec::kEccNistP384);
  auto rsa = generate_key_pair(KeyPairSpec::kRsa2048);
  ASSERT_TRUE(p256 && p384 && rsa);
  auto mixed = ecdh_derive(p256->private_key_pkcs8.view(), p384->public_key_spki);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code, Errc::kValidation);
  EXPECT_NE(mixed.error().message.find("secp384r1"), std::string::npos) << mixed.error().message;
  auto rsa_peer = ecdh_derive(p256->private_key_pkcs8.view(), rsa->public_key_spki);
  ASSERT_FALSE(rsa_peer);
  EXPECT_EQ(rsa_peer.error().code, Errc::kValidation);
  auto rsa_ours = ecdh_derive(rsa->private_key_pkcs8.view(), p256->public_key_spki);
  ASSERT_FALSE(rsa_ours);
  EXPECT_EQ(rsa_ours.error().code, Errc::kValidation);
  auto junk = ecdh_derive(Bytes{0x30, 0x00}, p256->public_key_spki);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, Errc::kValidation);
  // A point that is not on the curve: flip a bit of the peer's y coordinate.
  Bytes off_curve = p256->public_key_spki;
  off_curve.back() ^= 0x01;
  auto bad_point = ecdh_derive(p256->private_key_pkcs8.view(), off_curve);
  ASSERT_FALSE(bad_point);
  EXPECT_EQ(bad_point.error().code, Errc::kValidation);
}

TEST(KeyPair, RsaPairsAreDerSpkiAndPkcs8) {
  for (auto [spec, bits] : {std::pair{KeyPairSpec::kRsa2048, 2048}, std::pair{KeyPairSpec::kRsa3072, 3072}}) {
    auto kp = generate_key_pair(spec);
    ASSERT_TRUE(kp) << kp.error().message;
    // PKCS#8: SEQ { INTEGER 0, SEQ { rsaEncryption, NULL }, OCTET STRING {...} }
    const std::string p8 = hex_encode(kp->private_key_pkcs8.view());
    EXPECT_NE(p8.find("020100300d06092a864886f70d0101010500"), std::string::npos) << bits;
    EXPECT_EQ(hex_encode(kp->public_key_spki).find("300d06092a864886f70d0101010500"), 8u) << bits;
    auto pub = public_key_of(kp->private_key_pkcs8.view());
    ASSERT_TRUE(pub);
    EXPECT_EQ(*pub, kp->public_key_spki);
  }
}

TEST(Random, DistinctAndSized) {
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    SecretBytes r = random_bytes(32);
    ASSERT_EQ(r.size(), 32u);
    seen.insert(hex_encode(r.view()));
  }
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_TRUE(random_bytes(0).empty());
  auto t = try_random_bytes(1024);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 1024u);
}

TEST(Digest, KnownAnswers) {
  EXPECT_EQ(hex_encode(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_encode(sha384(as_bytes("abc"))),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7");
}

}  // namespace
}  // namespace kp::crypto
