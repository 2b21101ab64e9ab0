#include "base/error.h"

#include <gtest/gtest.h>

#include "base/result.h"

namespace kp {
namespace {

TEST(Error, MapsToKmsStyleHttpErrors) {
  EXPECT_EQ(to_http(Errc::kMalformedRequest).status, 400u);
  EXPECT_EQ(to_http(Errc::kAccessDenied).type, "AccessDeniedException");
  EXPECT_EQ(to_http(Errc::kUpstreamTimeout).status, 504u);
  EXPECT_EQ(to_http(Errc::kUpstreamUnreachable).status, 502u);
  EXPECT_EQ(to_http(Errc::kCmsWrongRecipient).status, 500u);
  // A broken NSM is a server fault; a slow one is worth a retry.
  EXPECT_EQ(to_http(Errc::kNsmFailed).status, 500u);
  EXPECT_EQ(to_http(Errc::kNsmTimeout).status, 503u);
  EXPECT_EQ(to_http(Errc::kNsmTimeout).type, to_http(Errc::kNsmFailed).type);
  EXPECT_TRUE(is_retryable(Errc::kNsmTimeout));
  EXPECT_EQ(to_http(Errc::kRequestTimeout).status, 408u);
  EXPECT_EQ(to_http(Errc::kRequestTimeout).type, "RequestTimeoutException");  // botocore: transient
  EXPECT_TRUE(is_retryable(Errc::kUpstreamTimeout));
  EXPECT_FALSE(is_retryable(Errc::kValidation));
}

TEST(Error, BodyIsEscapedJson) {
  EXPECT_EQ(kms_error_body("X", "a \"b\"\n\x01"),
            "{\"__type\":\"X\",\"message\":\"a \\\"b\\\"\\n\\u0001\"}");
  EXPECT_EQ(kms_error_body(Error{Errc::kNotFound, "key"}),
            "{\"__type\":\"NotFoundException\",\"message\":\"key\"}");
}

TEST(Result, CarriesValueOrError) {
  Result<int> ok = 3;
  Result<int> bad = fail(Errc::kValidation, "nope");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kValidation);
  EXPECT_THROW(bad.value(), std::runtime_error);
}

}  // namespace
}  // namespace kp
