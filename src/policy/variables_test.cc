// Tests for policy variables (policy/variables.h) through evaluate():
// resolution, defaults, literal characters, escapes in patterns, the
// resolution budget, IfExists and variables in Resource.
#include <gtest/gtest.h>

#include <string>

#include "policy/policy.h"
#include "policy/policy_test_support.h"

namespace kp::policy {
namespace {

using testing::ctx;
using testing::parse_ok;

// Policy variables (2012-10-17): a Deny naming ${aws:PrincipalAccount} was
// read literally and never applied.
TEST(Conditions, PolicyVariables) {
  auto decide = [](const std::string& version, const std::string& op, const std::string& key,
                   const std::string& value, RequestContext c) {
    const Policy p = parse_ok(R"({"Version":")" + version + R"(","Statement":[{"Effect":"Allow","Principal":"*",)"
                              R"("Action":"kms:*","Resource":"*","Condition":{")" + op + R"(":{")" + key +
                              R"(":")" + value + R"("}}}]})");
    return evaluate(p, c).allowed;
  };
  RequestContext c = ctx("kms:Decrypt", "arn:aws:iam::111122223333:role/parent");
  c.keys["kms:EncryptionContext:owner"] = {"111122223333"};
  c.keys["kms:EncryptionContext:pattern"] = {"a*b"};
  const std::string arn_of_caller = "arn:aws:iam::${aws:PrincipalAccount}:role/parent";
  EXPECT_TRUE(decide("2012-10-17", "ArnEquals", "aws:PrincipalArn", arn_of_caller, c));
  EXPECT_FALSE(decide("2008-10-17", "ArnEquals", "aws:PrincipalArn", arn_of_caller, c));  // literal there
  EXPECT_TRUE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:owner", "${AWS:principalaccount}", c));
  // A key without a value: the default, else the condition fails.
  EXPECT_TRUE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:owner", "${aws:username, '111122223333'}", c));
  EXPECT_FALSE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:owner", "${aws:username}", c));
  EXPECT_FALSE(decide("2012-10-17", "StringNotEquals", "kms:EncryptionContext:owner", "${aws:username}", c));
  EXPECT_TRUE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:pattern", "a${*}b", c));
  EXPECT_FALSE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:pattern", "${foo", c));  // malformed
  // In a pattern ${*} and a substituted value are literal, the rest stays a wildcard.
  RequestContext star = c;
  star.keys["kms:EncryptionContext:pattern"] = {"axxb"};
  EXPECT_FALSE(decide("2012-10-17", "StringLike", "kms:EncryptionContext:pattern", "a${*}b", star));
  EXPECT_TRUE(decide("2012-10-17", "StringLike", "kms:EncryptionContext:pattern", "a${*}b", c));
  EXPECT_TRUE(decide("2012-10-17", "StringLike", "kms:EncryptionContext:pattern", "a*b", star));
  EXPECT_TRUE(decide("2012-10-17", "StringLike", "kms:EncryptionContext:pattern", "${aws:PrincipalAccount, 'x'}*", [&] {
    RequestContext r = c;
    r.keys["kms:EncryptionContext:pattern"] = {"111122223333-suffix"};
    return r;
  }()));
  EXPECT_TRUE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:pattern", "${aws:none, 'a*b'}", c));
  EXPECT_TRUE(decide("2012-10-17", "StringEquals", "kms:EncryptionContext:owner", "${aws:none, 'it''s'}", [&] {
    RequestContext r = c;
    r.keys["kms:EncryptionContext:owner"] = {"it's"};
    return r;
  }()));
}

TEST(Conditions, PolicyVariablesEscapesBudgetIfExistsAndResources) {
  auto policy = [](const std::string& statement_rest) {
    return parse_ok(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*",)" +
                    statement_rest + "}]}");
  };
  // A request value is literal in a pattern, \u0001 included (it was the
  // internal escape: "\x01X" put into the pattern matched "X").
  const Policy like = policy(R"("Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":"${kms:EncryptionContext:b}"}})");
  RequestContext c = ctx();
  c.keys["kms:EncryptionContext:a"] = {"X"};
  c.keys["kms:EncryptionContext:b"] = {std::string("\x01X")};
  EXPECT_FALSE(evaluate(like, c).allowed);
  c.keys["kms:EncryptionContext:a"] = {std::string("\x01X")};
  EXPECT_TRUE(evaluate(like, c).allowed);
  // A written \u0001 is a character, with or without variables; '*' stays a wildcard.
  const Policy written = policy(R"("Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":"\u0001*"}})");
  c.keys["kms:EncryptionContext:a"] = {"*"};
  EXPECT_FALSE(evaluate(written, c).allowed);
  c.keys["kms:EncryptionContext:a"] = {std::string("\x01") + "anything"};
  EXPECT_TRUE(evaluate(written, c).allowed);

  // Resolved text is bounded per evaluation: past the budget a variable does not resolve.
  const Policy eq = policy(R"("Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:a":"${kms:EncryptionContext:b}"}})");
  RequestContext big = ctx();
  big.keys["kms:EncryptionContext:a"] = {std::string(1000, 'v')};
  big.keys["kms:EncryptionContext:b"] = {std::string(1000, 'v')};
  EXPECT_TRUE(evaluate(eq, big).allowed);
  big.keys["kms:EncryptionContext:a"] = {std::string(kKeyPolicyQuotaBytes * 2 + 1, 'v')};
  big.keys["kms:EncryptionContext:b"] = big.keys["kms:EncryptionContext:a"];
  EXPECT_FALSE(evaluate(eq, big).allowed);

  // ...IfExists on an absent key holds even if a variable would not resolve.
  const Policy if_exists = policy(R"("Resource":"*","Condition":{"StringEqualsIfExists":{"kms:EncryptionContext:a":"${kms:EncryptionContext:zz}"}})");
  EXPECT_TRUE(evaluate(if_exists, ctx()).allowed);
  RequestContext present = ctx();
  present.keys["kms:EncryptionContext:a"] = {"x"};
  EXPECT_FALSE(evaluate(if_exists, present).allowed);

  // Variables in Resource (2012-10-17): resolved, then matched as a pattern.
  const Policy res = policy(R"("Resource":"arn:aws:kms:us-east-1:111122223333:${kms:EncryptionContext:k}*")");
  RequestContext r = ctx();
  r.resource = "arn:aws:kms:us-east-1:111122223333:key/1234";
  EXPECT_FALSE(evaluate(res, r).allowed);
  r.keys["kms:EncryptionContext:k"] = {"key/"};
  EXPECT_TRUE(evaluate(res, r).allowed);
  r.keys["kms:EncryptionContext:k"] = {"alias/"};
  EXPECT_FALSE(evaluate(res, r).allowed);
}

// policy-check says why a variable did not resolve (it showed the raw
// ${...} as the expected value, and nothing else).
TEST(Conditions, UnresolvedVariablesAreExplained) {
  auto why = [](const std::string& value, RequestContext c) {
    const Policy p = parse_ok(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",)"
                              R"("Action":"kms:*","Resource":"*","Condition":{"StringEquals":{)"
                              R"("kms:EncryptionContext:team":")" + value + R"("}}}]})");
    const Decision d = evaluate(p, c);
    EXPECT_FALSE(d.allowed) << value;
    if (d.condition_misses.size() != 1 || d.condition_misses[0].failures.size() != 1) {
      ADD_FAILURE() << value;
      return std::string();
    }
    return d.condition_misses[0].failures[0].unresolved;
  };
  RequestContext c = ctx();
  c.keys["kms:EncryptionContext:team"] = {"x"};
  EXPECT_EQ(why("${aws:PrincipalTag/team}", c), "${aws:PrincipalTag/team}: the request has no aws:PrincipalTag/team");
  RequestContext two = c;
  two.keys["kms:EncryptionContext:other"] = {"a", "b"};
  EXPECT_EQ(why("${kms:EncryptionContext:other}", two),
            "${kms:EncryptionContext:other}: the request has 2 values of kms:EncryptionContext:other (a variable "
            "takes one)");
  EXPECT_EQ(why("${team", c), "'${' without its '}'");
  EXPECT_EQ(why("${aws:x, nope}", c), "${aws:x, nope}: the default is not a 'quoted' text");
  EXPECT_EQ(why("${a b}", c), "${a b}: not a condition key name");
  // A variable that resolves to another value: a plain mismatch, no note.
  RequestContext tagged = c;
  tagged.keys["aws:PrincipalTag/team"] = {"y"};
  EXPECT_EQ(why("${aws:PrincipalTag/team}", tagged), "");
  // describe() carries the reason.
  ConditionFailure f{ConditionOp::kStringEquals, "StringEquals", "kms:EncryptionContext:team",
                     {"${aws:PrincipalTag/team}"}, {"x"}, true, "${aws:PrincipalTag/team}: the request has no aws:PrincipalTag/team"};
  EXPECT_EQ(describe(f), "StringEquals kms:EncryptionContext:team: expected ${aws:PrincipalTag/team}, request has x "
                         "(a policy variable does not resolve, so the condition cannot hold: "
                         "${aws:PrincipalTag/team}: the request has no aws:PrincipalTag/team)");
}

}  // namespace
}  // namespace kp::policy
