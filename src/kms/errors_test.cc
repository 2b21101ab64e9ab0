#include "kms/errors.h"

#include <gtest/gtest.h>

namespace kp::kms {
namespace {

TEST(SanitizeErrorType, AllForms) {
  EXPECT_EQ(sanitize_error_type("NotFoundException"), "NotFoundException");
  EXPECT_EQ(sanitize_error_type("com.amazonaws.kms#NotFoundException"), "NotFoundException");
  EXPECT_EQ(sanitize_error_type("ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"),
            "ThrottlingException");
  EXPECT_EQ(sanitize_error_type("aws.protocoltests#FooError:http://internal.amazon.com/x#y"), "FooError");
  EXPECT_EQ(sanitize_error_type(""), "");
}

TEST(ParseErrorBody, LowerCaseMessage) {
  const auto e = parse_error_body(R"({"__type":"NotFoundException","message":"Key 'arn:aws:kms:...' does not exist"})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "NotFoundException");
  EXPECT_EQ(e->message, "Key 'arn:aws:kms:...' does not exist");
}

TEST(ParseErrorBody, CapitalMessageAsRealKmsSends) {
  // Shape observed from real KMS (aws-nitro-enclaves-sdk-c issues #127/#157).
  const auto e = parse_error_body(
      R"({"__type":"AccessDeniedException","Message":"User: arn:aws:sts::111122223333:assumed-role/r/i-0 is not authorized to perform: kms:Decrypt"})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, "AccessDeniedException");
  EXPECT_EQ(e->message, "User: arn:aws:sts::111122223333:assumed-role/r/i-0 is not authorized to perform: kms:Decrypt");
}

TEST(ParseErrorBody, PrefixedAndSuffixedTypes) {
  EXPECT_EQ(parse_error_body(R"({"__type":"com.amazonaws.kms#KMSInvalidStateException","message":"m"})")->type,
            "KMSInvalidStateException");
  EXPECT_EQ(parse_error_body(R"({"__type":"ThrottlingException:http://internal/","message":"m"})")->type,
            "ThrottlingException");
}

TEST(ParseErrorBody, LowerCaseMessageWinsAndMissingMessageIsEmpty) {
  EXPECT_EQ(parse_error_body(R"({"Message":"upper","__type":"X","message":"lower"})")->message, "lower");
  EXPECT_EQ(parse_error_body(R"({"__type":"X"})")->message, "");
  EXPECT_EQ(parse_error_body(R"({"__type":"X","message":42})")->message, "");
}

TEST(ParseErrorBody, HeaderFallbackAndRejects) {
  const auto h = parse_error_body(R"({"message":"slow down"})", "ThrottlingException:http://internal/");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->type, "ThrottlingException");
  EXPECT_EQ(h->message, "slow down");
  EXPECT_FALSE(parse_error_body(R"({"message":"no type"})"));
  EXPECT_FALSE(parse_error_body(R"({"__type":7,"message":"m"})"));
  EXPECT_FALSE(parse_error_body(R"({"__type":"","message":"m"})"));
  EXPECT_FALSE(parse_error_body("<html>502 Bad Gateway</html>"));
  EXPECT_FALSE(parse_error_body(R"(["__type"])"));
  EXPECT_FALSE(parse_error_body(""));
}

TEST(IsClockSkewError, TheSdksListOnly) {
  for (const char* t : {"AuthFailure", "InvalidSignatureException", "RequestExpired", "RequestInTheFuture",
                        "RequestTimeTooSkewed", "SignatureDoesNotMatch"}) {
    EXPECT_TRUE(is_clock_skew_error(t)) << t;
  }
  // As parse_error_body hands it over (sanitised).
  const auto e = parse_error_body(
      R"({"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired"})");
  ASSERT_TRUE(e);
  EXPECT_TRUE(is_clock_skew_error(e->type));
  for (const char* t : {"", "AccessDeniedException", "ExpiredTokenException", "UnrecognizedClientException",
                        "invalidsignatureexception", "InvalidSignatureExceptionX", "ThrottlingException"}) {
    EXPECT_FALSE(is_clock_skew_error(t)) << t;
  }
}

TEST(LoggableRequestId, UuidPassesAndAnythingElseCannotForgeAField) {
  EXPECT_EQ(loggable_request_id("0f6c1f5e-8d3a-4c1e-9b0e-6a1f2b3c4d5e"), "0f6c1f5e-8d3a-4c1e-9b0e-6a1f2b3c4d5e");
  EXPECT_EQ(loggable_request_id("abc status=999 forged=1"), "abc?status=999?forged=1");
  EXPECT_EQ(loggable_request_id("a\"b\xff\xfe\x1b"), "a?b???");
  const std::string longer(200, 'a');
  EXPECT_EQ(loggable_request_id(longer), std::string(128, 'a') + "...");
}

}  // namespace
}  // namespace kp::kms
