// Tests for policy/kms_request.h: the condition keys every KMS request on a
// key carries, shared by kms-emulator and policy-check.
#include "policy/kms_request.h"

#include <gtest/gtest.h>

#include <string>

namespace kp::policy {
namespace {

const std::string kSession = "arn:aws:sts::111122223333:assumed-role/enclave-app/i-0abc";

std::vector<std::string> values(const RequestContext& ctx, const std::string& key) {
  const auto it = ctx.keys.find(key);
  return it == ctx.keys.end() ? std::vector<std::string>{} : it->second;
}

TEST(KmsRequest, PrincipalArnOfASessionIsItsRole) {
  EXPECT_EQ(principal_arn_key_value(kSession), "arn:aws:iam::111122223333:role/enclave-app");
  EXPECT_EQ(principal_arn_key_value("arn:aws-cn:sts::111122223333:assumed-role/r/s"),
            "arn:aws-cn:iam::111122223333:role/r");
  for (const char* same : {"arn:aws:iam::111122223333:role/enclave-app", "arn:aws:iam::111122223333:root",
                           "arn:aws:sts::111122223333:federated-user/bob", "arn:aws:sts::111122223333:assumed-role/",
                           "not an arn", ""}) {
    EXPECT_EQ(principal_arn_key_value(same), same);
  }
}

TEST(KmsRequest, WhichOperationsCarryTheEncryptionAlgorithm) {
  for (const char* a : {"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
                        "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
                        "kms:GenerateDataKeyPairWithoutPlaintext", "KMS:decrypt"}) {
    EXPECT_TRUE(carries_encryption_algorithm(a)) << a;
  }
  for (const char* a : {"kms:Sign", "kms:GenerateRandom", "kms:DeriveSharedSecret", "Decrypt", "kms:*"}) {
    EXPECT_FALSE(carries_encryption_algorithm(a)) << a;
  }
}

TEST(KmsRequest, KeysOfARequestOnASymmetricKey) {
  KeyFacts key;
  key.arn = "arn:aws:kms:eu-west-1:111122223333:key/k";
  key.region = "eu-west-1";
  key.tags["team"] = "payments";
  CallerFacts who;
  who.principal_arn = kSession;
  who.account = "111122223333";
  who.request_time = SysTime(std::chrono::seconds(1'780'000'000));
  const RequestContext ctx = kms_request_context("kms:GenerateDataKey", key, who);
  EXPECT_EQ(ctx.resource, key.arn);
  EXPECT_EQ(values(ctx, "kms:CallerAccount"), std::vector<std::string>{"111122223333"});
  EXPECT_EQ(values(ctx, "aws:PrincipalArn"), std::vector<std::string>{"arn:aws:iam::111122223333:role/enclave-app"});
  EXPECT_EQ(values(ctx, "aws:RequestedRegion"), std::vector<std::string>{"eu-west-1"});
  EXPECT_EQ(values(ctx, "kms:KeySpec"), std::vector<std::string>{"SYMMETRIC_DEFAULT"});
  EXPECT_EQ(values(ctx, "kms:KeyUsage"), std::vector<std::string>{"ENCRYPT_DECRYPT"});
  EXPECT_EQ(values(ctx, "kms:KeyOrigin"), std::vector<std::string>{"AWS_KMS"});
  EXPECT_EQ(values(ctx, "kms:MultiRegion"), std::vector<std::string>{"false"});
  EXPECT_EQ(values(ctx, "kms:EncryptionAlgorithm"), std::vector<std::string>{"SYMMETRIC_DEFAULT"});
  EXPECT_EQ(values(ctx, "aws:ResourceTag/team"), std::vector<std::string>{"payments"});
  EXPECT_EQ(values(ctx, "aws:EpochTime"), std::vector<std::string>{"1780000000"});
  EXPECT_EQ(values(ctx, "aws:SecureTransport"), std::vector<std::string>{"true"});
  EXPECT_EQ(values(ctx, "aws:PrincipalType"), std::vector<std::string>{"AssumedRole"});
  EXPECT_EQ(values(ctx, "aws:PrincipalIsAWSService"), std::vector<std::string>{"false"});
  EXPECT_EQ(values(ctx, "aws:ViaAWSService"), std::vector<std::string>{"false"});
  EXPECT_TRUE(values(ctx, "kms:RecipientAttestation:PCR0").empty());  // the request's own, added by the caller

  // No region known: not supplied. Sign carries no kms:EncryptionAlgorithm.
  KeyFacts signing;
  signing.key_spec = "ECC_NIST_P256";
  signing.key_usage = "SIGN_VERIFY";
  who.secure_transport = false;
  const RequestContext sign = kms_request_context("kms:Sign", signing, who);
  EXPECT_TRUE(values(sign, "aws:RequestedRegion").empty());
  EXPECT_TRUE(values(sign, "kms:EncryptionAlgorithm").empty());
  EXPECT_EQ(values(sign, "aws:SecureTransport"), std::vector<std::string>{"false"});
}

TEST(KmsRequest, PrincipalTypeOfEachKindOfPrincipal) {
  EXPECT_EQ(principal_type_of("arn:aws:iam::111122223333:root"), "Account");
  EXPECT_EQ(principal_type_of("arn:aws:iam::111122223333:user/alice"), "User");
  EXPECT_EQ(principal_type_of("arn:aws:iam::111122223333:user/dev/alice"), "User");
  EXPECT_EQ(principal_type_of(kSession), "AssumedRole");
  EXPECT_EQ(principal_type_of("arn:aws:iam::111122223333:role/r"), "AssumedRole");
  EXPECT_EQ(principal_type_of("arn:aws:sts::111122223333:federated-user/bob"), "FederatedUser");
  for (const char* none : {"arn:aws:iam::111122223333:group/g", "arn:aws:kms:us-east-1:1:key/k", "not an arn", ""}) {
    EXPECT_EQ(principal_type_of(none), "") << none;
  }
}

// A Deny on the principal's type, or on calls not made by a service, applies
// to an emulated request as it does in AWS (both keys are always present).
TEST(KmsRequest, DenyOnPrincipalTypeOrServiceCallsApplies) {
  auto p = parse_policy(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
    {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"StringEquals":{"aws:PrincipalType":"User"}}},
    {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
     "Condition":{"Bool":{"aws:ViaAWSService":"false"}}}]})");
  ASSERT_TRUE(p) << p.error().message;
  CallerFacts alice;
  alice.principal_arn = "arn:aws:iam::111122223333:user/alice";
  alice.account = "111122223333";
  EXPECT_FALSE(evaluate(*p, kms_request_context("kms:Encrypt", {}, alice)).allowed);
  EXPECT_FALSE(evaluate(*p, kms_request_context("kms:Decrypt", {}, alice)).allowed);
  CallerFacts role;
  role.principal_arn = kSession;
  role.account = "111122223333";
  EXPECT_TRUE(evaluate(*p, kms_request_context("kms:Encrypt", {}, role)).allowed);
}

TEST(KmsRequest, RequestAliasOfAKeyId) {
  EXPECT_EQ(request_alias_of("alias/frozen"), "alias/frozen");
  EXPECT_EQ(request_alias_of("arn:aws:kms:us-east-1:111122223333:alias/team/frozen"), "alias/team/frozen");
  for (const char* none : {"1234abcd-12ab-34cd-56ef-1234567890ab",
                           "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                           "arn:aws:iam::111122223333:alias/x", "", "Alias/x"}) {
    EXPECT_FALSE(request_alias_of(none).has_value()) << none;
  }
  for (const char* a : {"kms:Decrypt", "kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:ReEncryptTo",
                        "kms:DeriveSharedSecret", "kms:GenerateDataKeyPair"}) {
    EXPECT_TRUE(carries_request_alias(a)) << a;
  }
  for (const char* a : {"kms:GetKeyPolicy", "kms:CreateAlias", "kms:GenerateRandom", "kms:TagResource"}) {
    EXPECT_FALSE(carries_request_alias(a)) << a;
  }
}

// aws:PrincipalArn is the role for an assumed-role caller (the ARN an
// AccessDenied message names is the session's).
TEST(KmsRequest, PolicyOnPrincipalArnAdmitsTheRolesSessions) {
  auto p = parse_policy(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
    "Action":"kms:Decrypt","Resource":"*",
    "Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/enclave-*"}}}]})");
  ASSERT_TRUE(p) << p.error().message;
  CallerFacts who;
  who.principal_arn = kSession;
  who.account = "111122223333";
  EXPECT_TRUE(evaluate(*p, kms_request_context("kms:Decrypt", {}, who)).allowed);
  // Also through the evaluator's own default, without kms_request_context.
  RequestContext bare;
  bare.action = "kms:Decrypt";
  bare.principal_arn = kSession;
  EXPECT_TRUE(evaluate(*p, bare).allowed);
  who.principal_arn = "arn:aws:sts::111122223333:assumed-role/other/i-0abc";
  EXPECT_FALSE(evaluate(*p, kms_request_context("kms:Decrypt", {}, who)).allowed);
}

}  // namespace
}  // namespace kp::policy
