#include "credentials/parse.h"

#include <gtest/gtest.h>

#include "base/time_format.h"

namespace kp::credentials {
namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kToken = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";

std::string doc(std::string_view extra_fields) {
  return std::string(R"({"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":")") +
         std::string(kSecret) + R"(","Token":")" + std::string(kToken) + R"(")" +
         std::string(extra_fields) + "}";
}

CredentialsDocumentRules imds_rules() {
  CredentialsDocumentRules r;
  r.require_success_code = true;
  r.require_token = true;
  r.require_expiration = true;
  return r;
}

void expect_no_secret(const std::string& message) {
  EXPECT_EQ(message.find(kSecret), std::string::npos) << message;
  EXPECT_EQ(message.find(kToken), std::string::npos) << message;
}

TEST(ParseCredentials, ContainerDocument) {
  auto r = parse_credentials_document(
      doc(R"(,"Expiration":"2024-05-01T12:00:00Z","RoleArn":"arn:aws:iam::1:role/x")"), "src", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->access_key_id, "ASIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(r->secret_access_key.chars(), kSecret);
  EXPECT_EQ(r->session_token.chars(), kToken);
  ASSERT_TRUE(r->expiration.has_value());
  EXPECT_EQ(format_rfc3339(*r->expiration), "2024-05-01T12:00:00Z");
}

TEST(ParseCredentials, ImdsDocumentNeedsSuccessCode) {
  auto ok = parse_credentials_document(
      doc(R"(,"Code":"Success","Type":"AWS-HMAC","Expiration":"2024-05-01T12:00:00Z")"), "imds",
      imds_rules());
  ASSERT_TRUE(ok) << ok.error().message;

  auto failed = parse_credentials_document(
      doc(R"(,"Code":"AssumeRoleUnauthorizedAccess","Expiration":"2024-05-01T12:00:00Z")"), "imds",
      imds_rules());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::kCredentialsUnavailable);
  EXPECT_NE(failed.error().message.find("AssumeRoleUnauthorizedAccess"), std::string::npos);
  EXPECT_EQ(failed.error().message.rfind("imds: ", 0), 0U) << failed.error().message;
  expect_no_secret(failed.error().message);

  // No Code at all: accepted, as botocore does (IMDS emulators leave it out).
  auto missing = parse_credentials_document(doc(R"(,"Expiration":"2024-05-01T12:00:00Z")"), "imds",
                                            imds_rules());
  ASSERT_TRUE(missing) << missing.error().message;
  auto not_string = parse_credentials_document(doc(R"(,"Code":1,"Expiration":"2024-05-01T12:00:00Z")"), "imds",
                                               imds_rules());
  ASSERT_FALSE(not_string);
  EXPECT_NE(not_string.error().message.find("\"Code\""), std::string::npos);
}

// botocore reads any four-digit year: one past what parse_time_utc() reads
// (2199) is no expiry, one before 1900 long expired; neither stops the source.
TEST(ParseCredentials, ExpirationYearsOutsideTheParsedRange) {
  auto far = parse_credentials_document(doc(R"(,"Code":"Success","Expiration":"9999-12-31T23:59:59Z")"), "imds",
                                        imds_rules());
  ASSERT_TRUE(far) << far.error().message;
  EXPECT_FALSE(far->expiration.has_value());
  auto past = parse_credentials_document(doc(R"(,"Code":"Success","Expiration":"1800-01-01T00:00:00Z")"), "imds",
                                         imds_rules());
  ASSERT_TRUE(past) << past.error().message;
  ASSERT_TRUE(past->expiration.has_value());
  EXPECT_EQ(format_rfc3339(*past->expiration), "1900-01-01T00:00:00Z");
  for (const char* bad : {"9999-13-01T00:00:00Z", "2200-01-01T00:00:00", "22000-01-01T00:00:00Z", "2024-02-30T00:00:00Z"}) {
    EXPECT_FALSE(parse_credentials_document(doc(std::string(R"(,"Code":"Success","Expiration":")") + bad + "\""),
                                            "imds", imds_rules()))
        << bad;
  }
}

TEST(ParseCredentials, MalformedJsonIsAClearError) {
  for (std::string_view body :
       {std::string_view("not json"), std::string_view(R"({"AccessKeyId":"A",)"),
        std::string_view(""), std::string_view(R"({"a":1} trailing)")}) {
    auto r = parse_credentials_document(body, "container endpoint x", {});
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
    EXPECT_EQ(r.error().message, "container endpoint x: credentials response is not valid JSON");
  }
  auto arr = parse_credentials_document("[1,2]", "s", {});
  ASSERT_FALSE(arr);
  EXPECT_NE(arr.error().message.find("not a JSON object"), std::string::npos);
}

// The parse arena has no heap fallback: a DOM that would outgrow it is an
// error, while whitespace and long strings (which do not multiply) still fit.
TEST(ParseCredentials, DocumentsOfManySmallValuesAreRefusedNotSpilled) {
  const std::string head = std::string(R"({"AccessKeyId":"AKIDEXAMPLE","SecretAccessKey":")") + std::string(kSecret) + "\"";
  std::string many = head + R"(,"x":[)";
  while (many.size() < 60 * 1024) {
    many += "0,";
  }
  many += "0]}";
  auto r = parse_credentials_document(many, "s", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(r.error().message, "s: credentials response has too many values to be a credentials document");

  const std::string padded = std::string(30 * 1024, ' ') + head + "}" + std::string(30 * 1024, '\n');
  auto ok = parse_credentials_document(padded, "s", {});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->access_key_id, "AKIDEXAMPLE");

  const std::string long_token = head + R"(,"Token":")" + std::string(16 * 1024, 'T') + "\"}";
  auto token = parse_credentials_document(long_token, "s", {});
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->session_token.size(), 16u * 1024);
}

TEST(ParseCredentials, MissingOrWrongFields) {
  struct Case {
    std::string body;
    std::string_view expect;
  };
  const Case cases[] = {
      {R"({"SecretAccessKey":"s"})", "\"AccessKeyId\""},
      {R"({"AccessKeyId":"A","SecretAccessKey":5})", "\"SecretAccessKey\""},
      {R"({"AccessKeyId":"A B","SecretAccessKey":"s"})", "\"AccessKeyId\" is malformed"},
      {R"({"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"tomorrow"})", "\"Expiration\""},
      {R"({"AccessKeyId":"A","SecretAccessKey":"s","Expiration":17})", "\"Expiration\""},
  };
  for (const auto& c : cases) {
    auto r = parse_credentials_document(c.body, "s", {});
    ASSERT_FALSE(r) << c.body;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  // IMDS requires the token and the expiration.
  auto no_exp = parse_credentials_document(doc(R"(,"Code":"Success")"), "s", imds_rules());
  ASSERT_FALSE(no_exp);
  EXPECT_NE(no_exp.error().message.find("\"Expiration\""), std::string::npos);
  auto no_token = parse_credentials_document(
      R"({"Code":"Success","AccessKeyId":"A","SecretAccessKey":"s","Expiration":"2024-05-01T12:00:00Z"})",
      "s", imds_rules());
  ASSERT_FALSE(no_token);
  EXPECT_NE(no_token.error().message.find("\"Token\""), std::string::npos);
}

TEST(ParseCredentials, LongTermKeysWithoutTokenOrExpiration) {
  auto r = parse_credentials_document(R"({"AccessKeyId":"AKIA1","SecretAccessKey":"s"})", "s", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->session_token.empty());
  EXPECT_FALSE(r->expiration.has_value());
}

TEST(ParseCredentials, ErrorExcerptsAreSanitised) {
  auto r = parse_credentials_document(
      doc(R"(,"Code":"Bad\r\nInjected: yes","Expiration":"2024-05-01T12:00:00Z")"), "s",
      imds_rules());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  EXPECT_NE(r.error().message.find("Bad??Injected: yes"), std::string::npos) << r.error().message;
}

TEST(ParseHelpers, HeaderValuesAndMasking) {
  EXPECT_TRUE(is_valid_header_value("Bearer abc"));
  EXPECT_FALSE(is_valid_header_value(""));
  EXPECT_FALSE(is_valid_header_value("abc\r\nX-Evil: 1"));
  EXPECT_FALSE(is_valid_header_value(std::string_view("a\0b", 3)));
  EXPECT_EQ(trim("  tok\n"), "tok");
  EXPECT_EQ(mask_access_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA...MPLE");
  EXPECT_EQ(mask_access_key_id("short"), "*****");
  EXPECT_EQ(printable_excerpt(std::string(100, 'x'), 10), "xxxxxxxxxx...");
}

}  // namespace
}  // namespace kp::credentials
