#include "policy/policy.h"

#include <gtest/gtest.h>

#include <optional>

#include "base/encoding.h"
#include "policy/match.h"
#include "policy/policy_test_support.h"

namespace kp::policy {
namespace {

using testing::kAccount;
using testing::kRole;
using testing::ctx;
using testing::parse_ok;


// One Allow statement for everyone on kms:Decrypt guarded by `condition` (JSON object text).
std::string allow_with(const std::string& condition) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt",)"
         R"("Resource":"*","Condition":)" +
         condition + "}]}";
}

using Values = std::optional<std::vector<std::string>>;  // nullopt = key absent

struct CondCase {
  const char* op;
  const char* policy_values;  // JSON
  Values request;
  bool expected;
};

void run_table(const char* key, std::initializer_list<CondCase> cases) {
  for (const auto& c : cases) {
    const std::string cond = std::string("{\"") + c.op + "\":{\"" + key + "\":" + c.policy_values + "}}";
    const Policy p = parse_ok(allow_with(cond));
    RequestContext r = ctx();
    if (c.request) {
      r.keys[key] = *c.request;
    }
    const Decision d = evaluate(p, r);
    std::string shown = c.request ? "[" : "absent";
    if (c.request) {
      for (const auto& v : *c.request) {
        shown += v + ",";
      }
      shown += "]";
    }
    EXPECT_EQ(d.allowed, c.expected) << cond << " with request " << shown;
    EXPECT_EQ(d.condition_misses.size(), c.expected ? 0u : 1u) << cond;
  }
}

const Values kAbsent = std::nullopt;
Values vals(std::initializer_list<std::string> v) { return std::vector<std::string>(v); }

TEST(Conditions, StringOperators) {
  run_table("kms:EncryptionContext:app",
            {
                {"StringEquals", R"("a")", vals({"a"}), true},
                {"StringEquals", R"(["a"])", vals({"A"}), false},
                {"StringEquals", R"(["x","a"])", vals({"a"}), true},  // values OR'ed
                {"StringEquals", R"("a")", kAbsent, false},
                {"StringEquals", R"("a")", vals({}), false},  // empty = absent
                {"StringNotEquals", R"("a")", vals({"a"}), false},
                {"StringNotEquals", R"("a")", vals({"b"}), true},
                {"StringNotEquals", R"(["a","b"])", vals({"b"}), false},  // NOR
                {"StringNotEquals", R"(["a","b"])", vals({"c"}), true},
                {"StringNotEquals", R"("a")", kAbsent, true},  // negated on a missing key
                {"StringEqualsIgnoreCase", R"("ABC")", vals({"abc"}), true},
                {"StringEqualsIgnoreCase", R"("ABC")", vals({"abd"}), false},
                {"StringEqualsIgnoreCase", R"("ABC")", kAbsent, false},
                {"StringNotEqualsIgnoreCase", R"("ABC")", vals({"abc"}), false},
                {"StringNotEqualsIgnoreCase", R"("ABC")", vals({"abd"}), true},
                {"StringNotEqualsIgnoreCase", R"("ABC")", kAbsent, true},
                {"StringLike", R"("app-?-*")", vals({"app-1-prod"}), true},
                {"StringLike", R"("app-?-*")", vals({"app-12-prod"}), false},
                {"StringLike", R"("app-*")", vals({"APP-1"}), false},  // case-sensitive
                {"StringLike", R"("*")", kAbsent, false},
                {"StringNotLike", R"("prod-*")", vals({"prod-1"}), false},
                {"StringNotLike", R"("prod-*")", vals({"dev"}), true},
                {"StringNotLike", R"("prod-*")", kAbsent, true},
            });
}

TEST(Conditions, BoolNullAndArn) {
  run_table("aws:SecureTransport", {
                                       {"Bool", R"("true")", vals({"true"}), true},
                                       {"Bool", R"(true)", vals({"TRUE"}), true},
                                       {"Bool", R"("true")", vals({"false"}), false},
                                       {"Bool", R"("true")", kAbsent, false},
                                       {"BoolIfExists", R"("true")", kAbsent, true},
                                       {"Null", R"("true")", kAbsent, true},
                                       {"Null", R"("true")", vals({}), true},
                                       {"Null", R"("true")", vals({"x"}), false},
                                       {"Null", R"("false")", vals({"x"}), true},
                                       {"Null", R"(false)", kAbsent, false},
                                   });
  run_table("aws:PrincipalArn",
            {
                {"ArnLike", R"("arn:aws:iam::*:role/app*")", vals({"arn:aws:iam::111122223333:role/app-x"}), true},
                {"ArnLike", R"("arn:aws:iam::*:role/app*")", vals({"arn:aws:iam::111122223333:user/app"}), false},
                {"ArnEquals", R"("arn:aws:iam::111122223333:role/app")", vals({"arn:aws:iam::111122223333:role/app"}),
                 true},
                {"ArnEquals", R"("arn:aws:iam::111122223333:role/app")", vals({"not-an-arn"}), false},
                {"ArnNotLike", R"("arn:aws:iam::*:role/admin*")", vals({"arn:aws:iam::111122223333:role/app"}), true},
                {"ArnNotEquals", R"("arn:aws:iam::111122223333:role/app")", vals({"arn:aws:iam::111122223333:role/app"}),
                 false},
            });
}

TEST(Conditions, NumericOperators) {
  // A key policy's usual guard on key deletion.
  run_table("kms:ScheduleKeyDeletionPendingWindowInDays",
            {
                {"NumericGreaterThanEquals", R"("30")", vals({"30"}), true},
                {"NumericGreaterThanEquals", R"(30)", vals({"7"}), false},  // JSON number in the policy
                {"NumericGreaterThanEquals", R"("30")", kAbsent, false},
                {"NumericGreaterThan", R"("30")", vals({"30"}), false},
                {"NumericGreaterThan", R"("30")", vals({"30.5"}), true},
                {"NumericLessThan", R"("1e2")", vals({"99"}), true},
                {"NumericLessThan", R"("-1")", vals({"-1.5"}), true},
                {"NumericLessThanEquals", R"("7")", vals({"7.0"}), true},
                {"NumericLessThanEquals", R"("7")", vals({"8"}), false},
                {"NumericEquals", R"(["7","30"])", vals({"30"}), true},  // values OR'ed
                {"NumericEquals", R"("30")", vals({"thirty"}), false},   // not a number: no match
                {"NumericNotEquals", R"(["7","30"])", vals({"30"}), false},
                {"NumericNotEquals", R"(["7","30"])", vals({"14"}), true},
                {"NumericNotEquals", R"("7")", kAbsent, true},  // negated on a missing key
                {"NumericNotEquals", R"("7")", vals({"seven"}), true},  // matches none of the values
                {"NumericLessThanIfExists", R"("7")", kAbsent, true},
            });
}

TEST(Conditions, DateOperators) {
  run_table("aws:CurrentTime",
            {
                {"DateLessThan", R"("2026-12-31T00:00:00Z")", vals({"2026-11-26T18:00:00Z"}), true},
                {"DateLessThan", R"("2026-12-31T00:00:00Z")", vals({"2027-01-01T00:00:00Z"}), false},
                {"DateLessThan", R"("2026-12-31T00:00:00Z")", vals({"2026-12-31T00:00:00Z"}), false},
                {"DateLessThanEquals", R"("2026-12-31T00:00:00Z")", vals({"2026-12-31T00:00:00Z"}), true},
                {"DateLessThan", R"("2026-12-31")", vals({"2026-12-30T23:59:59.999Z"}), true},  // date alone: midnight
                {"DateGreaterThan", R"("2026-11-26T20:00:00+02:00")", vals({"2026-11-26T18:00:01Z"}), true},
                {"DateGreaterThan", R"("2026-11-26T20:00:00+02:00")", vals({"2026-11-26T18:00:00Z"}), false},
                {"DateGreaterThanEquals", R"("2026-11-26T18:00:00Z")", vals({"2026-11-26T18:00:00Z"}), true},
                {"DateEquals", R"("2026-11-26T18:00:00Z")", vals({"1795716000"}), true},  // epoch seconds
                {"DateEquals", R"("2026-11-26T18:00:00Z")", vals({"yesterday"}), false},
                {"DateNotEquals", R"("2026-11-26T18:00:00Z")", vals({"2026-11-26T18:00:00Z"}), false},
                {"DateNotEquals", R"("2026-11-26T18:00:00Z")", kAbsent, true},
                {"DateLessThan", R"("2026-12-31T00:00:00Z")", kAbsent, false},
            });
  run_table("aws:EpochTime", {
                                 {"DateLessThan", R"("2026-01-01T00:00:00Z")", vals({"1767225599"}), true},
                                 {"DateLessThan", R"("2026-01-01T00:00:00Z")", vals({"1767225600"}), false},
                             });
}

TEST(Conditions, IpAddressAndBinary) {
  run_table("aws:SourceIp",
            {
                {"IpAddress", R"("203.0.113.0/24")", vals({"203.0.113.7"}), true},
                {"IpAddress", R"("203.0.113.0/24")", vals({"203.0.114.7"}), false},
                {"IpAddress", R"("203.0.113.5")", vals({"203.0.113.5"}), true},  // a single host
                {"IpAddress", R"("203.0.113.5")", vals({"203.0.113.6"}), false},
                {"IpAddress", R"("10.1.0.0/15")", vals({"10.0.255.255"}), true},  // host bits ignored
                {"IpAddress", R"(["192.0.2.0/24","203.0.113.0/24"])", vals({"192.0.2.1"}), true},
                {"IpAddress", R"("203.0.113.0/24")", vals({"::ffff:203.0.113.9"}), true},  // IPv4-mapped
                {"IpAddress", R"("2001:db8::/32")", vals({"2001:DB8:1234::1"}), true},
                {"IpAddress", R"("2001:db8::/32")", vals({"2001:db9::1"}), false},
                {"IpAddress", R"("2001:db8::/32")", vals({"203.0.113.7"}), false},
                {"IpAddress", R"("0.0.0.0/0")", vals({"not-an-ip"}), false},
                {"IpAddress", R"("0.0.0.0/0")", vals({"198.51.100.1"}), true},
                {"NotIpAddress", R"("203.0.113.0/24")", vals({"203.0.113.7"}), false},
                {"NotIpAddress", R"("203.0.113.0/24")", vals({"198.51.100.7"}), true},
                {"NotIpAddress", R"("203.0.113.0/24")", kAbsent, true},
            });
  run_table("k", {
                     {"BinaryEquals", R"("QmluYXJ5")", vals({"QmluYXJ5"}), true},
                     {"BinaryEquals", R"("QmluYXJ5")", vals({"QmluYXJz"}), false},
                     {"BinaryEquals", R"("QmluYXJ5")", vals({"Binary"}), false},
                 });
}

TEST(Conditions, TypedFailuresAreDescribedWithTheirRelation) {
  const Policy p = parse_ok(allow_with(R"({"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"},)"
                                       R"("NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}})"));
  RequestContext r = ctx();
  r.keys["kms:ScheduleKeyDeletionPendingWindowInDays"] = {"7"};
  r.keys["aws:SourceIp"] = {"10.1.2.3"};
  const Decision d = evaluate(p, r);
  ASSERT_FALSE(d.allowed);
  ASSERT_EQ(d.condition_misses.size(), 1u);
  ASSERT_EQ(d.condition_misses[0].failures.size(), 2u);
  EXPECT_EQ(describe(d.condition_misses[0].failures[0]),
            "NumericGreaterThanEquals kms:ScheduleKeyDeletionPendingWindowInDays: expected at least 30, request has 7");
  EXPECT_EQ(describe(d.condition_misses[0].failures[1]),
            "NotIpAddress aws:SourceIp: expected an address in none of 10.0.0.0/8, 192.168.0.0/16, request has 10.1.2.3");
  EXPECT_TRUE(is_negated(ConditionOp::kNotIpAddress));
  EXPECT_FALSE(is_negated(ConditionOp::kNumericLessThan));
}

TEST(Conditions, IfExists) {
  run_table("kms:RecipientAttestation:ImageSha384",
            {
                {"StringEqualsIfExists", R"("a")", kAbsent, true},
                {"StringEqualsIfExists", R"("a")", vals({"a"}), true},
                {"StringEqualsIfExists", R"("a")", vals({"b"}), false},
                {"StringNotEqualsIfExists", R"("a")", kAbsent, true},
                {"StringNotEqualsIfExists", R"("a")", vals({"a"}), false},
                {"StringLikeIfExists", R"("a*")", vals({"b"}), false},
                {"ForAnyValue:StringEqualsIfExists", R"("a")", kAbsent, true},
            });
}

TEST(Conditions, SetQualifiers) {
  run_table("kms:EncryptionContextKeys",
            {
                {"ForAnyValue:StringEquals", R"(["a","b"])", vals({"c", "b"}), true},
                {"ForAnyValue:StringEquals", R"(["a","b"])", vals({"c"}), false},
                {"ForAnyValue:StringEquals", R"(["a","b"])", kAbsent, false},
                {"ForAnyValue:StringEquals", R"(["a","b"])", vals({}), false},
                {"ForAllValues:StringEquals", R"(["a","b"])", vals({"a", "b"}), true},
                {"ForAllValues:StringEquals", R"(["a","b"])", vals({"a", "c"}), false},
                {"ForAllValues:StringEquals", R"(["a","b"])", kAbsent, true},
                {"ForAllValues:StringEquals", R"(["a","b"])", vals({}), true},
                {"ForAnyValue:StringNotEquals", R"("a")", vals({"a", "b"}), true},
                {"ForAnyValue:StringNotEquals", R"("a")", vals({"a"}), false},
                {"ForAnyValue:StringNotEquals", R"("a")", kAbsent, false},
                {"ForAllValues:StringEqualsIgnoreCase", R"(["A"])", vals({"a", "A"}), true},
                // Unqualified operator on a multi-valued key: any value (positive), none (negated).
                {"StringEquals", R"("b")", vals({"a", "b"}), true},
                {"StringNotEquals", R"("b")", vals({"a", "b"}), false},
            });
  // The IAM User Guide's ForAllValues:StringNotLike table (multi-valued context key examples).
  run_table("aws:TagKeys", {
                               {"ForAllValues:StringNotLike", R"("key1*")", vals({"key1:legal"}), false},
                               {"ForAllValues:StringNotLike", R"("key1*")", vals({"key1:hr", "key1:personnel"}), false},
                               {"ForAllValues:StringNotLike", R"("key1*")", vals({"key2:audit"}), true},
                               {"ForAllValues:StringNotLike", R"("key1*")", kAbsent, true},
                           });
}

TEST(Conditions, KeysAndOperatorsAreAndedKeyNamesCaseInsensitive) {
  const Policy p = parse_ok(allow_with(
      R"({"StringEquals":{"KMS:ENCRYPTIONCONTEXT:appname":"ExampleApp","kms:EncryptionContext:Stage":"prod"},)"
      R"("Bool":{"aws:SecureTransport":"true"}})"));
  RequestContext r = ctx();
  add_encryption_context(r, {{"AppName", "ExampleApp"}, {"stage", "prod"}});
  r.keys["aws:securetransport"] = {"true"};
  EXPECT_TRUE(evaluate(p, r).allowed);

  r.keys["aws:securetransport"] = {"false"};
  Decision d = evaluate(p, r);
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.condition_misses.size(), 1u);
  ASSERT_EQ(d.condition_misses[0].failures.size(), 1u);
  EXPECT_EQ(d.condition_misses[0].failures[0].operator_name, "Bool");

  r.keys["aws:securetransport"] = {"true"};
  add_encryption_context(r, {{"AppName", "OtherApp"}});  // replaces AppName's value
  EXPECT_FALSE(evaluate(p, r).allowed);
}

TEST(Conditions, EncryptionContextKeysExampleFromKmsGuide) {
  // Require AppName=ExampleApp and forbid other pairs.
  const Policy p = parse_ok(allow_with(
      R"({"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"},)"
      R"("ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]}})"));
  RequestContext ok = ctx();
  add_encryption_context(ok, {{"AppName", "ExampleApp"}});
  EXPECT_TRUE(evaluate(p, ok).allowed);
  RequestContext extra = ctx();
  add_encryption_context(extra, {{"AppName", "ExampleApp"}, {"Stage", "x"}});
  EXPECT_FALSE(evaluate(p, extra).allowed);
  EXPECT_FALSE(evaluate(p, ctx()).allowed);  // no encryption context
}

TEST(Attestation, PcrHexCaseRules) {
  Bytes pcr0(48, 0x3a);
  Bytes pcr8(48, 0x00);
  RequestContext r = ctx();
  add_recipient_attestation(r, {{0, pcr0}, {8, pcr8}});
  const std::string lower = hex_encode(pcr0);
  std::string upper = lower;
  for (auto& ch : upper) {
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  ASSERT_NE(upper, lower);
  EXPECT_EQ(r.keys.at("kms:RecipientAttestation:ImageSha384"), std::vector<std::string>{lower});
  EXPECT_EQ(r.keys.at("kms:RecipientAttestation:PCR0"), std::vector<std::string>{lower});

  const Policy ignore_case = parse_ok(
      allow_with(R"({"StringEqualsIgnoreCase":{"kms:RecipientAttestation:PCR0":")" + upper + R"("}})"));
  EXPECT_TRUE(evaluate(ignore_case, r).allowed);

  const Policy exact =
      parse_ok(allow_with(R"({"StringEquals":{"kms:RecipientAttestation:ImageSha384":")" + upper + R"("}})"));
  const Decision d = evaluate(exact, r);
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.condition_misses.size(), 1u);
  const ConditionFailure& f = d.condition_misses[0].failures.at(0);
  EXPECT_EQ(f.operator_name, "StringEquals");
  EXPECT_EQ(f.key, "kms:RecipientAttestation:ImageSha384");
  EXPECT_EQ(f.expected, std::vector<std::string>{upper});
  EXPECT_EQ(f.actual, std::vector<std::string>{lower});
  EXPECT_TRUE(f.key_present);
  EXPECT_EQ(describe(f),
            "StringEquals kms:RecipientAttestation:ImageSha384: expected " + upper + ", request has " + lower);

  // No attestation document at all: the condition fails (KMS denies).
  const Decision none = evaluate(exact, ctx());
  EXPECT_FALSE(none.allowed);
  ASSERT_EQ(none.condition_misses.size(), 1u);
  EXPECT_FALSE(none.condition_misses[0].failures.at(0).key_present);
  EXPECT_EQ(describe(none.condition_misses[0].failures.at(0)),
            "StringEquals kms:RecipientAttestation:ImageSha384: expected " + upper + ", request has no value");
}

TEST(Attestation, FailureDetailsListEveryFailedCondition) {
  const std::string want0(96, 'a');
  const std::string want8(96, 'b');
  const Policy p = parse_ok(R"({"Version":"2012-10-17","Statement":[
    {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
     "Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:ViaAWSService":"true"}}},
    {"Sid":"Enclave decrypt","Effect":"Allow","Principal":{"AWS":")" +
                            std::string(kRole) + R"("},"Action":"kms:Decrypt","Resource":"*",
     "Condition":{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:PCR0":")" +
                            want0 + R"(","kms:RecipientAttestation:PCR8":")" + want8 + R"("}}},
    {"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},
     "Action":"kms:*","Resource":"*"}]})");
  RequestContext r = ctx();
  add_recipient_attestation(r, {{0, Bytes(48, 0)}, {8, Bytes(48, 0xbb)}});
  const Decision d = evaluate(p, r);
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.explicit_deny);
  EXPECT_EQ(d.decided_by(), "no statement (implicit deny)");
  ASSERT_EQ(d.condition_misses.size(), 2u);  // statement 0 (Bool) and 1 (PCR0); "Admins" does not apply
  EXPECT_EQ(d.condition_misses[0].sid, "Enable IAM User Permissions");
  EXPECT_EQ(d.condition_misses[0].failures.at(0).key_present, false);
  EXPECT_EQ(d.condition_misses[1].statement_index, 1u);
  EXPECT_EQ(d.condition_misses[1].sid, "Enclave decrypt");
  ASSERT_EQ(d.condition_misses[1].failures.size(), 1u);  // PCR8 matched (case-insensitive)
  const auto& f = d.condition_misses[1].failures[0];
  EXPECT_EQ(f.key, "kms:RecipientAttestation:PCR0");
  EXPECT_EQ(f.expected, std::vector<std::string>{want0});
  EXPECT_EQ(f.actual, std::vector<std::string>{std::string(96, '0')});
  EXPECT_EQ(access_denied_message(r.principal_arn, r.action, "arn:aws:kms:us-east-1:111122223333:key/k", false),
            "User: arn:aws:iam::111122223333:role/enclave-app is not authorized to perform: kms:Decrypt on resource: "
            "arn:aws:kms:us-east-1:111122223333:key/k because no resource-based policy allows the kms:Decrypt action");
}

TEST(Statements, ActionsWildcardsAndNotAction) {
  struct Row {
    const char* pattern;
    const char* action;
    bool match;
  };
  const Row rows[] = {
      {"kms:Decrypt", "kms:Decrypt", true},      {"KMS:decrypt", "kms:Decrypt", true},
      {"kms:Decrypt", "kms:DecryptX", false},    {"kms:Generate*", "kms:GenerateDataKey", true},
      {"kms:Generate*", "kms:GenerateRandom", true}, {"kms:Generate*", "kms:Decrypt", false},
      {"kms:?ecrypt", "kms:Decrypt", true},      {"kms:?ncrypt", "kms:Encrypt", true},
      {"kms:?ecrypt", "kms:ReEncrypt", false},   {"kms:*", "kms:ScheduleKeyDeletion", true},
      {"*", "kms:Decrypt", true},                {"s3:*", "kms:Decrypt", false},
  };
  for (const auto& row : rows) {
    const Policy p = parse_ok(std::string(R"({"Statement":{"Effect":"Allow","Principal":"*","Action":")") +
                              row.pattern + R"(","Resource":"*"}})");
    EXPECT_EQ(evaluate(p, ctx(row.action)).allowed, row.match) << row.pattern << " vs " << row.action;
    const Policy n = parse_ok(std::string(R"({"Statement":{"Effect":"Allow","Principal":"*","NotAction":[")") +
                              row.pattern + R"("],"Resource":"*"}})");
    EXPECT_EQ(evaluate(n, ctx(row.action)).allowed, !row.match) << "NotAction " << row.pattern;
  }
}

// NotPrincipal is not "Principal negated": a Deny with NotPrincipal spares
// the caller only if it names every principal the request is made by (an
// account listed alone spared all its users and roles).
TEST(Statements, NotPrincipalSparesOnlyACallerNamedWithItsRoleAndAccount) {
  constexpr const char* kAlice = "arn:aws:iam::111122223333:user/alice";
  constexpr const char* kSession = "arn:aws:sts::111122223333:assumed-role/app/i-0abc";
  struct Row {
    const char* not_principal;  // JSON
    const char* caller;
    bool spared;
  };
  const Row rows[] = {
      {R"({"AWS":"arn:aws:iam::111122223333:root"})", kAlice, false},
      {R"({"AWS":"111122223333"})", kAlice, false},
      {R"({"AWS":"arn:aws:iam::111122223333:user/alice"})", kAlice, false},
      {R"({"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]})", kAlice, true},
      {R"({"AWS":["arn:aws:iam::111122223333:user/alice","111122223333"]})", kAlice, true},
      {R"({"AWS":["arn:aws:iam::111122223333:user/bob","111122223333"]})", kAlice, false},
      {R"({"AWS":"arn:aws:iam::111122223333:root"})", "arn:aws:iam::111122223333:root", true},
      {R"({"AWS":["arn:aws:iam::111122223333:role/app","arn:aws:iam::111122223333:root"]})", kSession, false},
      {R"({"AWS":[")" "arn:aws:sts::111122223333:assumed-role/app/i-0abc\",\"arn:aws:iam::111122223333:root\"]}",
       kSession, false},
      {R"({"AWS":[")" "arn:aws:sts::111122223333:assumed-role/app/i-0abc\",\"arn:aws:iam::111122223333:role/app\","
       "\"111122223333\"]}",
       kSession, true},
      // The session ARN has no role path: role/team/app is its role too.
      {R"({"AWS":[")" "arn:aws:sts::111122223333:assumed-role/app/i-0abc\",\"arn:aws:iam::111122223333:role/team/app\","
       "\"111122223333\"]}",
       kSession, true},
      {R"("*")", kAlice, true},
      {R"({"Service":"ec2.amazonaws.com"})", "ec2.amazonaws.com", true},
      {R"({"Service":"ec2.amazonaws.com"})", kAlice, false},
  };
  for (const auto& row : rows) {
    const Policy p = parse_ok(std::string(R"({"Statement":[)"
                                          R"({"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},)"
                                          R"({"Effect":"Deny","NotPrincipal":)") +
                              row.not_principal + R"(,"Action":"kms:Decrypt","Resource":"*"}]})");
    EXPECT_EQ(evaluate(p, ctx("kms:Decrypt", row.caller)).allowed, row.spared)
        << "NotPrincipal " << row.not_principal << " vs " << row.caller;
    // With Allow, the same rule decides whom the statement grants to.
    const Policy a = parse_ok(std::string(R"({"Statement":[{"Effect":"Allow","NotPrincipal":)") +
                              row.not_principal + R"(,"Action":"kms:Decrypt","Resource":"*"}]})");
    EXPECT_EQ(evaluate(a, ctx("kms:Decrypt", row.caller)).allowed, !row.spared)
        << "Allow NotPrincipal " << row.not_principal << " vs " << row.caller;
  }
}

TEST(Statements, PrincipalForms) {
  struct Row {
    const char* principal;  // JSON
    const char* caller;
    bool match;
  };
  const Row rows[] = {
      {R"("*")", "arn:aws:iam::999999999999:user/x", true},
      {R"({"AWS":"*"})", "arn:aws:iam::999999999999:user/x", true},
      {R"({"AWS":"arn:aws:iam::111122223333:root"})", kRole, true},
      {R"({"AWS":"arn:aws:iam::111122223333:root"})", "arn:aws:iam::999999999999:role/enclave-app", false},
      {R"({"AWS":"111122223333"})", "arn:aws:sts::111122223333:assumed-role/x/y", true},
      {R"({"AWS":["arn:aws:iam::111122223333:role/other",")" "arn:aws:iam::111122223333:role/enclave-app\"]}", kRole,
       true},
      {R"({"AWS":"arn:aws:iam::111122223333:role/enclave-app"})", "arn:aws:iam::111122223333:role/enclave-app2",
       false},
      {R"({"AWS":"arn:aws:iam::111122223333:role/enclave-app"})",
       "arn:aws:sts::111122223333:assumed-role/enclave-app/i-0abc", true},
      {R"({"AWS":"arn:aws:iam::111122223333:role/team/enclave-app"})",
       "arn:aws:sts::111122223333:assumed-role/enclave-app/i-0abc", true},
      {R"({"AWS":"arn:aws:iam::111122223333:role/enclave-app"})",
       "arn:aws:sts::999999999999:assumed-role/enclave-app/i-0abc", false},
      {R"({"AWS":"arn:aws:iam::111122223333:user/alice"})", "arn:aws:iam::111122223333:user/alice", true},
      {R"({"Service":"ec2.amazonaws.com"})", "ec2.amazonaws.com", true},
      {R"({"Service":"ec2.amazonaws.com"})", kRole, false},
  };
  for (const auto& row : rows) {
    const Policy p = parse_ok(std::string(R"({"Statement":[{"Effect":"Allow","Principal":)") + row.principal +
                              R"(,"Action":"kms:Decrypt","Resource":"*"}]})");
    EXPECT_EQ(evaluate(p, ctx("kms:Decrypt", row.caller)).allowed, row.match) << row.principal << " vs " << row.caller;
  }
  // The caller account may be given explicitly instead of derived from the ARN.
  const Policy acct = parse_ok(R"({"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},)"
                               R"("Action":"kms:*","Resource":"*"}})");
  RequestContext r = ctx("kms:Decrypt", "ec2.amazonaws.com");
  EXPECT_FALSE(evaluate(acct, r).allowed);
  r.caller_account = kAccount;
  EXPECT_TRUE(evaluate(acct, r).allowed);
}

TEST(Statements, Resources) {
  const std::string key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  const Policy p = parse_ok(R"({"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*",)"
                            R"("Resource":"arn:aws:kms:*:111122223333:key/*"}})");
  RequestContext r = ctx();
  EXPECT_TRUE(evaluate(p, r).allowed);  // no resource given: the key the policy is attached to
  r.resource = key;
  EXPECT_TRUE(evaluate(p, r).allowed);
  r.resource = "arn:aws:kms:us-east-1:999999999999:key/x";
  EXPECT_FALSE(evaluate(p, r).allowed);
  const Policy n = parse_ok(R"({"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*",)"
                            R"("NotResource":"arn:aws:kms:*:999999999999:key/*"}})");
  EXPECT_FALSE(evaluate(n, r).allowed);
  r.resource = key;
  EXPECT_TRUE(evaluate(n, r).allowed);
}

TEST(Statements, ExplicitDenyWins) {
  const Policy p = parse_ok(R"({"Version":"2012-10-17","Statement":[
    {"Sid":"AllowAll","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
    {"Sid":"DenyDebugEnclaves","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
     "Condition":{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:PCR0":")" +
                            std::string(96, '0') + R"("}}}]})");
  RequestContext debug = ctx();
  add_recipient_attestation(debug, {{0, Bytes(48, 0)}});
  const Decision d = evaluate(p, debug);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.explicit_deny);
  EXPECT_EQ(d.statement_index, 1u);
  EXPECT_EQ(d.decided_by(), "statement \"DenyDebugEnclaves\"");
  EXPECT_EQ(access_denied_message(debug.principal_arn, "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k", true),
            "User: arn:aws:iam::111122223333:role/enclave-app is not authorized to perform: kms:Decrypt on resource: "
            "arn:aws:kms:us-east-1:111122223333:key/k with an explicit deny in a resource-based policy");

  RequestContext prod = ctx();
  add_recipient_attestation(prod, {{0, Bytes(48, 0x11)}});
  const Decision a = evaluate(p, prod);
  EXPECT_TRUE(a.allowed);
  EXPECT_EQ(a.decided_by(), "statement \"AllowAll\"");
  ASSERT_EQ(a.condition_misses.size(), 1u);  // the Deny did not apply, and says why
  EXPECT_EQ(a.condition_misses[0].effect, Effect::kDeny);

  EXPECT_TRUE(evaluate(p, ctx("kms:Encrypt")).allowed);  // Deny covers Decrypt only
  // No attestation: StringEqualsIgnoreCase on a missing key is false, so the Deny does not apply.
  EXPECT_TRUE(evaluate(p, ctx()).allowed);
}

TEST(Statements, UnnamedStatementsAreIdentifiedByIndex) {
  const Policy p = parse_ok(R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"},
    {"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]})");
  EXPECT_EQ(evaluate(p, ctx()).decided_by(), "statement #1");
  EXPECT_EQ(evaluate(p, ctx("kms:Encrypt")).decided_by(), "statement #0");
}

TEST(DefaultPolicy, TextAndBehaviour) {
  const std::string text = default_key_policy(kAccount);
  EXPECT_EQ(text,
            "{\n"
            "  \"Version\" : \"2012-10-17\",\n"
            "  \"Id\" : \"key-default-1\",\n"
            "  \"Statement\" : [ {\n"
            "    \"Sid\" : \"Enable IAM User Permissions\",\n"
            "    \"Effect\" : \"Allow\",\n"
            "    \"Principal\" : {\n"
            "      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n"
            "    },\n"
            "    \"Action\" : \"kms:*\",\n"
            "    \"Resource\" : \"*\"\n"
            "  } ]\n"
            "}");
  const Policy p = parse_ok(text);
  EXPECT_EQ(p.id, "key-default-1");
  for (const char* action : {"kms:Decrypt", "kms:PutKeyPolicy", "kms:GenerateRandom"}) {
    const Decision d = evaluate(p, ctx(action));
    EXPECT_TRUE(d.allowed) << action;
    EXPECT_EQ(d.decided_by(), "statement \"Enable IAM User Permissions\"");
  }
  EXPECT_FALSE(evaluate(p, ctx("kms:Decrypt", "arn:aws:iam::999999999999:role/enclave-app")).allowed);
  EXPECT_NE(default_key_policy(kAccount, "aws-cn").find("arn:aws-cn:iam::111122223333:root"), std::string::npos);
}

TEST(Parse, AcceptsIamShapes) {
  const Policy p = parse_ok(R"({"Id":"x","Statement":{"Sid":"s","Effect":"Deny","Principal":{"AWS":["*"]},
    "Action":["kms:Decrypt","kms:Encrypt"],"Resource":["*"],
    "Condition":{"ForAnyValue:StringLikeIfExists":{"k":["a*",1,true]}}}})");
  ASSERT_EQ(p.statements.size(), 1u);
  EXPECT_EQ(p.version, "2008-10-17");
  const Statement& st = p.statements[0];
  EXPECT_EQ(st.effect, Effect::kDeny);
  EXPECT_TRUE(st.principal.everyone);
  EXPECT_EQ(st.actions.size(), 2u);
  ASSERT_EQ(st.conditions.size(), 1u);
  EXPECT_EQ(st.conditions[0].op, ConditionOp::kStringLike);
  EXPECT_EQ(st.conditions[0].qualifier, SetQualifier::kForAnyValue);
  EXPECT_TRUE(st.conditions[0].if_exists);
  EXPECT_EQ(st.conditions[0].values, (std::vector<std::string>{"a*", "1", "true"}));
}

TEST(Parse, RejectsMalformedPolicies) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "not valid JSON"},
      {"{\"Statement\":[}", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"Version":"2012-10-17"})", "no Statement"},
      {R"({"Version":"2020-01-01","Statement":[]})", "Version must be"},
      {R"({"Statement":[]})", "empty array"},
      {R"({"Statement":"x"})", "Statement must be an object"},
      {R"({"Foo":1,"Statement":[]})", "unknown top-level element \"Foo\""},
      // Boost.JSON keeps the last of two equal keys: the Deny read as an Allow.
      {R"({"Statement":[{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]})",
       "the element \"Effect\" appears twice in one object"},
      {R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}],"Statement":[]})",
       "the element \"Statement\" appears twice"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":)"
       R"({"StringEquals":{"kms:RecipientAttestation:PCR0":"a","kms:RecipientAttestation:PCR0":"b"}}}]})",
       "the element \"kms:RecipientAttestation:PCR0\" appears twice"},
      {R"({"Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},)"
       R"({"Sid":"A","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]})",
       "Statement 1 (\"A\"): another statement has the same Sid"},
      {R"({"Statement":[{"Principal":"*","Action":"kms:*","Resource":"*"}]})", "Statement 0 has no Effect"},
      {R"({"Statement":[{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}]})",
       "Effect must be \"Allow\" or \"Deny\""},
      {R"({"Statement":[{"Sid":"S1","Effect":"Allow","Action":"kms:*","Resource":"*"}]})",
       "Statement 0 (\"S1\") has no Principal"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:x","Resource":"*"}]})",
       "both Action and NotAction"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}]})",
       "both Principal and NotPrincipal"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"Decrypt","Resource":"*"}]})",
       "must be \"*\" or have the form service:Action"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}]})", "Action is an empty array"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":[1],"Resource":"*"}]})", "only strings"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/1"}]})",
       "must be \"*\" or an ARN"},
      {R"({"Statement":[{"Effect":"Allow","Principal":"me","Action":"kms:*","Resource":"*"}]})",
       "Principal must be \"*\" or an object"},
      {R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}]})",
       "one or more invalid principals"},
      // IAM allows no partial wildcards in principals, and only IAM/STS ARNs of an account.
      {R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:*"},"Action":"kms:*",)"
       R"("Resource":"*"}]})",
       "one or more invalid principals: \"arn:aws:iam::111122223333:*\""},
      {R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"kms:*",)"
       R"("Resource":"*"}]})",
       "invalid principals"},
      {R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:garbage"},"Action":"kms:*","Resource":"*"}]})",
       "invalid principals"},
      {R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::bucket"},"Action":"kms:*",)"
       R"("Resource":"*"}]})",
       "invalid principals"},
      {R"({"Statement":[{"Effect":"Allow","Principal":{"Robot":"x"},"Action":"kms:*","Resource":"*"}]})",
       "unknown principal type \"Robot\""},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Extra":1}]})",
       "unknown element \"Extra\""},
      {allow_with(R"({"StringEqualz":{"k":"v"}})"), "unknown condition operator \"StringEqualz\""},
      {allow_with(R"({"NumericLessThan":{"k":"1 day"}})"), "value \"1 day\" is not a number"},
      {allow_with(R"({"DateLessThan":{"aws:CurrentTime":"2026-02-30T00:00:00Z"}})"), "is not an ISO 8601 date"},
      {allow_with(R"({"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}})"), "is not an IPv4 or IPv6 address"},
      {allow_with(R"({"BinaryEquals":{"k":"not base64!"}})"), "is not base64"},
      {allow_with(R"({"NullIfExists":{"k":"true"}})"), "Null cannot take the IfExists suffix"},
      {allow_with(R"({"ForAnyValue:Null":{"k":"true"}})"), "Null cannot take a set qualifier"},
      {allow_with(R"({"Bool":{"k":"yes"}})"), "must be \"true\" or \"false\""},
      {allow_with(R"({"StringEquals":{}})"), "non-empty object"},
      {allow_with(R"({"StringEquals":{"k":null}})"), "must be a string or an array"},
      {allow_with(R"({"StringEquals":{"k":{"a":1}}})"), "must be a string or an array"},
      {allow_with(R"({"ForAllValues:StringEquals":{"kms:EncryptionContext:AppName":"x"}})"),
       "OverlyPermissiveCondition:EncryptionContext"},
      {allow_with(R"("x")"), "Condition must be an object"},
      {"{\"Statement\":" + std::string(200000, ' ') + "}", "the maximum is 131072"},
  };
  for (const auto& [json, needle] : cases) {
    auto p = parse_policy(json);
    ASSERT_FALSE(p) << json;
    EXPECT_EQ(p.error().code, Errc::kMalformedPolicy) << json;
    EXPECT_NE(p.error().message.find(needle), std::string::npos) << json << "\n -> " << p.error().message;
    EXPECT_EQ(p.error().message.rfind("policy: ", 0), 0u) << p.error().message;
  }
}

TEST(Parse, NumbersInConditionsKeepTheirWrittenForm) {
  const Policy p = parse_ok(R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",)"
                            R"("Condition":{"StringEquals":{"kms:EncryptionContext:v":[1.5, 7, 0.25, 1.0, 10E2, -0, 123456789012345678901234]}}}]})");
  EXPECT_EQ(p.statements[0].conditions[0].values,
            (std::vector<std::string>{"1.5", "7", "0.25", "1.0", "10E2", "-0", "123456789012345678901234"}));
}

TEST(Parse, AttachableDocumentsFollowKmsQuotaAndCharacterSet) {
  const std::string small = R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]})";
  EXPECT_TRUE(check_attachable(small));
  EXPECT_TRUE(check_attachable("{\"Id\":\"caf\xc3\xa9\t\xc2\xa0\"}"));  // U+00E9, U+00A0: Latin-1
  const auto cjk = check_attachable("{\"Id\":\"\xe4\xb8\xad\"}");       // U+4E2D
  ASSERT_FALSE(cjk);
  EXPECT_EQ(cjk.error().code, Errc::kValidation);
  EXPECT_FALSE(check_attachable(std::string("{\"Id\":\"\x01\"}")));
  EXPECT_FALSE(check_attachable("{\"Id\":\"\xc3\"}"));  // truncated UTF-8
  std::string big = small;
  big.insert(1, "\"Id\":\"" + std::string(kKeyPolicyQuotaBytes, 'x') + "\",");
  const auto over = check_attachable(big);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::kLimitExceeded);
  EXPECT_TRUE(parse_policy(big));  // the grammar allows it: only attaching it fails
}

TEST(Context, DefaultKeysFromThePrincipal) {
  const Policy p = parse_ok(allow_with(R"({"StringEquals":{"kms:CallerAccount":"111122223333"},)"
                                       R"("ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/enclave-*"}})"));
  EXPECT_TRUE(evaluate(p, ctx()).allowed);
  EXPECT_FALSE(evaluate(p, ctx("kms:Decrypt", "arn:aws:iam::999999999999:role/enclave-app")).allowed);
  // An explicit context value overrides the default.
  RequestContext r = ctx();
  r.keys["kms:CallerAccount"] = {"444455556666"};
  EXPECT_FALSE(evaluate(p, r).allowed);
}

// KMS accepts a statement without Action or Resource (PutKeyPolicy API
// reference: "the policy statement is ineffective"), so a GetKeyPolicy output
// with one still parses; such a statement never applies. Unique principal IDs
// (a deleted role shows as AROA...) parse too and match nobody.
TEST(Parse, IneffectiveStatementsAndUniqueIds) {
  const Policy p = parse_ok(R"({"Version":"2012-10-17","Statement":[
    {"Sid":"NoResource","Effect":"Allow","Principal":"*","Action":"kms:*"},
    {"Sid":"NoAction","Effect":"Allow","Principal":"*","Resource":"*"},
    {"Sid":"Gone","Effect":"Allow","Principal":{"AWS":"AROAEXAMPLEID0000001"},"Action":"kms:*","Resource":"*"}]})");
  ASSERT_EQ(p.statements.size(), 3U);
  EXPECT_FALSE(p.statements[0].effective());
  EXPECT_FALSE(p.statements[1].effective());
  EXPECT_TRUE(p.statements[2].effective());
  const Decision d = evaluate(p, ctx());
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.statement_index.has_value());
  RequestContext with_resource = ctx();
  with_resource.resource = "arn:aws:kms:us-east-1:111122223333:key/k";
  EXPECT_FALSE(evaluate(p, with_resource).allowed);
}

TEST(Match, Wildcards) {
  EXPECT_TRUE(wildcard_match("", "", false));
  EXPECT_FALSE(wildcard_match("", "a", false));
  EXPECT_TRUE(wildcard_match("*", "", false));
  EXPECT_TRUE(wildcard_match("a*b*c", "axxbyyc", false));
  EXPECT_FALSE(wildcard_match("a*b*c", "axxbyy", false));
  EXPECT_TRUE(wildcard_match("A?C", "abc", true));
  EXPECT_FALSE(wildcard_match("A?C", "abc", false));
  // '?' is one character, not one byte (encryption context values are UTF-8).
  EXPECT_TRUE(wildcard_match("caf?", "caf\xC3\xA9", false));
  EXPECT_FALSE(wildcard_match("caf??", "caf\xC3\xA9", false));
  EXPECT_TRUE(wildcard_match("*?", "\xE2\x82\xAC", false));
  EXPECT_FALSE(wildcard_match("*??", "\xE2\x82\xAC", false));
  EXPECT_TRUE(wildcard_match("*??", "a\xE2\x82\xAC", false));
  EXPECT_TRUE(wildcard_match("?", "\xF0\x9F\x94\x91", false));
  EXPECT_TRUE(wildcard_match("?", "\xC3", false));  // a truncated sequence is one byte
  EXPECT_FALSE(wildcard_match("??", "\xC3", false));
  // Pathological pattern stays fast (no exponential backtracking).
  const std::string text(20000, 'a');
  EXPECT_FALSE(wildcard_match("*a*a*a*a*a*a*a*a*b", text, false));
  EXPECT_TRUE(arn_match("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:eu-west-1:111122223333:key/k"));
  EXPECT_FALSE(arn_match("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:eu-west-1:111122223333:alias/k"));
  // '*' in one segment does not swallow colons of the next.
  EXPECT_FALSE(arn_match("arn:aws:*:111122223333:key/k", "arn:aws:kms:eu-west-1:111122223333:key/k"));
  EXPECT_TRUE(arn_match("*", "anything"));
}

}  // namespace
}  // namespace kp::policy
