// Tests for config/egress.h: the pattern table, deny-wins, IP/CIDR handling,
// suggestions, check_hosts and the Enclaver compatibility notes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/egress.h"

namespace kp::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Row {
  std::string pattern;
  std::string host;
  bool allowed;
};

class PatternTable : public ::testing::TestWithParam<Row> {};

TEST_P(PatternTable, AllowListOfOnePattern) {
  const Row& r = GetParam();
  auto policy = EgressPolicy::compile(std::vector<std::string>{r.pattern}, std::vector<std::string>{});
  ASSERT_TRUE(policy.has_value()) << policy.error().message;
  EXPECT_EQ(policy->allowed(r.host), r.allowed) << "'" << r.pattern << "' vs " << r.host << ": "
                                                << policy->decide(r.host).reason;
}

INSTANTIATE_TEST_SUITE_P(
    Egress, PatternTable,
    ::testing::Values(
        // The seed's pattern: `*` is one or more labels.
        Row{"kms.*", "kms.us-east-1.amazonaws.com", true}, Row{"kms.*", "kms.com", true},
        Row{"kms.*", "kms", false}, Row{"kms.*", "sts.us-east-1.amazonaws.com", false},
        Row{"kms.*", "kms-fips.us-east-1.amazonaws.com", false},
        Row{"kms.*", "xkms.us-east-1.amazonaws.com", false},
        // Enclaver's documented pattern.
        Row{"kms.*.amazonaws.com", "kms.us-east-1.amazonaws.com", true},
        Row{"kms.*.amazonaws.com", "kms.amazonaws.com", false},
        Row{"kms.*.amazonaws.com", "kms-fips.us-east-1.amazonaws.com", false},
        Row{"kms.*.amazonaws.com", "kms.us-east-1.amazonaws.com.evil.org", false},
        Row{"kms.*.amazonaws.com", "kms.a.b.amazonaws.com", true},
        // Leading wildcard, and `**` (same as `*` here).
        Row{"*.amazonaws.com", "kms.us-east-1.amazonaws.com", true},
        Row{"*.amazonaws.com", "amazonaws.com", false},
        Row{"**.amazonaws.com", "kms.us-east-1.amazonaws.com", true},
        Row{"**.amazonaws.com", "amazonaws.com", false},
        Row{"kms.**", "kms.us-east-1.amazonaws.com", true},
        Row{"kms.**", "evil.example.org", false},  // Enclaver: admitted (its `**` bug)
        Row{"foo.**.com", "foo.x.y.com", true}, Row{"foo.**.com", "bar.x.y.com", false},
        Row{"foo.**.com", "foo.com", false}, Row{"*", "anything.example", true}, Row{"*", "localhost", true},
        Row{"*.*", "a.b", true}, Row{"*.*", "a", false},
        // Exact names: case and trailing dots ignored, labels whole.
        Row{"example.com", "example.com", true}, Row{"example.com", "EXAMPLE.COM", true},
        Row{"Example.COM", "example.com", true}, Row{"example.com", "example.com.", true},
        Row{"example.com.", "example.com", true}, Row{"example.com", "www.example.com", false},
        Row{"example.com", "example.co", false}, Row{"example.com", "badexample.com", false},
        // IP literals and CIDRs match IP hosts only.
        Row{"169.254.169.254", "169.254.169.254", true}, Row{"169.254.169.254", "169.254.169.25", false},
        Row{"169.254.0.0/16", "169.254.170.2", true}, Row{"169.254.0.0/16", "169.255.0.1", false},
        Row{"10.0.0.1/8", "10.200.0.1", true},  // host bits in the pattern are masked
        Row{"0.0.0.0/0", "8.8.8.8", true}, Row{"0.0.0.0/0", "dns.google", false},
        Row{"fd00:ec2::254", "fd00:ec2::254", true}, Row{"fd00:ec2::254", "[fd00:ec2::254]", true},
        Row{"fd00:ec2::254", "FD00:EC2:0:0:0:0:0:254", true}, Row{"fd00::/8", "fd12::1", true},
        Row{"fd00::/8", "fe80::1", false}, Row{"::/0", "169.254.169.254", false},
        Row{"169.254.169.254", "::ffff:169.254.169.254", true},  // mapped IPv6 seen as IPv4
        // Host names never match IP patterns, IP literals never match names.
        Row{"169.254.169.254", "metadata", false}, Row{"*", "169.254.169.254", false},
        Row{"*.*.*.*", "10.0.0.1", false},
        // Malformed hosts are never allowed.
        Row{"*", "", false}, Row{"*", "a..b", false}, Row{"*", "host:443", false}, Row{"*", "127.1", false},
        Row{"*", "under_score.example", false}, Row{"*", "fe80::1%eth0", false}));

TEST(EgressPolicy, DenyWins) {
  auto p = EgressPolicy::compile(std::vector<std::string>{"*.amazonaws.com", "169.254.0.0/16"},
                                 std::vector<std::string>{"sts.*", "169.254.170.2"});
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->allowed("kms.eu-west-1.amazonaws.com"));
  EXPECT_FALSE(p->allowed("sts.eu-west-1.amazonaws.com"));
  EXPECT_TRUE(p->allowed("169.254.169.254"));
  EXPECT_FALSE(p->allowed("169.254.170.2"));
  EXPECT_EQ(p->decide("sts.eu-west-1.amazonaws.com").reason, "denied by egress.deny pattern 'sts.*'");
  EXPECT_EQ(p->decide("kms.eu-west-1.amazonaws.com").reason,
            "allowed by egress.allow pattern '*.amazonaws.com'");
}

TEST(EgressPolicy, NotConfiguredAdmitsAllButDenied) {
  EgressPolicy open;
  EXPECT_FALSE(open.configured());
  EXPECT_TRUE(open.allowed("anything.example"));
  EXPECT_FALSE(open.allowed("not a host"));
  auto deny_only = EgressPolicy::compile(std::vector<std::string>{}, std::vector<std::string>{"169.254.169.254"});
  ASSERT_TRUE(deny_only.has_value());
  EXPECT_FALSE(deny_only->configured());
  EXPECT_TRUE(deny_only->allowed("kms.us-east-1.amazonaws.com"));
  EXPECT_FALSE(deny_only->allowed("169.254.169.254"));
}

TEST(EgressPolicy, CompileReportsEveryBadPattern) {
  auto p = EgressPolicy::compile(std::vector<std::string>{"ok.example", "a*b.example", ""},
                                 std::vector<std::string>{"1.2.3.4/40"});
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, Errc::kValidation);
  EXPECT_EQ(p.error().message,
            "egress: egress.allow pattern 'a*b.example': a wildcard must be a whole label ('*' or '**'), not "
            "part of 'a*b'; egress.allow pattern '': empty pattern; egress.deny pattern '1.2.3.4/40': CIDR "
            "prefix length must be 0..32");
}

TEST(EgressPolicy, PatternErrors) {
  EXPECT_FALSE(egress_pattern_error("kms.*").has_value());
  EXPECT_FALSE(egress_pattern_error("**").has_value());
  EXPECT_FALSE(egress_pattern_error("::1").has_value());
  EXPECT_FALSE(egress_pattern_error("[::1]").has_value());
  EXPECT_THAT(*egress_pattern_error("kms.*.amazonaws.com "), HasSubstr("whitespace"));
  EXPECT_THAT(*egress_pattern_error(".example.com"), HasSubstr("empty label"));
  EXPECT_THAT(*egress_pattern_error("host.123"), HasSubstr("last label is numeric"));
  EXPECT_THAT(*egress_pattern_error("x/8"), HasSubstr("CIDR pattern needs"));
  EXPECT_THAT(*egress_pattern_error("10.0.0.0/"), HasSubstr("prefix length"));
  EXPECT_THAT(*egress_pattern_error("bad_label.com"), HasSubstr("not a valid DNS label"));
}

TEST(EgressPolicy, CopyAndMove) {
  auto p = EgressPolicy::compile(std::vector<std::string>{"kms.*"}, std::vector<std::string>{});
  ASSERT_TRUE(p.has_value());
  EgressPolicy copy = *p;
  EgressPolicy moved = std::move(*p);
  EXPECT_TRUE(copy.allowed("kms.x.y"));
  EXPECT_TRUE(moved.allowed("kms.x.y"));
  EXPECT_FALSE(copy.allowed("sts.x.y"));
}

TEST(SuggestPattern, Forms) {
  EXPECT_EQ(suggest_pattern("kms.us-east-1.amazonaws.com"), std::optional<std::string>("kms.*.amazonaws.com"));
  EXPECT_EQ(suggest_pattern("KMS-FIPS.us-gov-west-1.amazonaws.com."),
            std::optional<std::string>("kms-fips.*.amazonaws.com"));
  EXPECT_EQ(suggest_pattern("kms.cn-north-1.amazonaws.com.cn"),
            std::optional<std::string>("kms.*.amazonaws.com.cn"));
  EXPECT_EQ(suggest_pattern("169.254.169.254"), std::optional<std::string>("169.254.169.254"));
  EXPECT_EQ(suggest_pattern("[FD00:EC2::254]"), std::optional<std::string>("fd00:ec2::254"));
  EXPECT_EQ(suggest_pattern("::ffff:169.254.169.254"), std::optional<std::string>("169.254.169.254"));
  EXPECT_EQ(suggest_pattern("sts.amazonaws.com"), std::optional<std::string>("sts.amazonaws.com"));
  EXPECT_EQ(suggest_pattern("kms.internal.example.com"), std::optional<std::string>("kms.internal.example.com"));
  EXPECT_FALSE(suggest_pattern("not a host").has_value());
  // Every suggestion admits its host.
  for (const char* host : {"kms.us-east-1.amazonaws.com", "kms.cn-north-1.amazonaws.com.cn", "169.254.169.254",
                           "sts.amazonaws.com", "fd00:ec2::254"}) {
    auto p = EgressPolicy::compile(std::vector<std::string>{*suggest_pattern(host)}, std::vector<std::string>{});
    ASSERT_TRUE(p.has_value()) << host;
    EXPECT_TRUE(p->allowed(host)) << host;
  }
}

TEST(CheckHosts, NamesHostAndPattern) {
  EgressOptions e;
  e.allow = {"169.254.169.254"};
  e.deny = {"kms-fips.*"};
  const std::vector<std::string> hosts = {"169.254.169.254", "kms.us-east-1.amazonaws.com",
                                          "kms-fips.us-east-1.amazonaws.com"};
  const auto d = check_hosts(e, hosts, Origin{"enclaver.yaml", 7, 3}, "KMS");
  std::vector<std::string> got;
  for (const auto& x : d) {
    got.push_back(x.to_string());
  }
  EXPECT_THAT(got, ElementsAre("enclaver.yaml:7: egress policy does not admit kms.us-east-1.amazonaws.com (KMS): "
                               "no egress.allow pattern matches; add 'kms.*.amazonaws.com' to egress.allow",
                               "enclaver.yaml:7: egress policy does not admit kms-fips.us-east-1.amazonaws.com "
                               "(KMS): denied by egress.deny pattern 'kms-fips.*'"));
  EXPECT_THAT(check_hosts(EgressOptions{}, hosts), IsEmpty());  // not configured
}

TEST(EnclaverCompatibility, Notes) {
  const std::vector<std::string> allow = {"kms.*", "kms.*.amazonaws.com", "**.amazonaws.com",
                                          "foo.**.com", "*.amazonaws.com", "169.254.169.254", "10.0.0.0/8"};
  const auto notes = enclaver_compatibility_notes(allow);
  ASSERT_EQ(notes.size(), 3U);
  EXPECT_THAT(notes[0], HasSubstr("'kms.*': Enclaver's own egress proxy reads a trailing '*' as exactly one"));
  EXPECT_THAT(notes[1], HasSubstr("'foo.**.com': Enclaver's own egress proxy admits every name"));
  EXPECT_THAT(notes[2], HasSubstr("'*.amazonaws.com': Enclaver's own egress proxy reads '*' as exactly one"));
  const std::vector<std::string> star = {"*", "**"};
  EXPECT_THAT(enclaver_compatibility_notes(star),
              ElementsAre(HasSubstr("'*': here it admits every host name; Enclaver's own egress proxy reads it "
                                    "as exactly one label")));
}

// Enclaver's matcher as enclaver-reference.md 4.3 describes it (its table).
TEST(EnclaverCompatibility, EnclaversOwnMatcher) {
  for (const auto& r : {
           Row{"kms.*", "kms.us-east-1.amazonaws.com", false}, Row{"kms.*", "kms.com", true},
           Row{"kms.*.amazonaws.com", "kms.us-east-1.amazonaws.com", true},
           Row{"kms.*.amazonaws.com", "kms-fips.us-east-1.amazonaws.com", false},
           Row{"*.amazonaws.com", "kms.us-east-1.amazonaws.com", false},
           Row{"**.amazonaws.com", "kms.us-east-1.amazonaws.com", true},
           Row{"**.amazonaws.com", "amazonaws.com", false}, Row{"kms.**", "evil.example.org", true},
           Row{"foo.**.com", "x.y.com", true}, Row{"example.com", "example.com.", false},
           Row{"KMS.*.AmazonAWS.com", "kms.eu-west-1.amazonaws.com", true},
           Row{"kms.*.com", "kms.us-east-1.amazonaws.com", false}, Row{"169.254.169.254", "169.254.169.254", true},
           Row{"169.254.0.0/16", "169.254.169.254", true}, Row{"*", "169.254.169.254", false},
           Row{"169.254.169.254", "::ffff:169.254.169.254", false}, Row{"fd00:ec2::/32", "[fd00:ec2::254]", true},
       }) {
    EXPECT_EQ(enclaver_admits(std::vector<std::string>{r.pattern}, {}, r.host), r.allowed)
        << r.pattern << " vs " << r.host;  // Row.allowed: what Enclaver admits
  }
  // Deny wins, with the same matcher: Enclaver's `sts.**` denies every name.
  const std::vector<std::string> allow = {"kms.*.amazonaws.com"};
  EXPECT_TRUE(enclaver_admits(allow, std::vector<std::string>{"sts.*.amazonaws.com"}, "kms.us-east-1.amazonaws.com"));
  EXPECT_FALSE(enclaver_admits(allow, std::vector<std::string>{"sts.**"}, "kms.us-east-1.amazonaws.com"));
}

}  // namespace
}  // namespace kp::config
