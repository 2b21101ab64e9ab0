#include "sigv4/canonical.h"

#include <gtest/gtest.h>

namespace kp::sigv4 {
namespace {

TEST(CanonicalUri, NormalisesLikeTheAwsSuite) {
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_EQ(canonical_uri("/"), "/");
  EXPECT_EQ(canonical_uri("//"), "/");
  EXPECT_EQ(canonical_uri("/./"), "/");
  EXPECT_EQ(canonical_uri("/./example"), "/example");
  EXPECT_EQ(canonical_uri("//example//"), "/example/");
  EXPECT_EQ(canonical_uri("/example/.."), "/");
  EXPECT_EQ(canonical_uri("/example1/example2/../.."), "/");
  EXPECT_EQ(canonical_uri("/a/b/../c/./d"), "/a/c/d");
  EXPECT_EQ(canonical_uri("/../../a"), "/a");  // cannot climb above the root
}

TEST(CanonicalUri, EncodesEveryByteOutsideUnreserved) {
  EXPECT_EQ(canonical_uri("/example space/"), "/example%20space/");
  EXPECT_EQ(canonical_uri("/example/$delete"), "/example/%24delete");
  EXPECT_EQ(canonical_uri("/\xe1\x88\xb4"), "/%E1%88%B4");
  EXPECT_EQ(canonical_uri("/-._~AZaz09"), "/-._~AZaz09");
  // A wire path that is already percent-encoded is encoded again (the
  // non-S3 "double encoding" rule).
  EXPECT_EQ(canonical_uri("/a%20b"), "/a%2520b");
}

TEST(CanonicalUri, WithoutNormalisationKeepsSegments) {
  EXPECT_EQ(canonical_uri("//a/./b/../", /*normalize=*/false), "//a/./b/../");
  EXPECT_EQ(canonical_uri("a b", /*normalize=*/false), "/a%20b");
}

TEST(SplitTarget, SeparatesPathAndQuery) {
  EXPECT_EQ(split_target("/"), std::make_pair(std::string_view("/"), std::string_view()));
  EXPECT_EQ(split_target("/p?a=1&b"), std::make_pair(std::string_view("/p"), std::string_view("a=1&b")));
  EXPECT_EQ(split_target("/p?"), std::make_pair(std::string_view("/p"), std::string_view()));
}

TEST(CanonicalQuery, SortsAndReencodes) {
  EXPECT_EQ(canonical_query_string(""), "");
  EXPECT_EQ(canonical_query_string("Param2=value2&Param1=value1"), "Param1=value1&Param2=value2");
  EXPECT_EQ(canonical_query_string("Param1=value2&Param1=Value1"), "Param1=Value1&Param1=value2");
  EXPECT_EQ(canonical_query_string("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3");
  EXPECT_EQ(canonical_query_string("\xe1\x88\xb4=bar"), "%E1%88%B4=bar");
  EXPECT_EQ(canonical_query_string("flag&a=b"), "a=b&flag=");
  EXPECT_EQ(canonical_query_string("a=b c&x=%2f&y=+"), "a=b%20c&x=%2F&y=%2B");
  EXPECT_EQ(canonical_query_string("&&a=1&"), "a=1");
  EXPECT_EQ(canonical_query_string("bad=%zz&p=%4"), "bad=%25zz&p=%254");
}

TEST(CanonicalHeaderValue, TrimsAndCollapsesWhitespace) {
  EXPECT_EQ(canonical_header_value("  value1  "), "value1");
  EXPECT_EQ(canonical_header_value("\"a   b   c\""), "\"a b c\"");
  EXPECT_EQ(canonical_header_value("value1\r\n  value2\n\t value3"), "value1 value2 value3");
  EXPECT_EQ(canonical_header_value("   "), "");
}

TEST(ShouldSign, DefaultPolicySignsOnlyWhatAwsNeeds) {
  for (const char* n : {"Host", "content-type", "X-Amz-Date", "X-Amz-Target", "x-amz-security-token",
                        "X-Amz-Content-Sha256", "x-amz-user-agent"}) {
    EXPECT_TRUE(should_sign(n, HeaderPolicy::kAwsDefault)) << n;
  }
  for (const char* n : {"User-Agent", "Expect", "Transfer-Encoding", "X-Amzn-Trace-Id", "Connection",
                        "Content-Length", "Authorization", "Accept", "amz-sdk-invocation-id", ""}) {
    EXPECT_FALSE(should_sign(n, HeaderPolicy::kAwsDefault)) << n;
  }
}

TEST(ShouldSign, AllSignablePolicyStillSkipsTheDenyList) {
  EXPECT_TRUE(should_sign("My-Header1", HeaderPolicy::kAllSignable));
  EXPECT_TRUE(should_sign("amz-sdk-invocation-id", HeaderPolicy::kAllSignable));
  for (const char* n : {"user-agent", "EXPECT", "transfer-encoding", "x-amzn-trace-id", "connection",
                        "content-length", "authorization", "keep-alive", "te", "upgrade"}) {
    EXPECT_FALSE(should_sign(n, HeaderPolicy::kAllSignable)) << n;
  }
}

Headers kms_headers() {
  Headers h;
  h.add("X-Amz-Target", "TrentService.Decrypt");
  h.add("Content-Type", "application/x-amz-json-1.1");
  h.add("User-Agent", "aws-cli/2");
  h.add("Host", "kms.us-east-1.amazonaws.com");
  h.add("Content-Length", "2");
  h.add("X-Amz-Date", "20150830T123600Z");
  h.add("My-Header", " b ");
  h.add("my-header", "a");
  return h;
}

TEST(CanonicalHeaders, DefaultPolicyBlockAndList) {
  const auto ch = canonical_headers(kms_headers(), HeaderPolicy::kAwsDefault);
  EXPECT_EQ(ch.block,
            "content-type:application/x-amz-json-1.1\n"
            "host:kms.us-east-1.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n"
            "x-amz-target:TrentService.Decrypt\n");
  EXPECT_EQ(ch.signed_headers, "content-type;host;x-amz-date;x-amz-target");
  EXPECT_EQ(signed_header_list(kms_headers(), HeaderPolicy::kAwsDefault), ch.signed_headers);
}

TEST(CanonicalHeaders, RepeatedHeadersJoinInReceivedOrderAcrossCase) {
  const auto ch = canonical_headers(kms_headers(), HeaderPolicy::kAllSignable);
  EXPECT_NE(ch.block.find("my-header:b,a\n"), std::string::npos) << ch.block;
  EXPECT_EQ(ch.signed_headers, "content-type;host;my-header;x-amz-date;x-amz-target");
  EXPECT_EQ(signed_header_list(kms_headers(), HeaderPolicy::kAllSignable), ch.signed_headers);
}

TEST(CanonicalHeadersFor, UsesTheGivenListAndFailsOnAbsentHeader) {
  const std::vector<std::string> names = {"host", "my-header", "user-agent"};
  const auto ch = canonical_headers_for(kms_headers(), names);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->block, "host:kms.us-east-1.amazonaws.com\nmy-header:b,a\nuser-agent:aws-cli/2\n");
  EXPECT_EQ(ch->signed_headers, "host;my-header;user-agent");
  const std::vector<std::string> missing = {"host", "x-amz-security-token"};
  EXPECT_FALSE(canonical_headers_for(kms_headers(), missing));
}

TEST(PayloadHash, IsHexSha256OfExactBytes) {
  EXPECT_EQ(payload_hash(""), kEmptyPayloadHash);
  EXPECT_EQ(payload_hash("Param1=value1"), "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_NE(payload_hash("{}"), payload_hash("{ }"));
}

TEST(StringToSign, Layout) {
  const std::string scope = credential_scope("20150830", "us-east-1", "kms");
  EXPECT_EQ(scope, "20150830/us-east-1/kms/aws4_request");
  const std::string sts = string_to_sign("20150830T123600Z", scope, "");
  EXPECT_EQ(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/kms/aws4_request\n" +
                     std::string(kEmptyPayloadHash));
}

TEST(CanonicalRequest, Layout) {
  CanonicalHeaders h{"host:h\n", "host"};
  EXPECT_EQ(canonical_request("POST", "/", "a=b", h, "ff"), "POST\n/\na=b\nhost:h\n\nhost\nff");
}

}  // namespace
}  // namespace kp::sigv4
