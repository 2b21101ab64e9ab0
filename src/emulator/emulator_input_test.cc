// Request-input edge cases on the pure core: missing CiphertextBlob, DryRun
// (with and without IGNORE_CIPHERTEXT) validating what KMS validates, null
// list elements and map values, and alias name / target rules.
#include "emulator/emulator.h"

#include <gtest/gtest.h>

#include "emulator/test_support.h"

namespace kp::emulator {
namespace {

namespace json = boost::json;
using testing::Answer;
using testing::b64;
using testing::call;

constexpr std::string_view kArnPrefix = "arn:aws:kms:us-east-1:111122223333:key/";
constexpr std::string_view kMissingBlob =
    "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be "
    "null";

class EmulatorInputTest : public testing::EmulatorFixture {
 protected:
  Answer raw(std::string_view name, std::string body) {
    HttpRequest r = testing::kms_request(name, {});
    r.body = std::move(body);
    return testing::parse_answer(emu_->handle(r));
  }

  // A key whose policy allows everything except `denied` (lockout check bypassed).
  std::string key_denying(std::string_view denied) {
    const std::string policy = R"({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":")" +
                               std::string(denied) + R"(","Resource":"*"}]})";
    return create_key_id({{"Policy", policy}, {"BypassPolicyLockoutSafetyCheck", true}});
  }
};

const json::array kIgnore{"IGNORE_CIPHERTEXT"};

TEST_F(EmulatorInputTest, DecryptWithoutCiphertextBlobIsAValidationError) {
  const std::string id = create_key_id();
  for (const json::object& body : {json::object{}, json::object{{"KeyId", id}},
                                   json::object{{"KeyId", id}, {"DryRun", true}},
                                   json::object{{"KeyId", id}, {"DryRun", false}, {"DryRunModifiers", kIgnore}},
                                   json::object{{"KeyId", id}, {"CiphertextBlob", nullptr}}}) {
    auto a = op("Decrypt", body);
    EXPECT_EQ(a.status, 400u) << json::serialize(body);
    EXPECT_EQ(a.type, "ValidationException") << json::serialize(body);
    EXPECT_EQ(a.message, kMissingBlob) << json::serialize(body);
  }
  // DryRun + IGNORE_CIPHERTEXT needs no blob, but does need KeyId.
  EXPECT_EQ(op("Decrypt", {{"KeyId", id}, {"DryRun", true}, {"DryRunModifiers", kIgnore}}).status, 412u);
  auto no_key = op("Decrypt", {{"DryRun", true}, {"DryRunModifiers", kIgnore}});
  EXPECT_EQ(no_key.type, "ValidationException");
  EXPECT_NE(no_key.message.find("KeyId is required"), std::string::npos) << no_key.message;
}

TEST_F(EmulatorInputTest, ReEncryptWithoutCiphertextBlobIsAValidationError) {
  const std::string a = create_key_id();
  const std::string b = create_key_id();
  for (const json::object& body :
       {json::object{{"DestinationKeyId", b}}, json::object{{"SourceKeyId", a}, {"DestinationKeyId", b}},
        json::object{{"SourceKeyId", a}, {"DestinationKeyId", b}, {"DryRun", true}}}) {
    auto r = op("ReEncrypt", body);
    EXPECT_EQ(r.status, 400u) << json::serialize(body);
    EXPECT_EQ(r.type, "ValidationException") << json::serialize(body);
    EXPECT_EQ(r.message, kMissingBlob) << json::serialize(body);
  }
  EXPECT_EQ(op("ReEncrypt", {{"SourceKeyId", a}, {"DestinationKeyId", b}, {"DryRun", true},
                             {"DryRunModifiers", kIgnore}})
                .status,
            412u);
  EXPECT_EQ(op("ReEncrypt", {{"DestinationKeyId", b}, {"DryRun", true}, {"DryRunModifiers", kIgnore}}).type,
            "ValidationException");
}

TEST_F(EmulatorInputTest, IgnoreCiphertextStillChecksAuthorizationOfKeyId) {
  const std::string no_decrypt = key_denying("kms:Decrypt");
  auto denied = op("Decrypt", {{"KeyId", no_decrypt}, {"DryRun", true}, {"DryRunModifiers", kIgnore}});
  EXPECT_EQ(denied.type, "AccessDeniedException") << denied.raw.body;
  EXPECT_NE(denied.message.find("kms:Decrypt on resource: " + std::string(kArnPrefix) + no_decrypt),
            std::string::npos);
  EXPECT_EQ(op("Decrypt", {{"KeyId", "11111111-2222-4333-8444-555555555555"}, {"DryRun", true},
                           {"DryRunModifiers", kIgnore}})
                .type,
            "NotFoundException");
  const std::string no_from = key_denying("kms:ReEncryptFrom");
  const std::string dest = create_key_id();
  EXPECT_EQ(op("ReEncrypt", {{"SourceKeyId", no_from}, {"DestinationKeyId", dest}, {"DryRun", true},
                             {"DryRunModifiers", kIgnore}})
                .type,
            "AccessDeniedException");
  // The destination side is authorized too.
  const std::string no_to = key_denying("kms:ReEncryptTo");
  EXPECT_EQ(op("ReEncrypt", {{"SourceKeyId", dest}, {"DestinationKeyId", no_to}, {"DryRun", true},
                             {"DryRunModifiers", kIgnore}})
                .type,
            "AccessDeniedException");
}

TEST_F(EmulatorInputTest, DryRunDecryptValidatesCiphertextAndContext) {
  const std::string id = create_key_id();
  const json::object ec{{"tenant", "a"}};
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("dry")}, {"EncryptionContext", ec}});
  ASSERT_EQ(enc.status, 200u) << enc.raw.body;
  const json::value blob = enc.body["CiphertextBlob"];
  Bytes tampered_bytes = testing::unb64(enc.body, "CiphertextBlob");
  tampered_bytes.back() ^= 0x01;
  const std::string tampered = b64(tampered_bytes);

  auto ok = op("Decrypt", {{"CiphertextBlob", blob}, {"EncryptionContext", ec}, {"DryRun", true}});
  EXPECT_EQ(ok.status, 412u) << ok.raw.body;
  EXPECT_EQ(ok.type, "DryRunOperationException");
  EXPECT_FALSE(ok.body.contains("Plaintext"));

  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}, {"EncryptionContext", {{"tenant", "b"}}}, {"DryRun", true}})
                .type,
            "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", blob}, {"DryRun", true}}).type, "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"CiphertextBlob", tampered}, {"EncryptionContext", ec}, {"DryRun", true}}).type,
            "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"KeyId", id}, {"CiphertextBlob", tampered}, {"EncryptionContext", ec},
                           {"DryRun", true}})
                .type,
            "InvalidCiphertextException");
  EXPECT_EQ(op("Decrypt", {{"KeyId", create_key_id()}, {"CiphertextBlob", blob}, {"EncryptionContext", ec},
                           {"DryRun", true}})
                .type,
            "IncorrectKeyException");
  // IGNORE_CIPHERTEXT: authorization only, so the same bad requests pass.
  EXPECT_EQ(op("Decrypt", {{"KeyId", id}, {"CiphertextBlob", tampered}, {"EncryptionContext", ec},
                           {"DryRun", true}, {"DryRunModifiers", kIgnore}})
                .status,
            412u);
  EXPECT_EQ(op("Decrypt", {{"KeyId", id}, {"CiphertextBlob", blob}, {"EncryptionContext", {{"tenant", "b"}}},
                           {"DryRun", true}, {"DryRunModifiers", kIgnore}})
                .status,
            412u);
}

TEST_F(EmulatorInputTest, DryRunDecryptValidatesRsaCiphertext) {
  auto rsa = op("CreateKey", {{"KeySpec", "RSA_2048"}, {"KeyUsage", "ENCRYPT_DECRYPT"}});
  ASSERT_EQ(rsa.status, 200u) << rsa.raw.body;
  const json::value id = rsa.body["KeyMetadata"].as_object()["KeyId"];
  const json::object base{{"KeyId", id}, {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}, {"DryRun", true}};
  json::object junk = base;
  junk["CiphertextBlob"] = b64(std::string(256, 'j'));
  EXPECT_EQ(op("Decrypt", junk).type, "InvalidCiphertextException");
  junk["DryRunModifiers"] = kIgnore;
  EXPECT_EQ(op("Decrypt", junk).status, 412u);
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("r")}, {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}});
  ASSERT_EQ(enc.status, 200u);
  json::object good = base;
  good["CiphertextBlob"] = enc.body["CiphertextBlob"];
  EXPECT_EQ(op("Decrypt", good).status, 412u);
  // A DryRun Encrypt checks the plaintext fits the key, as the real one does.
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64(std::string(191, 'x'))},
                           {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}, {"DryRun", true}})
                .type,
            "ValidationException");
  EXPECT_EQ(op("Encrypt", {{"KeyId", id}, {"Plaintext", b64(std::string(190, 'x'))},
                           {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}, {"DryRun", true}})
                .status,
            412u);
}

TEST_F(EmulatorInputTest, DryRunReEncryptValidatesSourceCiphertextAndContext) {
  const std::string a = create_key_id();
  const std::string b = create_key_id();
  const json::object ec{{"k", "1"}};
  auto enc = op("Encrypt", {{"KeyId", a}, {"Plaintext", b64("re")}, {"EncryptionContext", ec}});
  ASSERT_EQ(enc.status, 200u);
  Bytes tampered_bytes = testing::unb64(enc.body, "CiphertextBlob");
  tampered_bytes[tampered_bytes.size() / 2] ^= 0x80;
  const std::string tampered = b64(tampered_bytes);
  const json::object base{{"DestinationKeyId", b}, {"DryRun", true}};

  json::object good = base;
  good["CiphertextBlob"] = enc.body["CiphertextBlob"];
  good["SourceEncryptionContext"] = ec;
  EXPECT_EQ(op("ReEncrypt", good).status, 412u);
  json::object wrong_ec = good;
  wrong_ec["SourceEncryptionContext"] = json::object{{"k", "2"}};
  EXPECT_EQ(op("ReEncrypt", wrong_ec).type, "InvalidCiphertextException");
  json::object bad_blob = good;
  bad_blob["CiphertextBlob"] = tampered;
  EXPECT_EQ(op("ReEncrypt", bad_blob).type, "InvalidCiphertextException");
  // With IGNORE_CIPHERTEXT (and SourceKeyId) both only check authorization.
  for (json::object body : {wrong_ec, bad_blob}) {
    body["SourceKeyId"] = a;
    body["DryRunModifiers"] = kIgnore;
    EXPECT_EQ(op("ReEncrypt", body).status, 412u) << json::serialize(body);
  }
}

TEST_F(EmulatorInputTest, NullListElementsAreRejectedNotCrashed) {
  for (const char* body : {R"({"Tags":[null]})", R"({"Tags":[{"TagKey":"a","TagValue":"b"},null]})"}) {
    auto a = raw("CreateKey", body);
    EXPECT_EQ(a.status, 400u) << body << " " << a.raw.body;
    EXPECT_EQ(a.type, "SerializationException") << body;
  }
  const std::string id = create_key_id();
  auto g = raw("Encrypt", R"({"KeyId":")" + id + R"(","Plaintext":"AA==","GrantTokens":[null]})");
  EXPECT_EQ(g.status, 400u) << g.raw.body;
  EXPECT_EQ(g.type, "SerializationException");
  auto m = raw("Decrypt", R"({"KeyId":")" + id + R"(","DryRun":true,"DryRunModifiers":[null]})");
  EXPECT_EQ(m.type, "SerializationException") << m.raw.body;
  // No key was created by the rejected requests.
  EXPECT_EQ(op("ListKeys", {}).body["Keys"].as_array().size(), 1u);
}

// A null map value is malformed too (Smithy's RestJsonBodyMalformedMapNullValue):
// it was read as an absent pair, so {"a":null} and {} bound the same context.
TEST_F(EmulatorInputTest, NullMapValuesAreRejected) {
  const std::string id = create_key_id();
  auto e = raw("Encrypt", R"({"KeyId":")" + id + R"(","Plaintext":"AA==","EncryptionContext":{"a":null}})");
  EXPECT_EQ(e.status, 400u) << e.raw.body;
  EXPECT_EQ(e.type, "SerializationException");
  EXPECT_NE(e.message.find("encryptionContext"), std::string::npos) << e.message;
  auto ok = op("Encrypt", {{"KeyId", id}, {"Plaintext", "AA=="}, {"EncryptionContext", {{"a", "b"}}}});
  ASSERT_EQ(ok.status, 200u) << ok.raw.body;
  auto d = raw("Decrypt", R"({"CiphertextBlob":")" + std::string(ok.body["CiphertextBlob"].as_string()) +
                              R"(","EncryptionContext":{"a":"b","c":null}})");
  EXPECT_EQ(d.type, "SerializationException") << d.raw.body;
}

TEST_F(EmulatorInputTest, AliasNamesMayNotContainColons) {
  const std::string id = create_key_id();
  auto c = op("CreateAlias", {{"AliasName", "alias/a:b"}, {"TargetKeyId", id}});
  EXPECT_EQ(c.status, 400u);
  EXPECT_EQ(c.type, "ValidationException");
  EXPECT_EQ(c.message, "alias/a:b contains invalid characters for an alias");
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/ok_name-1/x"}, {"TargetKeyId", id}}).status, 200u);
  auto u = op("UpdateAlias", {{"AliasName", "alias/ok:name"}, {"TargetKeyId", id}});
  EXPECT_EQ(u.type, "ValidationException");
  EXPECT_EQ(u.message, "alias/ok:name contains invalid characters for an alias");
  EXPECT_EQ(op("ListAliases", {}).body["Aliases"].as_array().size(), 1u);
}

TEST_F(EmulatorInputTest, AliasTargetMustBeAKeyNotAnAlias) {
  const std::string id = create_key_id();
  const std::string other = create_key_id();
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/first"}, {"TargetKeyId", id}}).status, 200u);
  for (const char* target : {"alias/first", "arn:aws:kms:us-east-1:111122223333:alias/first", "alias/none"}) {
    auto c = op("CreateAlias", {{"AliasName", "alias/second"}, {"TargetKeyId", target}});
    EXPECT_EQ(c.type, "ValidationException") << target;
    EXPECT_EQ(c.message, "Aliases must refer to keys. Not aliases") << target;
    auto u = op("UpdateAlias", {{"AliasName", "alias/first"}, {"TargetKeyId", target}});
    EXPECT_EQ(u.type, "ValidationException") << target;
    EXPECT_EQ(u.message, "Aliases must refer to keys. Not aliases") << target;
  }
  // Key ids and key ARNs are accepted.
  ASSERT_EQ(op("CreateAlias", {{"AliasName", "alias/second"}, {"TargetKeyId", std::string(kArnPrefix) + id}}).status,
            200u);
  ASSERT_EQ(op("UpdateAlias", {{"AliasName", "alias/first"}, {"TargetKeyId", other}}).status, 200u);
  auto d = op("DescribeKey", {{"KeyId", "alias/first"}});
  EXPECT_EQ(d.body["KeyMetadata"].as_object()["KeyId"].as_string(), other);
}

}  // namespace
}  // namespace kp::emulator
