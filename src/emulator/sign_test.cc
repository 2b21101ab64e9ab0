// Signing keys: Sign / Verify for every key spec and algorithm, checked with
// an independent verifier (OpenSSL through EVP_DigestVerify here), message
// types and digest lengths, wrong algorithms and keys, and the
// kms:SigningAlgorithm / kms:MessageType condition keys.
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include "emulator/test_support.h"

namespace kp::emulator {
namespace {

namespace json = boost::json;
using testing::b64;
using testing::unb64;

// OpenSSL's one-shot verification of `message` (hashing it itself), an
// oracle independent of the emulator's digest-then-sign path.
bool openssl_verifies(const Bytes& spki, std::string_view alg, std::string_view message, const Bytes& sig) {
  const unsigned char* p = spki.data();
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (key == nullptr) {
    return false;
  }
  const EVP_MD* md = alg.ends_with("256") ? EVP_sha256() : alg.ends_with("384") ? EVP_sha384() : EVP_sha512();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && alg.starts_with("RSASSA_PSS")) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(message.data()),
                              message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

class SignTest : public testing::EmulatorFixture {
 protected:
  std::string sign_key(const char* spec) {
    return create_key_id({{"KeySpec", spec}, {"KeyUsage", "SIGN_VERIFY"}});
  }
  Bytes public_key(const std::string& id) { return unb64(op("GetPublicKey", {{"KeyId", id}}).body, "PublicKey"); }
};

TEST_F(SignTest, EverySpecAndAlgorithmSignsAndVerifies) {
  const std::pair<const char*, std::vector<const char*>> cases[] = {
      {"RSA_2048",
       {"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}},
      {"ECC_NIST_P256", {"ECDSA_SHA_256"}},
      {"ECC_NIST_P384", {"ECDSA_SHA_384"}},
      {"ECC_NIST_P521", {"ECDSA_SHA_512"}},
      {"ECC_SECG_P256K1", {"ECDSA_SHA_256"}},
  };
  const std::string message = "enclave release v1.2.3";
  for (const auto& [spec, algs] : cases) {
    const std::string id = sign_key(spec);
    auto md = op("DescribeKey", {{"KeyId", id}});
    ASSERT_EQ(md.status, 200u) << md.raw.body;
    EXPECT_EQ(md.body["KeyMetadata"].as_object()["SigningAlgorithms"].as_array().size(), algs.size()) << spec;
    auto pub = op("GetPublicKey", {{"KeyId", id}});
    EXPECT_EQ(pub.body["SigningAlgorithms"].as_array().size(), algs.size()) << spec;
    const Bytes spki = public_key(id);
    for (const char* alg : algs) {
      auto s = op("Sign", {{"KeyId", id}, {"Message", b64(message)}, {"SigningAlgorithm", alg}});
      ASSERT_EQ(s.status, 200u) << spec << " " << alg << " " << s.raw.body;
      EXPECT_EQ(s.body["SigningAlgorithm"].as_string(), alg);
      const Bytes sig = unb64(s.body, "Signature");
      EXPECT_TRUE(openssl_verifies(spki, alg, message, sig)) << spec << " " << alg;
      auto v = op("Verify", {{"KeyId", id}, {"Message", b64(message)}, {"Signature", s.body["Signature"]},
                             {"SigningAlgorithm", alg}});
      ASSERT_EQ(v.status, 200u) << v.raw.body;
      EXPECT_TRUE(v.body["SignatureValid"].as_bool());
      auto bad = op("Verify", {{"KeyId", id}, {"Message", b64(message + "!")}, {"Signature", s.body["Signature"]},
                               {"SigningAlgorithm", alg}});
      EXPECT_EQ(bad.status, 400u);
      EXPECT_EQ(bad.type, "KMSInvalidSignatureException") << bad.raw.body;
    }
  }
}

TEST_F(SignTest, DigestMessagesWrongAlgorithmsAndKeys) {
  const std::string id = sign_key("ECC_NIST_P256");
  // DIGEST: the message is the SHA-256 itself; the signature is the RAW one's.
  unsigned char digest[32];
  unsigned int n = 0;
  const std::string message = "hello";
  EVP_Digest(message.data(), message.size(), digest, &n, EVP_sha256(), nullptr);
  const Bytes d(digest, digest + n);
  auto s = op("Sign", {{"KeyId", id}, {"Message", b64(d)}, {"MessageType", "DIGEST"},
                       {"SigningAlgorithm", "ECDSA_SHA_256"}});
  ASSERT_EQ(s.status, 200u) << s.raw.body;
  EXPECT_TRUE(openssl_verifies(public_key(id), "ECDSA_SHA_256", message, unb64(s.body, "Signature")));
  auto short_digest = op("Sign", {{"KeyId", id}, {"Message", b64("tooshort")}, {"MessageType", "DIGEST"},
                                  {"SigningAlgorithm", "ECDSA_SHA_256"}});
  EXPECT_EQ(short_digest.type, "ValidationException") << short_digest.raw.body;
  auto mu = op("Sign", {{"KeyId", id}, {"Message", b64(d)}, {"MessageType", "EXTERNAL_MU"},
                        {"SigningAlgorithm", "ECDSA_SHA_256"}});
  EXPECT_EQ(mu.type, "ValidationException");
  // An algorithm the key does not offer, a non-signing key, a disabled key.
  EXPECT_EQ(op("Sign", {{"KeyId", id}, {"Message", b64("m")}, {"SigningAlgorithm", "ECDSA_SHA_384"}}).type,
            "InvalidKeyUsageException");
  EXPECT_EQ(op("Sign", {{"KeyId", id}, {"Message", b64("m")}, {"SigningAlgorithm", "RSASSA_PSS_SHA_256"}}).type,
            "InvalidKeyUsageException");
  const std::string sym = create_key_id();
  EXPECT_EQ(op("Sign", {{"KeyId", sym}, {"Message", b64("m")}, {"SigningAlgorithm", "ECDSA_SHA_256"}}).type,
            "InvalidKeyUsageException");
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("m")}}).type, "InvalidKeyUsageException");
  ASSERT_EQ(op("DisableKey", {{"KeyId", id}}).status, 200u);
  EXPECT_EQ(op("Sign", {{"KeyId", id}, {"Message", b64("m")}, {"SigningAlgorithm", "ECDSA_SHA_256"}}).type,
            "DisabledException");
  // A signing key cannot be created for a spec KMS does not sign with.
  EXPECT_EQ(op("CreateKey", {{"KeySpec", "SYMMETRIC_DEFAULT"}, {"KeyUsage", "SIGN_VERIFY"}}).type,
            "ValidationException");
  // DryRun: every check, then DryRunOperationException.
  const std::string other = sign_key("ECC_NIST_P384");
  auto dry = op("Sign", {{"KeyId", other}, {"Message", b64("m")}, {"SigningAlgorithm", "ECDSA_SHA_384"},
                         {"DryRun", true}});
  EXPECT_EQ(dry.type, "DryRunOperationException") << dry.raw.body;
}

TEST_F(SignTest, SigningConditionKeys) {
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
      {"Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*","Condition":{
        "StringNotEquals":{"kms:SigningAlgorithm":"RSASSA_PSS_SHA_256"}}},
      {"Effect":"Deny","Principal":"*","Action":"kms:Sign","Resource":"*","Condition":{
        "StringEquals":{"kms:MessageType":"DIGEST"}}}]})";
  const std::string id = create_key_id({{"KeySpec", "RSA_2048"}, {"KeyUsage", "SIGN_VERIFY"}, {"Policy", policy},
                                        {"BypassPolicyLockoutSafetyCheck", true}});
  EXPECT_EQ(op("Sign", {{"KeyId", id}, {"Message", b64("m")}, {"SigningAlgorithm", "RSASSA_PSS_SHA_256"}}).status,
            200u);
  EXPECT_EQ(op("Sign", {{"KeyId", id}, {"Message", b64("m")}, {"SigningAlgorithm", "RSASSA_PKCS1_V1_5_SHA_256"}}).type,
            "AccessDeniedException");
  Bytes d(32, 7);
  EXPECT_EQ(op("Sign", {{"KeyId", id}, {"Message", b64(d)}, {"MessageType", "DIGEST"},
                        {"SigningAlgorithm", "RSASSA_PSS_SHA_256"}})
                .type,
            "AccessDeniedException");
}

}  // namespace
}  // namespace kp::emulator
