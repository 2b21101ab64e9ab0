#include "app/preflight.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace kp::app {
namespace {

HttpResponse answer(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.body = std::move(body);
  return r;
}

HttpResponse kms_error(unsigned status, std::string_view type, std::string_view message) {
  return make_error_response(status, type, message);
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(RegionOfKeyArn, ReadsTheRegionOfKeyAndAliasArns) {
  EXPECT_EQ(region_of_key_arn("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            "eu-west-1");
  EXPECT_EQ(region_of_key_arn("arn:aws-cn:kms:cn-north-1:111122223333:alias/app"), "cn-north-1");
  EXPECT_EQ(region_of_key_arn("1234abcd-12ab-34cd-56ef-1234567890ab"), std::nullopt);
  EXPECT_EQ(region_of_key_arn("alias/app"), std::nullopt);
  EXPECT_EQ(region_of_key_arn("arn:aws:s3:::bucket"), std::nullopt);  // not KMS
  EXPECT_EQ(region_of_key_arn("arn:aws:kms::111122223333:key/x"), std::nullopt);
  EXPECT_EQ(region_of_key_arn("arn:aws:kms"), std::nullopt);
}

TEST(JudgeGenerateRandom, ThirtyTwoBytesOfPlaintextIsOk) {
  const auto l = judge_generate_random(
      answer(200, R"({"Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})"), true);
  EXPECT_EQ(l.status, CheckStatus::kOk);
  EXPECT_TRUE(contains(l.detail, "KMS accepted the document")) << l.detail;
  const auto plain = judge_generate_random(
      answer(200, R"({"Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})"), false);
  EXPECT_EQ(plain.status, CheckStatus::kOk);
  EXPECT_TRUE(contains(plain.detail, "without attestation")) << plain.detail;
}

TEST(JudgeGenerateRandom, A200WithoutTheRightPlaintextFails) {
  // What a proxy that forgot to decrypt would hand back.
  EXPECT_EQ(judge_generate_random(answer(200, R"({"CiphertextForRecipient":"MIAGCSqGSIb3DQEHA6CAMIAC"})"), true)
                .status,
            CheckStatus::kFail);
  EXPECT_EQ(judge_generate_random(answer(200, R"({"Plaintext":"AAEC"})"), true).status, CheckStatus::kFail);
  EXPECT_EQ(judge_generate_random(answer(200, "not json"), true).status, CheckStatus::kFail);
  EXPECT_EQ(judge_generate_random(answer(200, R"({"Plaintext":7})"), true).status, CheckStatus::kFail);
}

TEST(JudgeGenerateRandom, AccessDeniedIsOnlyAWarning) {
  const auto l = judge_generate_random(kms_error(400, "AccessDeniedException", "not authorized"), true);
  EXPECT_EQ(l.status, CheckStatus::kWarn);
  EXPECT_TRUE(contains(l.detail, "AccessDeniedException: not authorized")) << l.detail;
  EXPECT_TRUE(contains(l.hint, "kms:GenerateRandom")) << l.hint;
}

TEST(JudgeGenerateRandom, ErrorsFailWithAHintForTheirKind) {
  const auto creds = judge_generate_random(kms_error(400, "UnrecognizedClientException", "bad token"), true);
  EXPECT_EQ(creds.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(creds.hint, "credentials")) << creds.hint;
  const auto route = judge_generate_random(kms_error(502, "KMSProxyUpstreamException", "upstream: refused"), true);
  EXPECT_EQ(route.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(route.hint, "route")) << route.hint;
  const auto doc = judge_generate_random(
      kms_error(400, "ValidationException", "The attestation document is not signed by a trusted root"), true);
  EXPECT_EQ(doc.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(doc.hint, "attestation document")) << doc.hint;
  HttpResponse garbage;
  garbage.status = 500;
  garbage.body = "<html>";
  const auto g = judge_generate_random(garbage, true);
  EXPECT_EQ(g.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(g.detail, "HTTP 500")) << g.detail;
}

TEST(JudgeDryRunDecrypt, DryRunOperationExceptionMeansAllowed) {
  const auto l = judge_dry_run("Decrypt", 
      "alias/app", "us-east-1", kms_error(412, "DryRunOperationException", "The request would have succeeded"), true);
  EXPECT_EQ(l.status, CheckStatus::kOk);
  EXPECT_EQ(l.subject, "key alias/app");
  // The same type with another status is not KMS's DryRun answer.
  EXPECT_EQ(judge_dry_run("Decrypt", "k", "us-east-1", kms_error(400, "DryRunOperationException", ""), true).status,
            CheckStatus::kFail);
}

TEST(JudgeDryRun, MessagesFromTheFarEndCannotDriveTheTerminal) {
  const auto l = judge_dry_run("Decrypt", "k", "us-east-1",
                               kms_error(400, "AccessDeniedException", "no\x1b[2Jway\r\n" + std::string(600, 'x')),
                               true);
  EXPECT_EQ(l.detail.find('\x1b'), std::string::npos) << l.detail;
  EXPECT_EQ(l.detail.find('\n'), std::string::npos);
  EXPECT_TRUE(contains(l.detail, "no?[2Jway??xx")) << l.detail;
  EXPECT_LT(l.detail.size(), 600u);
  EXPECT_TRUE(l.detail.ends_with("...")) << l.detail;
}

TEST(JudgeDryRun, OtherOperationsNameThemselves) {
  const auto l = judge_dry_run("GenerateDataKey", "alias/app", "us-east-1",
                               kms_error(412, "DryRunOperationException", ""), true);
  EXPECT_EQ(l.status, CheckStatus::kOk);
  EXPECT_EQ(l.subject, "key alias/app (GenerateDataKey)");
  EXPECT_TRUE(contains(l.detail, "GenerateDataKey is allowed")) << l.detail;
  EXPECT_TRUE(is_checkable_operation("GenerateDataKeyPair"));
  EXPECT_FALSE(is_checkable_operation("Encrypt"));  // no Recipient: not what check is for
  EXPECT_FALSE(is_checkable_operation("decrypt"));
}

// DescribeKey's answer decides what a key check sends.
TEST(KeyFacts, ChooseTheChecksAndTheDecryptAlgorithm) {
  EXPECT_TRUE(is_checkable_operation("DeriveSharedSecret"));
  const auto rsa = key_facts_of(answer(200, R"({"KeyMetadata":{"KeyId":"k","KeySpec":"RSA_2048",)"
                                            R"("KeyUsage":"ENCRYPT_DECRYPT","EncryptionAlgorithms":)"
                                            R"(["RSAES_OAEP_SHA_1","RSAES_OAEP_SHA_256"]}})"));
  ASSERT_TRUE(rsa);
  EXPECT_EQ(rsa->key_spec, "RSA_2048");
  EXPECT_EQ(decrypt_algorithm_for(rsa), std::optional<std::string>("RSAES_OAEP_SHA_256"));
  EXPECT_EQ(operations_for(rsa), std::vector<std::string>{"Decrypt"});
  const auto sm2 = key_facts_of(answer(200, R"({"KeyMetadata":{"KeySpec":"SM2","KeyUsage":"ENCRYPT_DECRYPT",)"
                                            R"("EncryptionAlgorithms":["SM2PKE"]}})"));
  EXPECT_EQ(decrypt_algorithm_for(sm2), std::optional<std::string>("SM2PKE"));
  const auto symmetric = key_facts_of(answer(200, R"({"KeyMetadata":{"KeySpec":"SYMMETRIC_DEFAULT",)"
                                                  R"("KeyUsage":"ENCRYPT_DECRYPT","EncryptionAlgorithms":)"
                                                  R"(["SYMMETRIC_DEFAULT"]}})"));
  EXPECT_EQ(decrypt_algorithm_for(symmetric), std::nullopt);
  const auto agreement = key_facts_of(answer(200, R"({"KeyMetadata":{"KeySpec":"ECC_NIST_P384",)"
                                                  R"("KeyUsage":"KEY_AGREEMENT"}})"));
  EXPECT_EQ(operations_for(agreement), std::vector<std::string>{"DeriveSharedSecret"});
  // --operation: what the key can do; the rest is set aside, and a key that
  // can do none of them gets its own default.
  std::vector<std::string> skipped;
  const std::vector<std::string> asked{"Decrypt", "GenerateDataKey"};
  EXPECT_EQ(operations_for(agreement, asked, &skipped), std::vector<std::string>{"DeriveSharedSecret"});
  EXPECT_EQ(skipped, asked);
  skipped.clear();
  EXPECT_EQ(operations_for(symmetric, asked, &skipped), asked);
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(operations_for(rsa, asked, &skipped), std::vector<std::string>{"Decrypt"});
  EXPECT_EQ(skipped, std::vector<std::string>{"GenerateDataKey"});
  skipped.clear();
  EXPECT_EQ(operations_for(agreement, {"DeriveSharedSecret", "Decrypt"}, &skipped),
            std::vector<std::string>{"DeriveSharedSecret"});
  EXPECT_EQ(skipped, std::vector<std::string>{"Decrypt"});
  skipped.clear();
  EXPECT_EQ(operations_for(symmetric, {"DeriveSharedSecret"}, &skipped), std::vector<std::string>{"Decrypt"});
  EXPECT_EQ(skipped, std::vector<std::string>{"DeriveSharedSecret"});
  EXPECT_EQ(operations_for(std::nullopt, asked), asked);  // not described: as asked
  // A signing key does none of them: as asked (KMS says why), nothing set aside.
  const auto signing = key_facts_of(answer(200, R"({"KeyMetadata":{"KeySpec":"ECC_NIST_P256",)"
                                                R"("KeyUsage":"SIGN_VERIFY"}})"));
  skipped.clear();
  EXPECT_EQ(operations_for(signing, asked, &skipped), asked);
  EXPECT_TRUE(skipped.empty());
  // Not allowed to describe, or an odd answer: the symmetric default.
  for (const auto& r : {kms_error(400, "AccessDeniedException", "no"), answer(200, "[]"), answer(200, "{"),
                        answer(200, R"({"KeyMetadata":7})")}) {
    const auto none = key_facts_of(r);
    EXPECT_FALSE(none) << r.body;
    EXPECT_EQ(operations_for(none), std::vector<std::string>{"Decrypt"});
    EXPECT_EQ(decrypt_algorithm_for(none), std::nullopt);
  }
}

TEST(JudgeDryRunDecrypt, WrongKeyUsageGetsAHint) {
  const auto l = judge_dry_run("Decrypt", "k", "us-east-1",
                               kms_error(400, "InvalidKeyUsageException",
                                         "The encryption algorithm SYMMETRIC_DEFAULT is not valid"),
                               true);
  EXPECT_EQ(l.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(l.hint, "kms:DescribeKey")) << l.hint;
  EXPECT_TRUE(contains(l.hint, "not for Decrypt")) << l.hint;
}

TEST(JudgeDryRunDecrypt, DeniedAndMissingKeysFailWithHints) {
  const auto denied = judge_dry_run("Decrypt", "k", "us-east-1", kms_error(400, "AccessDeniedException", "no policy allows"), true);
  EXPECT_EQ(denied.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(denied.detail, "AccessDeniedException: no policy allows")) << denied.detail;
  EXPECT_TRUE(contains(denied.hint, "policy-check")) << denied.hint;
  const auto missing = judge_dry_run("Decrypt", "arn:aws:kms:eu-west-1:111122223333:key/x", "eu-west-1",
                                             kms_error(400, "NotFoundException", "Key not found"), true);
  EXPECT_EQ(missing.status, CheckStatus::kFail);
  EXPECT_TRUE(contains(missing.hint, "'eu-west-1'")) << missing.hint;
  EXPECT_EQ(judge_dry_run("Decrypt", "k", "us-east-1", answer(200, R"({"Plaintext":"AA=="})"), true).status, CheckStatus::kFail);
}

TEST(PreflightReport, OkUnlessALineFailed) {
  PreflightReport r;
  EXPECT_TRUE(r.ok());
  r.lines.push_back({CheckStatus::kWarn, "a", "b", ""});
  EXPECT_TRUE(r.ok());
  r.lines.push_back({CheckStatus::kFail, "c", "d", ""});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(to_string(CheckStatus::kFail), "FAIL");
  EXPECT_EQ(report_json(r),
            R"({"ok":false,"checks":[{"status":"warn","subject":"a","detail":"b","hint":""},)"
            R"({"status":"fail","subject":"c","detail":"d","hint":""}]})");
}

}  // namespace
}  // namespace kp::app
