#include "proxy/routing.h"

#include <gtest/gtest.h>

namespace kp::proxy {
namespace {

HttpRequest with_auth(const std::string& auth) {
  HttpRequest r;
  r.headers.set("Authorization", auth);
  return r;
}

TEST(Routing, RegionComesFromTheCredentialScope) {
  auto r = region_for_request(std::nullopt,
                              with_auth("AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-3/kms/"
                                        "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + std::string(64, 'a') + ""));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "eu-west-3");
}

TEST(Routing, FallsBackToTheDefaultRegion) {
  auto r = region_for_request(std::string("ap-south-1"), HttpRequest{});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "ap-south-1");
  auto none = region_for_request(std::nullopt, HttpRequest{});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kIncompleteSignature);
}

TEST(Routing, RejectsOtherServicesAndHostileRegions) {
  auto sqs = region_for_request(std::nullopt,
                                with_auth("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sqs/"
                                          "aws4_request, SignedHeaders=host, Signature=" + std::string(64, 'a') + ""));
  ASSERT_FALSE(sqs);
  EXPECT_NE(sqs.error().message.find("sqs"), std::string::npos);
  auto evil = region_for_request(std::nullopt,
                                 with_auth("AWS4-HMAC-SHA256 Credential=AKID/20240101/evil.com#/kms/"
                                           "aws4_request, SignedHeaders=host, Signature=" + std::string(64, 'a') + ""));
  ASSERT_FALSE(evil);
  auto bad_default = region_for_request(std::string("us-east-1.attacker.net"), HttpRequest{});
  ASSERT_FALSE(bad_default);
  EXPECT_EQ(bad_default.error().code, Errc::kValidation);
}

}  // namespace
}  // namespace kp::proxy
