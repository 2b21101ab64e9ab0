#include "sigv4/verify.h"

#include <gtest/gtest.h>

#include "base/time_format.h"
#include "sigv4/signer.h"

namespace kp::sigv4 {
namespace {

constexpr std::string_view kAkid = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

kp::SysTime t0() { return *kp::parse_time_utc("2015-08-30T12:36:00Z"); }

SecretLookup lookup() {
  return [](std::string_view akid) -> std::optional<SecretBytes> {
    if (akid == kAkid) {
      return SecretBytes::copy_of(kSecret);
    }
    return std::nullopt;
  };
}

HttpRequest signed_request(std::string_view secret = kSecret, kp::SysTime when = t0(),
                           std::string_view token = {}) {
  HttpRequest req;
  req.headers.set("Host", "localhost:4566");
  req.headers.set("Content-Type", "application/x-amz-json-1.1");
  req.headers.set("X-Amz-Target", "TrentService.GenerateDataKey");
  req.headers.set("User-Agent", "test");
  req.body = R"({"KeyId":"alias/k","NumberOfBytes":32})";
  Credentials c{std::string(kAkid), SecretBytes::copy_of(secret), SecretBytes::copy_of(token), std::nullopt};
  EXPECT_TRUE(sign_request(req, c, {.region = "eu-west-1", .time = when}));
  return req;
}

void expect_error(const kp::Result<VerifiedCaller>& r, Errc code, std::string_view message_part) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
}

TEST(Verify, RoundTrip) {
  const auto r = verify_request(signed_request(), lookup(), t0());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->access_key_id, kAkid);
  EXPECT_EQ(r->region, "eu-west-1");
  EXPECT_EQ(r->service, "kms");
}

TEST(Verify, RoundTripWithSessionTokenAndUnsignedHeaderChanges) {
  HttpRequest req = signed_request(kSecret, t0(), "session-token");
  req.headers.set("User-Agent", "changed in transit");  // not signed
  req.headers.add("X-Forwarded-For", "10.0.0.1");       // not signed
  EXPECT_TRUE(verify_request(req, lookup(), t0() + std::chrono::minutes(4)));
}

TEST(Verify, TamperedBodyIsRejected) {
  HttpRequest req = signed_request();
  req.body = R"({"KeyId":"alias/k","NumberOfBytes":64})";
  expect_error(verify_request(req, lookup(), t0()), Errc::kInvalidSignature,
               "The request signature we calculated does not match the signature you provided.");
}

TEST(Verify, TamperedSignedHeaderIsRejected) {
  HttpRequest req = signed_request();
  req.headers.set("X-Amz-Target", "TrentService.Decrypt");
  expect_error(verify_request(req, lookup(), t0()), Errc::kInvalidSignature, "does not match");
  HttpRequest dup = signed_request();
  dup.headers.add("x-amz-target", "TrentService.Decrypt");  // a second value changes the canonical form
  expect_error(verify_request(dup, lookup(), t0()), Errc::kInvalidSignature, "does not match");
}

TEST(Verify, SignedHeaderMissingFromRequestIsRejected) {
  HttpRequest req = signed_request();
  req.headers.erase("content-type");
  expect_error(verify_request(req, lookup(), t0()), Errc::kInvalidSignature, "does not match");
}

TEST(Verify, WrongSecretIsRejected) {
  expect_error(verify_request(signed_request("not-the-secret"), lookup(), t0()), Errc::kInvalidSignature,
               "Check your AWS Secret Access Key and signing method.");
}

TEST(Verify, TamperedSignatureIsRejected) {
  HttpRequest req = signed_request();
  std::string auth(*req.headers.get("authorization"));
  auth.back() = auth.back() == '0' ? '1' : '0';
  req.headers.set("Authorization", auth);
  expect_error(verify_request(req, lookup(), t0()), Errc::kInvalidSignature, "does not match");
}

TEST(Verify, UnknownAccessKey) {
  const SecretLookup nobody = [](std::string_view) -> std::optional<SecretBytes> { return std::nullopt; };
  expect_error(verify_request(signed_request(), nobody, t0()), Errc::kUnrecognizedClient,
               "The security token included in the request is invalid.");
}

TEST(Verify, OldDateIsExpiredWithAwsWording) {
  const auto r = verify_request(signed_request(), lookup(), t0() + std::chrono::minutes(5) + std::chrono::seconds(1));
  expect_error(r, Errc::kInvalidSignature,
               "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
               "(20150830T124101Z - 5 min.)");
  // Exactly at the edge is still accepted.
  EXPECT_TRUE(verify_request(signed_request(), lookup(), t0() + std::chrono::minutes(5)));
}

TEST(Verify, FutureDateIsNotYetCurrent) {
  const auto r = verify_request(signed_request(), lookup(), t0() - std::chrono::minutes(6));
  expect_error(r, Errc::kInvalidSignature, "Signature not yet current: 20150830T123600Z is still later than");
}

TEST(Verify, MissingAuthorization) {
  HttpRequest req = signed_request();
  req.headers.erase("authorization");
  expect_error(verify_request(req, lookup(), t0()), Errc::kMissingAuthentication, "Missing Authentication Token");
  req.headers.set("Authorization", "");
  expect_error(verify_request(req, lookup(), t0()), Errc::kMissingAuthentication, "Missing Authentication Token");
}

TEST(Verify, MalformedAuthorization) {
  HttpRequest req = signed_request();
  req.headers.set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/kms/aws4_request");
  expect_error(verify_request(req, lookup(), t0()), Errc::kIncompleteSignature, "'Signature' parameter");
}

TEST(Verify, MissingOrMalformedDate) {
  HttpRequest req = signed_request();
  req.headers.erase("x-amz-date");
  expect_error(verify_request(req, lookup(), t0()), Errc::kIncompleteSignature, "'X-Amz-Date'");
  req.headers.set("X-Amz-Date", "2015-08-30T12:36:00Z");
  expect_error(verify_request(req, lookup(), t0()), Errc::kIncompleteSignature, "ISO-8601");
}

TEST(Verify, ScopeDateMustMatchRequestDate) {
  HttpRequest req = signed_request();
  std::string auth(*req.headers.get("authorization"));
  auth.replace(auth.find("/20150830/"), 10, "/20150829/");
  req.headers.set("Authorization", auth);
  expect_error(verify_request(req, lookup(), t0()), Errc::kInvalidSignature,
               "Date in Credential scope does not match YYYYMMDD");
}

TEST(Verify, HostAndDateMustBeSigned) {
  HttpRequest req = signed_request();
  std::string auth(*req.headers.get("authorization"));
  auth.replace(auth.find("content-type;host;"), 18, "content-type;");
  req.headers.set("Authorization", auth);
  expect_error(verify_request(req, lookup(), t0()), Errc::kIncompleteSignature, "'Host'");
}

TEST(Verify, LookupIsCalledWithTheRequestKeyId) {
  std::string seen;
  const SecretLookup spy = [&](std::string_view akid) -> std::optional<SecretBytes> {
    seen.assign(akid);
    return SecretBytes::copy_of(kSecret);
  };
  EXPECT_TRUE(verify_request(signed_request(), spy, t0()));
  EXPECT_EQ(seen, kAkid);
}

}  // namespace
}  // namespace kp::sigv4
