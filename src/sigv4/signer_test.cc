#include "sigv4/signer.h"

#include <gtest/gtest.h>

#include <thread>

#include "base/encoding.h"
#include "base/time_format.h"

namespace kp::sigv4 {
namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

kp::SysTime t0() { return *kp::parse_time_utc("2024-03-01T10:20:30Z"); }

Credentials creds(std::string_view token = {}) {
  return Credentials{"AKIDEXAMPLE", SecretBytes::copy_of(kSecret), SecretBytes::copy_of(token), std::nullopt};
}

HttpRequest kms_request() {
  HttpRequest req;
  req.headers.set("Host", "kms.us-east-1.amazonaws.com");
  req.headers.set("Content-Type", "application/x-amz-json-1.1");
  req.headers.set("X-Amz-Target", "TrentService.Decrypt");
  req.body = R"({"CiphertextBlob":"AQID"})";
  return req;
}

TEST(SigningKey, MatchesAwsDocumentedDerivation) {
  // AWS "Examples of how to derive a signing key for Signature Version 4".
  const auto key = signing_key(SecretBytes::copy_of(kSecret), "20120215", "us-east-1", "iam");
  EXPECT_EQ(kp::hex_encode(key.view()), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigningKeyCache, DerivesOncePerScopeAndKey) {
  SigningKeyCache cache(4);
  const auto secret = SecretBytes::copy_of(kSecret);
  const auto a = cache.get("AKID", secret, "20240301", "us-east-1", "kms");
  const auto b = cache.get("AKID", secret, "20240301", "us-east-1", "kms");
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(cache.derivations(), 1u);
  EXPECT_TRUE(a->equals(signing_key(secret, "20240301", "us-east-1", "kms").view()));

  cache.get("AKID", secret, "20240302", "us-east-1", "kms");  // next day
  cache.get("AKID", secret, "20240301", "eu-west-1", "kms");  // other region
  cache.get("OTHER", secret, "20240301", "us-east-1", "kms");  // other key id
  EXPECT_EQ(cache.derivations(), 4u);
  EXPECT_EQ(cache.size(), 4u);
}

TEST(SigningKeyCache, DifferentSecretUnderSameKeyIdIsRederived) {
  SigningKeyCache cache;
  const auto right = cache.get("AKID", SecretBytes::copy_of(kSecret), "20240301", "us-east-1", "kms");
  const auto other_secret = SecretBytes::copy_of(std::string_view("another-secret"));
  const auto wrong = cache.get("AKID", other_secret, "20240301", "us-east-1", "kms");
  EXPECT_FALSE(right->equals(wrong->view()));
  EXPECT_TRUE(wrong->equals(signing_key(other_secret, "20240301", "us-east-1", "kms").view()));
  EXPECT_EQ(cache.derivations(), 2u);
  EXPECT_EQ(cache.size(), 1u);  // replaced in place
}

TEST(SigningKeyCache, EvictsLeastRecentlyUsed) {
  SigningKeyCache cache(2);
  const auto secret = SecretBytes::copy_of(kSecret);
  cache.get("A", secret, "20240301", "r", "kms");
  cache.get("B", secret, "20240301", "r", "kms");
  cache.get("A", secret, "20240301", "r", "kms");  // A is now most recent
  cache.get("C", secret, "20240301", "r", "kms");  // evicts B
  EXPECT_EQ(cache.size(), 2u);
  const auto before = cache.derivations();
  cache.get("A", secret, "20240301", "r", "kms");
  EXPECT_EQ(cache.derivations(), before);
  cache.get("B", secret, "20240301", "r", "kms");
  EXPECT_EQ(cache.derivations(), before + 1);
}

// Four threads look the same key up 200 times each through `lookup(cache,
// secret)`; returns how many lookups gave another key.
template <class Lookup>
int mismatches_from_four_threads(SigningKeyCache& cache, Lookup lookup) {
  const auto expected = signing_key(SecretBytes::copy_of(kSecret), "20240301", "us-east-1", "kms");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      const auto secret = SecretBytes::copy_of(kSecret);
      for (int i = 0; i < 200; ++i) {
        if (!lookup(cache, secret).equals(expected.view())) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  return mismatches.load();
}

TEST(SigningKeyCache, ConcurrentUseIsConsistent) {
  SigningKeyCache cache(4);
  EXPECT_EQ(mismatches_from_four_threads(cache,
                                         [](SigningKeyCache& c, const SecretBytes& secret) -> const SecretBytes& {
                                           thread_local std::shared_ptr<const SecretBytes> held;
                                           held = c.get("AKID", secret, "20240301", "us-east-1", "kms");
                                           return *held;
                                         }),
            0);
  EXPECT_LE(cache.derivations(), 4u);
}

TEST(SigningKeyCache, ThreadFrontServesOnlyTheSameSecretScopeAndCache) {
  SigningKeyCache cache;
  const auto secret = SecretBytes::copy_of(kSecret);
  const auto expected = signing_key(secret, "20240301", "us-east-1", "kms");
  EXPECT_TRUE(cache.key_for("AKID", secret, "20240301", "us-east-1", "kms").equals(expected.view()));
  EXPECT_TRUE(cache.key_for("AKID", secret, "20240301", "us-east-1", "kms").equals(expected.view()));
  EXPECT_EQ(cache.derivations(), 1u);

  const auto other_secret = SecretBytes::copy_of(std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"));
  EXPECT_TRUE(cache.key_for("AKID", other_secret, "20240301", "us-east-1", "kms")
                  .equals(signing_key(other_secret, "20240301", "us-east-1", "kms").view()));
  EXPECT_TRUE(cache.key_for("AKID", secret, "20240302", "us-east-1", "kms")
                  .equals(signing_key(secret, "20240302", "us-east-1", "kms").view()));
  EXPECT_TRUE(cache.key_for("AKID", secret, "20240302", "eu-west-1", "kms")
                  .equals(signing_key(secret, "20240302", "eu-west-1", "kms").view()));
  EXPECT_TRUE(cache.key_for("AKID", secret, "20240302", "eu-west-1", "sts")
                  .equals(signing_key(secret, "20240302", "eu-west-1", "sts").view()));
  EXPECT_EQ(cache.derivations(), 5u);

  // Another cache: its own derivation, not this thread's entry for the first.
  SigningKeyCache second;
  EXPECT_TRUE(second.key_for("AKID", secret, "20240302", "eu-west-1", "sts")
                  .equals(signing_key(secret, "20240302", "eu-west-1", "sts").view()));
  EXPECT_EQ(second.derivations(), 1u);

  // clear() reaches the thread's entry: the next call derives again.
  cache.key_for("AKID", secret, "20240301", "us-east-1", "kms");
  const auto before = cache.derivations();
  cache.clear();
  EXPECT_TRUE(cache.key_for("AKID", secret, "20240301", "us-east-1", "kms").equals(expected.view()));
  EXPECT_EQ(cache.derivations(), before + 1);
}

TEST(SigningKeyCache, ThreadFrontsOfManyThreadsAgree) {
  SigningKeyCache cache(4);
  EXPECT_EQ(mismatches_from_four_threads(cache,
                                         [](SigningKeyCache& c, const SecretBytes& secret) -> const SecretBytes& {
                                           return c.key_for("AKID", secret, "20240301", "us-east-1", "kms");
                                         }),
            0);
  EXPECT_LE(cache.derivations(), 4u);  // at most one per thread, however many calls
}

TEST(AuthorizationHeader, Layout) {
  EXPECT_EQ(authorization_header("AKID", "20150830/us-east-1/kms/aws4_request", "host;x-amz-date", "ab"),
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=ab");
}

TEST(SignRequest, SetsDateAndAuthorizationAndSignsKmsHeaders) {
  HttpRequest req = kms_request();
  req.headers.set("User-Agent", "aws-sdk/1");
  req.headers.set("X-Amzn-Trace-Id", "Root=1");
  req.headers.set("Content-Length", "25");
  req.headers.set("Authorization", "stale");
  SigningKeyCache cache;
  ASSERT_TRUE(sign_request(req, creds(), {.region = "us-east-1", .time = t0(), .key_cache = &cache}));
  EXPECT_EQ(req.headers.get("X-Amz-Date").value_or(""), "20240301T102030Z");
  EXPECT_EQ(req.headers.get_all("authorization").size(), 1u);
  const std::string auth(req.headers.get("authorization").value_or(""));
  EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240301/us-east-1/kms/aws4_request, "
                       "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=",
                       0),
            0u)
      << auth;
  EXPECT_FALSE(req.headers.contains("x-amz-security-token"));
  EXPECT_FALSE(req.headers.contains("x-amz-content-sha256"));
}

TEST(SignRequest, DateFollowsTheSigningTimeAcrossSecondsAndBack) {
  // X-Amz-Date is cached per second per thread: every change of second, in
  // either direction, must show, and sub-second changes must not.
  const std::pair<kp::SysTime, std::string_view> cases[] = {
      {t0(), "20240301T102030Z"},
      {t0() + std::chrono::milliseconds(999), "20240301T102030Z"},
      {t0() + std::chrono::seconds(1), "20240301T102031Z"},
      {t0(), "20240301T102030Z"},
      {t0() + std::chrono::hours(24 * 366), "20250302T102030Z"},
  };
  for (const auto& [when, expected] : cases) {
    HttpRequest req = kms_request();
    ASSERT_TRUE(sign_request(req, creds(), {.region = "us-east-1", .time = when}));
    EXPECT_EQ(req.headers.get("X-Amz-Date").value_or(""), expected);
    const std::string auth(req.headers.get("authorization").value_or(""));
    EXPECT_NE(auth.find("/" + std::string(expected.substr(0, 8)) + "/us-east-1/"), std::string::npos) << auth;
  }
}

TEST(SignRequest, SessionTokenIsSentAndSigned) {
  HttpRequest req = kms_request();
  ASSERT_TRUE(sign_request(req, creds("TOKEN/+="), {.region = "us-east-1", .time = t0()}));
  EXPECT_EQ(req.headers.get("X-Amz-Security-Token").value_or(""), "TOKEN/+=");
  EXPECT_NE(req.headers.get("authorization")->find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"),
            std::string_view::npos);
}

TEST(SignRequest, ClientTokenIsDroppedWhenOurCredentialsHaveNone) {
  HttpRequest req = kms_request();
  req.headers.set("X-Amz-Security-Token", "client-token");
  ASSERT_TRUE(sign_request(req, creds(), {.region = "us-east-1", .time = t0()}));
  EXPECT_FALSE(req.headers.contains("x-amz-security-token"));
  EXPECT_EQ(req.headers.get("authorization")->find("x-amz-security-token"), std::string_view::npos);
}

TEST(SignRequest, ContentSha256WhenAsked) {
  HttpRequest req = kms_request();
  ASSERT_TRUE(sign_request(req, creds(), {.region = "us-east-1", .time = t0(), .add_content_sha256 = true}));
  EXPECT_EQ(req.headers.get("x-amz-content-sha256").value_or(""), payload_hash(req.body));
  EXPECT_NE(req.headers.get("authorization")->find("x-amz-content-sha256;x-amz-date"), std::string_view::npos);

  HttpRequest stale = kms_request();
  stale.headers.set("X-Amz-Content-Sha256", "0000");
  ASSERT_TRUE(sign_request(stale, creds(), {.region = "us-east-1", .time = t0()}));
  EXPECT_EQ(stale.headers.get("x-amz-content-sha256").value_or(""), payload_hash(stale.body));
}

TEST(SignRequest, SignatureDependsOnBodyTimeRegionAndService) {
  auto sign = [](HttpRequest req, std::string_view region, std::string_view service, kp::SysTime t) {
    EXPECT_TRUE(sign_request(req, creds(), {.region = region, .service = service, .time = t}));
    return std::string(req.headers.get("authorization").value_or(""));
  };
  const std::string base = sign(kms_request(), "us-east-1", "kms", t0());
  EXPECT_EQ(base, sign(kms_request(), "us-east-1", "kms", t0()));  // deterministic
  HttpRequest other_body = kms_request();
  other_body.body += " ";
  EXPECT_NE(base, sign(other_body, "us-east-1", "kms", t0()));
  EXPECT_NE(base, sign(kms_request(), "us-east-1", "kms", t0() + std::chrono::seconds(1)));
  EXPECT_NE(base, sign(kms_request(), "eu-west-1", "kms", t0()));
  EXPECT_NE(base, sign(kms_request(), "us-east-1", "sts", t0()));
}

TEST(SignRequest, RejectsMissingPrerequisites) {
  HttpRequest no_host = kms_request();
  no_host.headers.erase("host");
  auto r = sign_request(no_host, creds(), {.region = "us-east-1", .time = t0()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInternal);

  HttpRequest req = kms_request();
  r = sign_request(req, creds(), {.region = "us-east-1"});  // time not set
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInternal);

  r = sign_request(req, creds(), {.region = "", .time = t0()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInternal);
  r = sign_request(req, creds(), {.region = "us-east-1/x", .time = t0()});
  ASSERT_FALSE(r);

  Credentials empty{"AKID", {}, {}, std::nullopt};
  r = sign_request(req, empty, {.region = "us-east-1", .time = t0()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);

  r = sign_request(req, creds("zq7secret\r\nX-Evil: 1"), {.region = "us-east-1", .time = t0()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(r.error().message.find("zq7secret"), std::string::npos);  // never echoes the token
}

TEST(Credentials, CloneIsDeep) {
  Credentials a = creds("tok");
  a.expiration = t0();
  const Credentials b = a.clone();
  EXPECT_EQ(b.access_key_id, a.access_key_id);
  EXPECT_TRUE(b.secret_access_key.equals(a.secret_access_key.view()));
  EXPECT_TRUE(b.session_token.equals(a.session_token.view()));
  EXPECT_NE(b.secret_access_key.data(), a.secret_access_key.data());
  EXPECT_EQ(b.expiration, a.expiration);
}

}  // namespace
}  // namespace kp::sigv4
