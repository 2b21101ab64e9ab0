// Operation tests on the pure core: wire shapes, each operation, aliases and
// ARNs, key states, encryption-context binding, validation, durability.
#include "emulator/emulator.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "crypto/ec.h"
#include "emulator/test_support.h"

namespace kp::emulator {
namespace {

namespace json = boost::json;
using testing::Answer;
using testing::b64;
using testing::call;
using testing::unb64;

using EmulatorTest = testing::EmulatorFixture;

TEST_F(EmulatorTest, ResponsesCarryKmsHeaders) {
  auto ok = op("ListKeys", {});
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.raw.headers.get("Content-Type"), "application/x-amz-json-1.1");
  const auto id = ok.raw.headers.get("x-amzn-RequestId");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 36u);
  auto err = op("DescribeKey", {{"KeyId", "alias/none"}});
  EXPECT_EQ(err.status, 400u);
  EXPECT_EQ(err.raw.headers.get("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_TRUE(err.raw.headers.get("x-amzn-RequestId"));
  EXPECT_EQ(err.type, "NotFoundException");
  EXPECT_EQ(err.message, "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found.");
}

TEST_F(EmulatorTest, CreateKeyDefaultsAndDescribeKeyByEveryIdentifier) {
  auto md = create_key({{"Description", "test key"}, {"Tags", json::array{json::object{{"TagKey", "team"},
                                                                                         {"TagValue", "x"}}}}});
  const std::string id(md["KeyId"].as_string());
  EXPECT_EQ(md["Arn"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + id);
  EXPECT_EQ(md["AWSAccountId"].as_string(), "111122223333");
  EXPECT_EQ(md["KeySpec"].as_string(), "SYMMETRIC_DEFAULT");
  EXPECT_EQ(md["KeyUsage"].as_string(), "ENCRYPT_DECRYPT");
  EXPECT_EQ(md["KeyState"].as_string(), "Enabled");
  EXPECT_EQ(md["Enabled"].as_bool(), true);
  EXPECT_EQ(md["Description"].as_string(), "test key");
  EXPECT_DOUBLE_EQ(md["CreationDate"].to_number<double>(), 1700000000.0);
  EXPECT_EQ(md["EncryptionAlgorithms"].as_array().size(), 1u);

  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/app"}, {"TargetKeyId", id}}).status, 200u);
  for (const std::string& ref : {id, "arn:aws:kms:us-east-1:111122223333:key/" + id, std::string("alias/app"),
                                std::string("arn:aws:kms:us-east-1:111122223333:alias/app")}) {
    auto d = op("DescribeKey", {{"KeyId", ref}});
    ASSERT_EQ(d.status, 200u) << ref << " " << d.raw.body;
    EXPECT_EQ(d.body["KeyMetadata"].as_object()["KeyId"].as_string(), id);
  }
  auto tags = op("ListResourceTags", {{"KeyId", id}});
  EXPECT_EQ(tags.body["Tags"].as_array().size(), 1u);
  // Another region's ARN and an unknown id name nothing here.
  EXPECT_EQ(op("DescribeKey", {{"KeyId", "arn:aws:kms:eu-west-1:111122223333:key/" + id}}).type,
            "NotFoundException");
  auto missing = op("DescribeKey", {{"KeyId", "11111111-2222-4333-8444-555555555555"}});
  EXPECT_EQ(missing.type, "NotFoundException");
  EXPECT_EQ(missing.message,
            "Key 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-4333-8444-555555555555' does not exist");
  EXPECT_EQ(op("DescribeKey", {{"KeyId", "not-a-key"}}).message, "Invalid keyId 'not-a-key'");
  // "key/<id>" is an ARN's resource, not a KeyId form of its own.
  EXPECT_EQ(op("DescribeKey", {{"KeyId", "key/" + id}}).message, "Invalid keyId 'key/" + id + "'");
}

TEST_F(EmulatorTest, CreateKeyRejectsUnsupportedAndInvalidSpecs) {
  auto enum_err = op("CreateKey", {{"KeySpec", "RSA_1024"}});
  EXPECT_EQ(enum_err.type, "ValidationException");
  EXPECT_EQ(enum_err.message.rfind("1 validation error detected: Value 'RSA_1024' at 'keySpec' failed to satisfy "
                                   "constraint: Member must satisfy enum value set: [RSA_2048, ",
                                   0),
            0u);
  EXPECT_EQ(op("CreateKey", {{"KeySpec", "RSA_2048"}}).type, "ValidationException");  // KeyUsage required
  EXPECT_EQ(op("CreateKey", {{"KeySpec", "SYMMETRIC_DEFAULT"}, {"KeyUsage", "KEY_AGREEMENT"}}).type,
            "ValidationException");
  auto mac = op("CreateKey", {{"KeySpec", "HMAC_256"}, {"KeyUsage", "GENERATE_VERIFY_MAC"}});
  EXPECT_EQ(mac.type, "UnsupportedOperationException");
  EXPECT_NE(mac.message.find("GENERATE_VERIFY_MAC"), std::string::npos);
  EXPECT_EQ(op("CreateKey", {{"Origin", "EXTERNAL"}}).type, "UnsupportedOperationException");
  EXPECT_EQ(op("CreateKey", {{"Policy", "{not json"}}).type, "MalformedPolicyDocumentException");
}

TEST_F(EmulatorTest, EncryptDecryptRoundTripBindsEncryptionContext) {
  const std::string id = create_key_id();
  const json::object ec{{"purpose", "test"}, {"tenant", "a"}};
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("hello world")}, {"EncryptionContext", ec}});
  ASSERT_EQ(enc.status, 200u) << enc.raw.body;
  EXPECT_EQ(enc.body["KeyId"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + id);
  EXPECT_EQ(enc.body["EncryptionAlgorithm"].as_string(), "SYMMETRIC_DEFAULT");
  const std::string blob(enc.body["CiphertextBlob"].as_string());
  EXPECT_FALSE(enc.raw.sensitive_body);

  // Decrypt without KeyId: the blob names the key.
  auto dec = op("Decrypt", {{"CiphertextBlob", blob}, {"EncryptionContext", ec}});
  ASSERT_EQ(dec.status, 200u) << dec.raw.body;
  EXPECT_EQ(as_chars(unb64(dec.body, "Plaintext")), "hello world");
  EXPECT_EQ(dec.body["KeyId"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + id);
  EXPECT_TRUE(dec.raw.sensitive_body);

  // Any context difference fails authentication.
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}}).type, "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}, {"EncryptionContext", {{"purpose", "test"}}}}).type,
            "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob},
                           {"EncryptionContext", {{"purpose", "TEST"}, {"tenant", "a"}}}})
                .type,
            "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", b64("garbage that is not a blob")}}).type,
            "InvalidCiphertextException");
  // Naming another key: IncorrectKeyException.
  const std::string other = create_key_id();
  auto wrong = op("Decrypt", {{"CiphertextBlob", blob}, {"EncryptionContext", ec}, {"KeyId", other}});
  EXPECT_EQ(wrong.type, "IncorrectKeyException");
  // Naming the right key through its alias works.
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/k"}, {"TargetKeyId", id}}).status, 200u);
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}, {"EncryptionContext", ec}, {"KeyId", "alias/k"}}).status,
            200u);
}

TEST_F(EmulatorTest, DisabledAndPendingDeletionKeys) {
  const std::string id = create_key_id();
  const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + id;
  auto blob = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).body["CiphertextBlob"];
  ASSERT_EQ(op("DisableKey", {{"KeyId", id}}).status, 200u);
  auto d = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}});
  EXPECT_EQ(d.type, "DisabledException");
  EXPECT_EQ(d.message, arn + " is disabled.");
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}}).type, "DisabledException");
  EXPECT_EQ(op("DescribeKey", {{"KeyId", id}}).body["KeyMetadata"].as_object()["KeyState"].as_string(), "Disabled");
  ASSERT_EQ(op("EnableKey", {{"KeyId", id}}).status, 200u);
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}}).status, 200u);

  EXPECT_EQ(op("ScheduleKeyDeletion", {{"KeyId", id}, {"PendingWindowInDays", 3}}).type, "ValidationException");
  auto s = op("ScheduleKeyDeletion", {{"KeyId", id}, {"PendingWindowInDays", 7}});
  ASSERT_EQ(s.status, 200u) << s.raw.body;
  EXPECT_EQ(s.body["KeyState"].as_string(), "PendingDeletion");
  EXPECT_EQ(s.body["PendingWindowInDays"].as_int64(), 7);
  EXPECT_DOUBLE_EQ(s.body["DeletionDate"].to_number<double>(), 1700000000.0 + 7 * 86400);
  auto p = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}});
  EXPECT_EQ(p.type, "KMSInvalidStateException");
  EXPECT_EQ(p.message, arn + " is pending deletion.");
  EXPECT_EQ(op("EnableKey", {{"KeyId", id}}).type, "KMSInvalidStateException");
  // A new policy is taken in every key state (it may be what lets someone cancel).
  auto put = op("PutKeyPolicy", {{"KeyId", id}, {"PolicyName", "default"},
                                 {"Policy", op("GetKeyPolicy", {{"KeyId", id}}).body["Policy"]}});
  EXPECT_EQ(put.status, 200u) << put.raw.body;
  // Cancel leaves the key disabled, as KMS does.
  ASSERT_EQ(op("CancelKeyDeletion", {{"KeyId", id}}).status, 200u);
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).type, "DisabledException");
  // Once the window passes, the key is gone.
  ASSERT_EQ(op("ScheduleKeyDeletion", {{"KeyId", id}, {"PendingWindowInDays", 7}}).status, 200u);
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/doomed"}, {"TargetKeyId", id}}).type,
            "KMSInvalidStateException");
  clock_.advance(std::chrono::hours(24 * 7 + 1));
  EXPECT_EQ(op("DescribeKey", {{"KeyId", id}}).type, "NotFoundException");
  EXPECT_EQ(op("ListKeys", {}).body["Keys"].as_array().size(), 0u);
}

TEST_F(EmulatorTest, AliasesLifecycle) {
  const std::string a = create_key_id();
  const std::string b = create_key_id();
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/one"}, {"TargetKeyId", a}}).status, 200u);
  auto dup = op("CreateAlias", {{"AliasName", "alias/one"}, {"TargetKeyId", b}});
  EXPECT_EQ(dup.type, "AlreadyExistsException");
  EXPECT_EQ(dup.message, "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/one already exists");
  EXPECT_EQ(op("CreateAlias", {{"AliasName", "one"}, {"TargetKeyId", a}}).type, "ValidationException");
  EXPECT_EQ(op("CreateAlias", {{"AliasName", "alias/aws/x"}, {"TargetKeyId", a}}).type,
            "InvalidAliasNameException");
  EXPECT_EQ(op("CreateAlias", {{"AliasName", "alias/bad name"}, {"TargetKeyId", a}}).type, "ValidationException");
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/two"}, {"TargetKeyId", b}}).status, 200u);
  auto all = op("ListAliases", {});
  ASSERT_EQ(all.body["Aliases"].as_array().size(), 2u);
  auto first = all.body["Aliases"].as_array()[0].as_object();
  EXPECT_EQ(first["AliasName"].as_string(), "alias/one");
  EXPECT_EQ(first["AliasArn"].as_string(), "arn:aws:kms:us-east-1:111122223333:alias/one");
  EXPECT_EQ(first["TargetKeyId"].as_string(), a);
  auto of_b = op("ListAliases", {{"KeyId", b}});
  ASSERT_EQ(of_b.body["Aliases"].as_array().size(), 1u);
  auto page = op("ListAliases", {{"Limit", 1}});
  EXPECT_TRUE(page.body["Truncated"].as_bool());
  auto next = op("ListAliases", {{"Limit", 1}, {"Marker", page.body["NextMarker"]}});
  EXPECT_EQ(next.body["Aliases"].as_array()[0].as_object()["AliasName"].as_string(), "alias/two");
  EXPECT_EQ(op("ListAliases", {{"Marker", "nope"}}).type, "InvalidMarkerException");
  ASSERT_EQ(op("UpdateAlias", {{"AliasName", "alias/one"}, {"TargetKeyId", b}}).status, 200u);
  EXPECT_EQ(op("DescribeKey", {{"KeyId", "alias/one"}}).body["KeyMetadata"].as_object()["KeyId"].as_string(), b);
  ASSERT_EQ(op("DeleteAlias", {{"AliasName", "alias/one"}}).status, 200u);
  EXPECT_EQ(op("DeleteAlias", {{"AliasName", "alias/one"}}).type, "NotFoundException");
  EXPECT_EQ(op("Encrypt", {{"KeyId", "alias/one"}, {"Plaintext", b64("x")}}).type, "NotFoundException");
}

TEST_F(EmulatorTest, ListKeysPaginates) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(create_key_id());
    clock_.advance(std::chrono::milliseconds(1));
  }
  auto p1 = op("ListKeys", {{"Limit", 2}});
  ASSERT_EQ(p1.body["Keys"].as_array().size(), 2u);
  EXPECT_TRUE(p1.body["Truncated"].as_bool());
  EXPECT_EQ(p1.body["Keys"].as_array()[0].as_object()["KeyId"].as_string(), ids[0]);
  auto p2 = op("ListKeys", {{"Limit", 2}, {"Marker", p1.body["NextMarker"]}});
  ASSERT_EQ(p2.body["Keys"].as_array().size(), 1u);
  EXPECT_FALSE(p2.body["Truncated"].as_bool());
  EXPECT_FALSE(p2.body.contains("NextMarker"));
  EXPECT_EQ(p2.body["Keys"].as_array()[0].as_object()["KeyArn"].as_string(),
            "arn:aws:kms:us-east-1:111122223333:key/" + ids[2]);
  EXPECT_EQ(op("ListKeys", {{"Limit", 0}}).type, "ValidationException");
}

TEST_F(EmulatorTest, ReEncryptMovesBetweenKeysAndContexts) {
  const std::string a = create_key_id();
  const std::string b = create_key_id();
  auto enc = op("Encrypt", {{"KeyId", a}, {"Plaintext", b64("secret")}, {"EncryptionContext", {{"k", "1"}}}});
  auto re = op("ReEncrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]},
                             {"SourceEncryptionContext", {{"k", "1"}}},
                             {"DestinationKeyId", b},
                             {"DestinationEncryptionContext", {{"k", "2"}}}});
  ASSERT_EQ(re.status, 200u) << re.raw.body;
  EXPECT_EQ(re.body["SourceKeyId"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + a);
  EXPECT_EQ(re.body["KeyId"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + b);
  EXPECT_FALSE(re.body.contains("Plaintext"));
  auto dec = op("Decrypt", {{"CiphertextBlob", re.body["CiphertextBlob"]}, {"EncryptionContext", {{"k", "2"}}}});
  ASSERT_EQ(dec.status, 200u);
  EXPECT_EQ(as_chars(unb64(dec.body, "Plaintext")), "secret");
}

TEST_F(EmulatorTest, GenerateDataKeyVariants) {
  const std::string id = create_key_id();
  auto dk = op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}, {"EncryptionContext", {{"a", "b"}}}});
  ASSERT_EQ(dk.status, 200u) << dk.raw.body;
  const Bytes plain = unb64(dk.body, "Plaintext");
  EXPECT_EQ(plain.size(), 32u);
  EXPECT_TRUE(dk.raw.sensitive_body);
  auto dec = op("Decrypt", {{"CiphertextBlob", dk.body["CiphertextBlob"]}, {"EncryptionContext", {{"a", "b"}}}});
  EXPECT_EQ(unb64(dec.body, "Plaintext"), plain);
  EXPECT_EQ(unb64(op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_128"}}).body, "Plaintext").size(), 16u);
  EXPECT_EQ(unb64(op("GenerateDataKey", {{"KeyId", id}, {"NumberOfBytes", 64}}).body, "Plaintext").size(), 64u);
  auto both = op("GenerateDataKey", {{"KeyId", id}, {"NumberOfBytes", 64}, {"KeySpec", "AES_256"}});
  EXPECT_EQ(both.type, "ValidationException");
  EXPECT_EQ(op("GenerateDataKey", {{"KeyId", id}}).type, "ValidationException");
  auto np = op("GenerateDataKeyWithoutPlaintext", {{"KeyId", id}, {"KeySpec", "AES_256"}});
  ASSERT_EQ(np.status, 200u);
  EXPECT_FALSE(np.body.contains("Plaintext"));
  EXPECT_FALSE(np.raw.sensitive_body);
  EXPECT_EQ(unb64(op("Decrypt", {{"CiphertextBlob", np.body["CiphertextBlob"]}}).body, "Plaintext").size(), 32u);
}

// KeyMaterialId (symmetric keys only): DescribeKey's CurrentKeyMaterialId is
// what Decrypt, GenerateDataKey*, GenerateDataKeyPair* and ReEncrypt report.
TEST_F(EmulatorTest, SymmetricKeysReportTheirKeyMaterialId) {
  const std::string a = create_key_id();
  const std::string b = create_key_id();
  auto describe = [&](const std::string& id) {
    auto d = op("DescribeKey", {{"KeyId", id}});
    EXPECT_EQ(d.status, 200u) << d.raw.body;
    const auto& md = d.body["KeyMetadata"].as_object();
    return md.contains("CurrentKeyMaterialId") ? std::string(md.at("CurrentKeyMaterialId").as_string())
                                               : std::string();
  };
  const std::string id_a = describe(a);
  const std::string id_b = describe(b);
  ASSERT_EQ(id_a.size(), 64u);
  EXPECT_EQ(id_a.find_first_not_of("0123456789abcdef"), std::string::npos) << id_a;
  EXPECT_NE(id_a, id_b);

  auto enc = op("Encrypt", {{"KeyId", a}, {"Plaintext", b64("material")}});
  ASSERT_EQ(enc.status, 200u) << enc.raw.body;
  EXPECT_FALSE(enc.body.contains("KeyMaterialId"));  // not in EncryptResponse
  auto dec = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}});
  ASSERT_EQ(dec.status, 200u) << dec.raw.body;
  EXPECT_EQ(dec.body["KeyMaterialId"].as_string(), id_a);

  for (const char* name : {"GenerateDataKey", "GenerateDataKeyWithoutPlaintext"}) {
    auto dk = op(name, {{"KeyId", a}, {"KeySpec", "AES_256"}});
    ASSERT_EQ(dk.status, 200u) << dk.raw.body;
    EXPECT_EQ(dk.body["KeyMaterialId"].as_string(), id_a) << name;
  }
  for (const char* name : {"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}) {
    auto kp = op(name, {{"KeyId", b}, {"KeyPairSpec", "ECC_NIST_P256"}});
    ASSERT_EQ(kp.status, 200u) << kp.raw.body;
    EXPECT_EQ(kp.body["KeyMaterialId"].as_string(), id_b) << name;
  }
  auto re = op("ReEncrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}, {"DestinationKeyId", b}});
  ASSERT_EQ(re.status, 200u) << re.raw.body;
  EXPECT_EQ(re.body["SourceKeyMaterialId"].as_string(), id_a);
  EXPECT_EQ(re.body["DestinationKeyMaterialId"].as_string(), id_b);

  // Asymmetric keys have none, in their metadata or their Decrypt.
  const std::string rsa = create_key_id({{"KeySpec", "RSA_2048"}, {"KeyUsage", "ENCRYPT_DECRYPT"}});
  EXPECT_EQ(describe(rsa), "");
  auto rsa_enc =
      op("Encrypt", {{"KeyId", rsa}, {"Plaintext", b64("x")}, {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}});
  ASSERT_EQ(rsa_enc.status, 200u) << rsa_enc.raw.body;
  auto rsa_dec = op("Decrypt", {{"KeyId", rsa},
                                {"CiphertextBlob", rsa_enc.body["CiphertextBlob"]},
                                {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}});
  ASSERT_EQ(rsa_dec.status, 200u) << rsa_dec.raw.body;
  EXPECT_FALSE(rsa_dec.body.contains("KeyMaterialId"));
  auto to_rsa = op("ReEncrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]},
                                 {"DestinationKeyId", rsa},
                                 {"DestinationEncryptionAlgorithm", "RSAES_OAEP_SHA_256"}});
  ASSERT_EQ(to_rsa.status, 200u) << to_rsa.raw.body;
  EXPECT_EQ(to_rsa.body["SourceKeyMaterialId"].as_string(), id_a);
  EXPECT_FALSE(to_rsa.body.contains("DestinationKeyMaterialId"));

  // Stable across a restart (derived from the stored material).
  reopen();
  EXPECT_EQ(describe(a), id_a);
}

// Read-only views of features the emulator does not have: no key rotates and
// no grant exists, so tools that read them (Terraform's aws_kms_key does) work.
TEST_F(EmulatorTest, RotationStatusAndGrantsAreReadable) {
  const std::string sym = create_key_id();
  auto st = op("GetKeyRotationStatus", {{"KeyId", sym}});
  ASSERT_EQ(st.status, 200u) << st.raw.body;
  EXPECT_FALSE(st.body["KeyRotationEnabled"].as_bool());
  EXPECT_EQ(st.body["KeyId"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + sym);
  const std::string ecc = create_key_id({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "KEY_AGREEMENT"}});
  EXPECT_EQ(op("GetKeyRotationStatus", {{"KeyId", ecc}}).type, "UnsupportedOperationException");
  EXPECT_EQ(op("GetKeyRotationStatus", {{"KeyId", "alias/none"}}).type, "NotFoundException");
  EXPECT_EQ(op("EnableKeyRotation", {{"KeyId", sym}}).type, "UnsupportedOperationException");

  auto grants = op("ListGrants", {{"KeyId", sym}});
  ASSERT_EQ(grants.status, 200u) << grants.raw.body;
  EXPECT_TRUE(grants.body["Grants"].as_array().empty());
  EXPECT_FALSE(grants.body["Truncated"].as_bool());
  EXPECT_EQ(op("ListGrants", {{"KeyId", sym}, {"Marker", "m"}}).type, "InvalidMarkerException");
  EXPECT_EQ(op("ListGrants", {}).type, "ValidationException");
}

TEST_F(EmulatorTest, GenerateDataKeyPairReturnsMatchingKeys) {
  const std::string id = create_key_id();
  for (const char* spec : {"ECC_NIST_P256", "RSA_2048"}) {
    auto kp = op("GenerateDataKeyPair", {{"KeyId", id}, {"KeyPairSpec", spec}});
    ASSERT_EQ(kp.status, 200u) << kp.raw.body;
    EXPECT_EQ(kp.body["KeyPairSpec"].as_string(), spec);
    const Bytes priv = unb64(kp.body, "PrivateKeyPlaintext");
    auto pub = crypto::public_key_of(priv);
    ASSERT_TRUE(pub);
    EXPECT_EQ(*pub, unb64(kp.body, "PublicKey"));
    auto dec = op("Decrypt", {{"CiphertextBlob", kp.body["PrivateKeyCiphertextBlob"]}});
    EXPECT_EQ(unb64(dec.body, "Plaintext"), priv);
  }
  auto np = op("GenerateDataKeyPairWithoutPlaintext", {{"KeyId", id}, {"KeyPairSpec", "ECC_NIST_P384"}});
  ASSERT_EQ(np.status, 200u);
  EXPECT_FALSE(np.body.contains("PrivateKeyPlaintext"));
  EXPECT_FALSE(unb64(np.body, "PublicKey").empty());
  EXPECT_EQ(op("GenerateDataKeyPair", {{"KeyId", id}, {"KeyPairSpec", "SM2"}}).type,
            "UnsupportedOperationException");
}

TEST_F(EmulatorTest, RsaEncryptDecryptKeys) {
  auto md = create_key({{"KeySpec", "RSA_2048"}, {"KeyUsage", "ENCRYPT_DECRYPT"}});
  const std::string id(md["KeyId"].as_string());
  EXPECT_EQ(md["EncryptionAlgorithms"].as_array().size(), 2u);
  auto pk = op("GetPublicKey", {{"KeyId", id}});
  ASSERT_EQ(pk.status, 200u);
  EXPECT_EQ(pk.body["KeySpec"].as_string(), "RSA_2048");
  EXPECT_EQ(unb64(pk.body, "PublicKey").size(), 294u);
  for (const char* alg : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}) {
    auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("rsa data")}, {"EncryptionAlgorithm", alg}});
    ASSERT_EQ(enc.status, 200u) << enc.raw.body;
    EXPECT_EQ(unb64(enc.body, "CiphertextBlob").size(), 256u);
    auto dec = op("Decrypt",
                  {{"KeyId", id}, {"CiphertextBlob", enc.body["CiphertextBlob"]}, {"EncryptionAlgorithm", alg}});
    ASSERT_EQ(dec.status, 200u) << dec.raw.body;
    EXPECT_EQ(as_chars(unb64(dec.body, "Plaintext")), "rsa data");
    EXPECT_EQ(dec.body["EncryptionAlgorithm"].as_string(), alg);
  }
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).type, "InvalidKeyUsageException");
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64(std::string(191, 'x'))},
                           {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}})
                .type,
            "ValidationException");
  EXPECT_EQ(op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}}).type, "InvalidKeyUsageException");
  const std::string sym = create_key_id();
  EXPECT_EQ(op("GetPublicKey", {{"KeyId", sym}}).type, "UnsupportedOperationException");
}

TEST_F(EmulatorTest, DeriveSharedSecretMatchesPeerEcdh) {
  auto md = create_key({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "KEY_AGREEMENT"}});
  const std::string id(md["KeyId"].as_string());
  EXPECT_EQ(md["KeyAgreementAlgorithms"].as_array()[0].as_string(), "ECDH");
  auto peer = crypto::generate_key_pair(crypto::KeyPairSpec::kEccNistP256);
  ASSERT_TRUE(peer);
  auto d = op("DeriveSharedSecret",
              {{"KeyId", id}, {"KeyAgreementAlgorithm", "ECDH"}, {"PublicKey", b64(peer->public_key_spki)}});
  ASSERT_EQ(d.status, 200u) << d.raw.body;
  EXPECT_EQ(d.body["KeyOrigin"].as_string(), "AWS_KMS");
  const Bytes kms_pub = unb64(op("GetPublicKey", {{"KeyId", id}}).body, "PublicKey");
  auto expected = crypto::ecdh_derive(peer->private_key_pkcs8.view(), kms_pub);
  ASSERT_TRUE(expected);
  EXPECT_TRUE(expected->equals(unb64(d.body, "SharedSecret")));
  auto p384 = crypto::generate_key_pair(crypto::KeyPairSpec::kEccNistP384);
  EXPECT_EQ(op("DeriveSharedSecret",
               {{"KeyId", id}, {"KeyAgreementAlgorithm", "ECDH"}, {"PublicKey", b64(p384->public_key_spki)}})
                .type,
            "ValidationException");
  // DryRun runs the same checks: a good public key gets 412, a wrong one the error.
  EXPECT_EQ(op("DeriveSharedSecret", {{"KeyId", id},
                                      {"KeyAgreementAlgorithm", "ECDH"},
                                      {"PublicKey", b64(peer->public_key_spki)},
                                      {"DryRun", true}})
                .type,
            "DryRunOperationException");
  EXPECT_EQ(op("DeriveSharedSecret", {{"KeyId", id},
                                      {"KeyAgreementAlgorithm", "ECDH"},
                                      {"PublicKey", b64(p384->public_key_spki)},
                                      {"DryRun", true}})
                .type,
            "ValidationException");
  const std::string sym = create_key_id();
  EXPECT_EQ(op("DeriveSharedSecret",
               {{"KeyId", sym}, {"KeyAgreementAlgorithm", "ECDH"}, {"PublicKey", b64(peer->public_key_spki)}})
                .type,
            "InvalidKeyUsageException");
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).type, "InvalidKeyUsageException");
}

TEST_F(EmulatorTest, GenerateRandomAndValidationErrors) {
  auto r = op("GenerateRandom", {{"NumberOfBytes", 1024}});
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(unb64(r.body, "Plaintext").size(), 1024u);
  auto big = op("GenerateRandom", {{"NumberOfBytes", 1025}});
  EXPECT_EQ(big.status, 400u);
  EXPECT_EQ(big.type, "ValidationException");
  EXPECT_EQ(big.message,
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must "
            "have value less than or equal to 1024");
  EXPECT_EQ(op("GenerateRandom", {}).type, "ValidationException");
  auto missing = op("Encrypt", {{"Plaintext", b64("x")}});
  EXPECT_EQ(missing.message,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be "
            "null");
}

TEST_F(EmulatorTest, ProtocolErrors) {
  auto unknown = op("Frobnicate", {});
  EXPECT_EQ(unknown.type, "UnknownOperationException");
  auto unsupported = op("GenerateMac", {{"KeyId", "k"}, {"Message", b64("m")}, {"MacAlgorithm", "HMAC_SHA_256"}});
  EXPECT_EQ(unsupported.type, "UnsupportedOperationException");
  EXPECT_EQ(unsupported.message, "kms-emulator does not implement GenerateMac");
  HttpRequest bad = testing::kms_request("ListKeys", {});
  bad.body = "{not json";
  EXPECT_EQ(testing::parse_answer(emu_->handle(bad)).type, "SerializationException");
  bad.body = "[]";
  EXPECT_EQ(testing::parse_answer(emu_->handle(bad)).type, "SerializationException");
  HttpRequest empty = testing::kms_request("ListKeys", {});
  empty.body.clear();
  EXPECT_EQ(testing::parse_answer(emu_->handle(empty)).status, 200u);
  HttpRequest no_target = testing::kms_request("ListKeys", {});
  no_target.headers.erase("X-Amz-Target");
  EXPECT_EQ(testing::parse_answer(emu_->handle(no_target)).type, "UnknownOperationException");
  EXPECT_EQ(op("GenerateRandom", {{"NumberOfBytes", "12"}}).type, "SerializationException");
}

TEST_F(EmulatorTest, DryRunAnswersDryRunOperationException) {
  const std::string id = create_key_id();
  auto d = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}, {"DryRun", true}});
  EXPECT_EQ(d.status, 412u);
  EXPECT_EQ(d.type, "DryRunOperationException");
  EXPECT_EQ(op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}, {"DryRun", true}}).status, 412u);
  // IGNORE_CIPHERTEXT: authorization only; any blob, but KeyId is required.
  const json::array ignore{"IGNORE_CIPHERTEXT"};
  EXPECT_EQ(op("Decrypt", {{"KeyId", id}, {"CiphertextBlob", b64("junk")}, {"DryRun", true},
                           {"DryRunModifiers", ignore}})
                .status,
            412u);
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", b64("junk")}, {"DryRun", true}, {"DryRunModifiers", ignore}}).type,
            "ValidationException");
  EXPECT_EQ(op("Decrypt", {{"KeyId", id}, {"CiphertextBlob", b64("junk")}, {"DryRun", true}}).type,
            "InvalidCiphertextException");
  // Nothing was done: a dry-run CreateKey does not exist in the model, so count keys.
  EXPECT_EQ(op("ListKeys", {}).body["Keys"].as_array().size(), 1u);
}

TEST_F(EmulatorTest, KeyPoliciesAreStoredAndEnforced) {
  const std::string id = create_key_id();
  auto get = op("GetKeyPolicy", {{"KeyId", id}});
  ASSERT_EQ(get.status, 200u);
  EXPECT_NE(std::string(get.body["Policy"].as_string()).find("arn:aws:iam::111122223333:root"), std::string::npos);
  EXPECT_EQ(op("ListKeyPolicies", {{"KeyId", id}}).body["PolicyNames"].as_array()[0].as_string(), "default");
  // A policy that would lock the caller out is refused unless bypassed.
  const std::string deny_all = R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:DescribeKey","Resource":"*"}]})";
  auto lock = op("PutKeyPolicy", {{"KeyId", id}, {"Policy", deny_all}});
  EXPECT_EQ(lock.type, "MalformedPolicyDocumentException");
  EXPECT_EQ(lock.message, "The new key policy will not allow you to update the key policy in the future.");
  ASSERT_EQ(op("PutKeyPolicy", {{"KeyId", id}, {"Policy", deny_all}, {"BypassPolicyLockoutSafetyCheck", true}})
                .status,
            200u);
  EXPECT_EQ(op("DescribeKey", {{"KeyId", id}}).status, 200u);
  auto denied = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}});
  EXPECT_EQ(denied.type, "AccessDeniedException");
  EXPECT_EQ(denied.message,
            "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: "
            "arn:aws:kms:us-east-1:111122223333:key/" + id + " because no resource-based policy allows the kms:Encrypt action");
  EXPECT_EQ(op("PutKeyPolicy", {{"KeyId", id}, {"Policy", deny_all}}).type, "AccessDeniedException");
}

// AWS's documented guard against bypassing the lockout check works: the
// request carries kms:BypassPolicyLockoutSafetyCheck. The lockout check
// itself sees the key's own condition keys, so an admin statement gated on
// kms:KeySpec does not count as a lock-out. Over the 32 KB quota:
// LimitExceededException.
TEST_F(EmulatorTest, LockoutCheckAndItsBypassSeeTheRequestsKeys) {
  const std::string guarded = R"({"Version":"2012-10-17","Statement":[
      {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*",
       "Resource":"*","Condition":{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}},
      {"Sid":"NoBypass","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
       "Action":"kms:PutKeyPolicy","Resource":"*","Condition":{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}}]})";
  const std::string id = create_key_id({{"Policy", guarded}});  // passes the lockout check
  auto bypass = op("PutKeyPolicy", {{"KeyId", id}, {"Policy", guarded}, {"BypassPolicyLockoutSafetyCheck", true}});
  EXPECT_EQ(bypass.type, "AccessDeniedException");
  EXPECT_NE(bypass.message.find("with an explicit deny"), std::string::npos) << bypass.message;
  EXPECT_EQ(op("PutKeyPolicy", {{"KeyId", id}, {"Policy", guarded}}).status, 200u);

  std::string big = R"({"Version":"2012-10-17","Statement":[{"Sid":")" + std::string(33000, 'x') +
                    R"(","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*",)"
                    R"("Resource":"*"}]})";
  EXPECT_EQ(op("PutKeyPolicy", {{"KeyId", id}, {"Policy", big}}).type, "LimitExceededException");
  EXPECT_EQ(op("CreateKey", {{"Policy", big}}).type, "LimitExceededException");
}

TEST_F(EmulatorTest, EncryptionContextConditionsAndExplicitDeny) {
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
      {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
      {"Sid":"DenyWithoutTenant","Effect":"Deny","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
       "Condition":{"Null":{"kms:EncryptionContext:tenant":"true"}}}]})";
  const std::string id = create_key_id({{"Policy", policy}});
  auto denied = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}});
  EXPECT_EQ(denied.type, "AccessDeniedException");
  EXPECT_NE(denied.message.find("with an explicit deny in a resource-based policy"), std::string::npos);
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}, {"EncryptionContext", {{"tenant", "a"}}}}).status,
            200u);
}

TEST_F(EmulatorTest, CallerAccountAndEncryptionContextKeysConditions) {
  // kms:CallerAccount must match, kms:ViaService is absent (direct call), and
  // the context must use only the listed keys.
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
      {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:PutKeyPolicy","kms:DescribeKey"],
       "Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}},
      {"Sid":"Use","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*",
       "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"},"Null":{"kms:ViaService":"true"},
                    "ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","purpose"]}}}]})";
  const std::string id = create_key_id({{"Policy", policy}});
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}, {"EncryptionContext", {{"tenant", "a"}}}}).status,
            200u);
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}, {"EncryptionContext", {{"other", "a"}}}}).type,
            "AccessDeniedException");
  // The same policy with another account in the condition denies this caller.
  std::string other = policy;
  other.replace(other.rfind("111122223333"), 12, "999999999999");
  ASSERT_EQ(op("PutKeyPolicy", {{"KeyId", id}, {"Policy", other}}).status, 200u);
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).type, "AccessDeniedException");
}

TEST_F(EmulatorTest, TypedConditionsSeeDeletionWindowTimeAndTransport) {
  // Two guards production key policies carry: a minimum deletion window
  // (NumericGreaterThanEquals) and an expiry for a grant of use
  // (DateLessThan on aws:CurrentTime, here against the pinned clock).
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
      {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
       "Action":["kms:Create*","kms:Describe*","kms:Put*","kms:Encrypt"],"Resource":"*",
       "Condition":{"DateLessThan":{"aws:CurrentTime":"2023-11-15T00:00:00Z"},
                    "Bool":{"aws:SecureTransport":"false"}}},
      {"Sid":"Deletion","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
       "Action":"kms:ScheduleKeyDeletion","Resource":"*",
       "Condition":{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"21"}}}]})";
  const std::string id = create_key_id({{"Policy", policy}});
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).status, 200u);
  auto short_window = op("ScheduleKeyDeletion", {{"KeyId", id}, {"PendingWindowInDays", 7}});
  EXPECT_EQ(short_window.type, "AccessDeniedException") << short_window.raw.body;
  // Past the date in the policy (kStartMs is 2023-11-14T22:13:20Z) the Allow no longer applies.
  clock_.advance(std::chrono::hours(2));
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).type, "AccessDeniedException");
  EXPECT_EQ(op("ScheduleKeyDeletion", {{"KeyId", id}, {"PendingWindowInDays", 21}}).status, 200u);
}

TEST_F(EmulatorTest, StateSurvivesReopen) {
  const std::string id = create_key_id({{"Description", "durable"}});
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/durable"}, {"TargetKeyId", id}}).status, 200u);
  auto rsa = create_key({{"KeySpec", "RSA_3072"}, {"KeyUsage", "ENCRYPT_DECRYPT"}});
  auto enc = op("Encrypt", {{"KeyId", "alias/durable"}, {"Plaintext", b64("kept")}});
  auto renc = op("Encrypt", {{"KeyId", rsa["KeyId"]}, {"Plaintext", b64("kept")},
                             {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}});
  ASSERT_EQ(op("DisableKey", {{"KeyId", rsa["KeyId"]}}).status, 200u);
  reopen();
  auto dec = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}});
  ASSERT_EQ(dec.status, 200u) << dec.raw.body;
  EXPECT_EQ(as_chars(unb64(dec.body, "Plaintext")), "kept");
  EXPECT_EQ(op("DescribeKey", {{"KeyId", "alias/durable"}}).body["KeyMetadata"].as_object()["Description"].as_string(),
            "durable");
  EXPECT_EQ(op("Decrypt", {{"KeyId", rsa["KeyId"]}, {"CiphertextBlob", renc.body["CiphertextBlob"]},
                           {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}})
                .type,
            "DisabledException");
  ASSERT_EQ(op("EnableKey", {{"KeyId", rsa["KeyId"]}}).status, 200u);
  EXPECT_EQ(as_chars(unb64(op("Decrypt", {{"KeyId", rsa["KeyId"]}, {"CiphertextBlob", renc.body["CiphertextBlob"]},
                                          {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}})
                               .body,
                           "Plaintext")),
            "kept");
}

}  // namespace
}  // namespace kp::emulator
