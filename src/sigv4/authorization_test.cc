#include "sigv4/authorization.h"

#include <gtest/gtest.h>

namespace kp::sigv4 {
namespace {

constexpr std::string_view kSig = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";

std::string header(std::string_view credential = "AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request",
                   std::string_view signed_headers = "content-type;host;x-amz-date;x-amz-target",
                   std::string_view signature = kSig) {
  return "AWS4-HMAC-SHA256 Credential=" + std::string(credential) + ", SignedHeaders=" +
         std::string(signed_headers) + ", Signature=" + std::string(signature);
}

void expect_incomplete(std::string_view h, std::string_view message_part) {
  const auto r = parse_authorization(h);
  ASSERT_FALSE(r) << h;
  EXPECT_EQ(r.error().code, Errc::kIncompleteSignature) << h;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  // The copy-free parser applies exactly the same checks and messages.
  const auto v = parse_authorization_view(h);
  ASSERT_FALSE(v) << h;
  EXPECT_EQ(v.error().code, r.error().code) << h;
  EXPECT_EQ(v.error().message, r.error().message) << h;
}

TEST(ParseAuthorization, ParsesSdkHeader) {
  const auto r = parse_authorization(header());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(r->date, "20150830");
  EXPECT_EQ(r->region, "us-east-1");
  EXPECT_EQ(r->service, "kms");
  EXPECT_EQ(r->signed_headers,
            (std::vector<std::string>{"content-type", "host", "x-amz-date", "x-amz-target"}));
  EXPECT_EQ(r->signature, kSig);
}

TEST(ParseAuthorization, ViewParserReturnsTheSameFieldsWithoutCopies) {
  const std::string h = header();
  const auto v = parse_authorization_view(h);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(v->date, "20150830");
  EXPECT_EQ(v->region, "us-east-1");
  EXPECT_EQ(v->service, "kms");
  EXPECT_EQ(v->signed_headers, "content-type;host;x-amz-date;x-amz-target");
  EXPECT_EQ(v->signature, kSig);
  // Views point into the header itself.
  EXPECT_GE(v->region.data(), h.data());
  EXPECT_LE(v->region.data() + v->region.size(), h.data() + h.size());
  // One-name list.
  const auto one = parse_authorization(header("AKID/20150830/eu-west-1/kms/aws4_request", "host"));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->signed_headers, std::vector<std::string>{"host"});
}

TEST(ParseAuthorization, AcceptsAnyOrderAndSpacing) {
  const std::string h = "  AWS4-HMAC-SHA256   Signature=" + std::string(kSig) +
                        ",SignedHeaders=host;x-amz-date ,  Credential=AKID/20240229/eu-west-2/kms/aws4_request ";
  const auto r = parse_authorization(h);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->region, "eu-west-2");
  EXPECT_EQ(r->signed_headers.size(), 2u);
}

TEST(ParseAuthorization, MissingParametersUseAwsWording) {
  expect_incomplete("", "Authorization header requires 'Credential' parameter.");
  expect_incomplete("AWS4-HMAC-SHA256", "Authorization header requires 'SignedHeaders' parameter.");
  const auto r = parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "Authorization header requires 'Signature' parameter. Authorization header requires "
            "'SignedHeaders' parameter.");
}

TEST(ParseAuthorization, RejectsOtherAlgorithmsAndParameters) {
  expect_incomplete("AWS4-ECDSA-P256-SHA256 Credential=a/20150830/us-east-1/kms/aws4_request", "algorithm");
  expect_incomplete("Bearer abc", "algorithm");
  expect_incomplete("AWS4-HMAC-SHA256Credential=x", "algorithm");
  expect_incomplete(header() + ", Extra=1", "unknown parameter");
  expect_incomplete(header() + ", Signature=" + std::string(kSig), "more than once");
  expect_incomplete(header() + ",", "malformed parameter list");
  expect_incomplete("AWS4-HMAC-SHA256 Credential", "malformed parameter list");
}

TEST(ParseAuthorization, ValidatesCredentialScope) {
  expect_incomplete(header("AKID/20150830/us-east-1/kms"), "Credential must be");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_request/x"), "Credential must be");
  expect_incomplete(header("/20150830/us-east-1/kms/aws4_request"), "access key id");
  expect_incomplete(header("AK ID/20150830/us-east-1/kms/aws4_request"), "access key id");
  expect_incomplete(header("AKID/2015083/us-east-1/kms/aws4_request"), "YYYYMMDD");
  expect_incomplete(header("AKID/20151330/us-east-1/kms/aws4_request"), "YYYYMMDD");
  expect_incomplete(header("AKID/2015-08-30/us-east-1/kms/aws4_request"), "YYYYMMDD");
  expect_incomplete(header("AKID/20150830//kms/aws4_request"), "region");
  expect_incomplete(header("AKID/20150830/US_EAST/kms/aws4_request"), "region");
  expect_incomplete(header("AKID/20150830/us-east-1//aws4_request"), "service");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_requests"),
                    "Credential should be scoped with a valid terminator: 'aws4_request'");
}

TEST(ParseAuthorization, ValidatesSignedHeaders) {
  expect_incomplete(header(std::string_view("AKID/20150830/us-east-1/kms/aws4_request"), ""), "SignedHeaders");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_request", "host;;x-amz-date"), "SignedHeaders");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_request", "Host;x-amz-date"), "SignedHeaders");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_request", "x-amz-date;host"), "sorted");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_request", "host;host"), "unique");
  expect_incomplete(header("AKID/20150830/us-east-1/kms/aws4_request", "host x;y"), "SignedHeaders");
}

TEST(ParseAuthorization, ValidatesSignature) {
  const std::string cred = "AKID/20150830/us-east-1/kms/aws4_request";
  expect_incomplete(header(cred, "host", ""), "Signature must be 64");
  expect_incomplete(header(cred, "host", kSig.substr(1)), "Signature must be 64");
  expect_incomplete(header(cred, "host", std::string(kSig.substr(1)) + "G"), "Signature must be 64");
  std::string upper(kSig);
  upper[0] = 'D';
  expect_incomplete(header(cred, "host", upper), "lower-case hex");
}

TEST(ParseAuthorization, MessagesNeverEchoTheHeader) {
  const auto r = parse_authorization("AWS4-HMAC-SHA256 Credential=SECRETISH/2015/x/kms/aws4_request, "
                                     "SignedHeaders=host, Signature=" + std::string(kSig));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("SECRETISH"), std::string::npos);
}

}  // namespace
}  // namespace kp::sigv4
