// Fuzz target: SigV4 on client-controlled input: parse_authorization on an
// arbitrary header value, the canonicalisation stages on random requests
// (URI, query, header values, header block under both policies), and
// verify_request on the random request carrying that Authorization.
// Properties checked:
//  * a parsed Authorization is well-formed: 64 lower-case hex signature,
//    8-digit date, non-empty sorted unique lower-case SignedHeaders;
//  * signed_header_list() equals canonical_headers().signed_headers, and
//    canonical_headers_for() with that list reproduces the same block;
//  * sign-then-verify: the random request signed with fixed credentials
//    verifies (signer and verifier canonicalise identically);
//  * the same header value read as an HTTP Date (the proxy corrects its
//    signing clock by KMS's): a parsed date is within the supported years
//    and formats to an IMF-fixdate that parses back to the same instant.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/http_message.h"
#include "base/time_format.h"
#include "fuzz_util.h"
#include "sigv4/authorization.h"
#include "sigv4/canonical.h"
#include "sigv4/signer.h"
#include "sigv4/verify.h"

namespace {

using namespace kp::sigv4;

constexpr std::string_view kAccessKey = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";  // AWS test suite
const kp::SysTime kNow = kp::from_unix_ms(1440938160000);                       // 2015-08-30T12:36:00Z

void check_authorization(std::string_view header) {
  auto info = parse_authorization(header);
  if (!info) {
    KP_FUZZ_CHECK(info.error().code == kp::Errc::kIncompleteSignature);
    return;
  }
  KP_FUZZ_CHECK(info->signature.size() == 64);
  KP_FUZZ_CHECK(std::all_of(info->signature.begin(), info->signature.end(),
                            [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
  KP_FUZZ_CHECK(info->date.size() == 8);
  KP_FUZZ_CHECK(!info->access_key_id.empty() && !info->region.empty() && !info->service.empty());
  KP_FUZZ_CHECK(!info->signed_headers.empty());
  KP_FUZZ_CHECK(std::is_sorted(info->signed_headers.begin(), info->signed_headers.end()));
  KP_FUZZ_CHECK(std::adjacent_find(info->signed_headers.begin(), info->signed_headers.end()) ==
                info->signed_headers.end());
  for (const auto& h : info->signed_headers) {
    KP_FUZZ_CHECK(!h.empty());
    KP_FUZZ_CHECK(std::none_of(h.begin(), h.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  }
}

void check_http_date(std::string_view value) {
  const auto t = kp::parse_http_date(value, kNow);
  if (!t) {
    return;
  }
  KP_FUZZ_CHECK(*t >= *kp::parse_time_utc("1900-01-01T00:00:00Z"));
  KP_FUZZ_CHECK(*t <= *kp::parse_time_utc("2199-12-31T23:59:59Z"));
  const std::string imf = kp::format_http_date(*t);
  KP_FUZZ_CHECK(imf.size() == 29);
  KP_FUZZ_CHECK(kp::parse_http_date(imf, kNow) == t);
}

// A field name as an HTTP parser would deliver it: a non-empty token.
std::string token(FuzzedDataProvider& fdp) {
  static constexpr std::string_view kNames[] = {"Host", "X-Amz-Date", "x-amz-target", "Content-Type",
                                                "X-Amz-Security-Token", "x-amz-content-sha256",
                                                "User-Agent", "Connection", "My-Header"};
  if (fdp.ConsumeBool()) {
    return std::string(kNames[fdp.ConsumeIntegralInRange<std::size_t>(0, std::size(kNames) - 1)]);
  }
  std::string s = fdp.ConsumeRandomLengthString(24);
  std::erase_if(s, [](char c) {
    return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
             c == '_' || c == '.' || c == '!' || c == '~');
  });
  return s.empty() ? std::string("x") : s;
}

// A field value as an HTTP parser would deliver it: no CR, LF or NUL.
std::string field_value(FuzzedDataProvider& fdp) {
  std::string s = fdp.ConsumeRandomLengthString(64);
  std::erase_if(s, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  return s;
}

void check_canonical(const kp::HttpRequest& req) {
  for (const auto policy : {HeaderPolicy::kAwsDefault, HeaderPolicy::kAllSignable}) {
    const CanonicalHeaders ch = canonical_headers(req.headers, policy);
    KP_FUZZ_CHECK(signed_header_list(req.headers, policy) == ch.signed_headers);
    std::vector<std::string> names;
    if (!ch.signed_headers.empty()) {
      names = kp::fuzz::split(ch.signed_headers, ';');
    }
    const auto again = canonical_headers_for(req.headers, names);
    KP_FUZZ_CHECK(again.has_value());
    KP_FUZZ_CHECK(again->block == ch.block && again->signed_headers == ch.signed_headers);
    const auto [path, query] = split_target(req.target);
    const std::string creq = canonical_request(req.method, canonical_uri(path, true),
                                               canonical_query_string(query), ch, payload_hash(req.body));
    (void)canonical_uri(path, false);
    (void)string_to_sign("20150830T123600Z", credential_scope("20150830", "us-east-1", "kms"), creq);
  }
  for (const auto& [name, value] : req.headers.fields()) {
    (void)should_sign(name, HeaderPolicy::kAwsDefault);
    (void)canonical_header_value(value);
  }
}

void check_sign_verify(kp::HttpRequest req, HeaderPolicy policy) {
  if (!req.headers.contains("host")) {
    req.headers.set("Host", "kms.us-east-1.amazonaws.com");
  }
  Credentials creds;
  creds.access_key_id = std::string(kAccessKey);
  creds.secret_access_key = kp::SecretBytes::copy_of(kSecret);
  SignOptions opts;
  opts.region = "us-east-1";
  opts.service = "kms";
  opts.time = kNow;
  opts.headers = policy;
  auto signed_ok = sign_request(req, creds, opts);
  KP_FUZZ_CHECK(signed_ok.has_value());
  const SecretLookup lookup = [](std::string_view akid) -> std::optional<kp::SecretBytes> {
    if (akid != kAccessKey) {
      return std::nullopt;
    }
    return kp::SecretBytes::copy_of(kSecret);
  };
  auto verified = verify_request(req, lookup, kNow);
  if (!verified) {
    std::fprintf(stderr, "verify after sign failed: %s\n", verified.error().message.c_str());
  }
  KP_FUZZ_CHECK(verified.has_value());
  KP_FUZZ_CHECK(verified->access_key_id == kAccessKey && verified->region == "us-east-1" &&
                verified->service == "kms");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const std::string authorization = fdp.ConsumeRandomLengthString(512);
  check_authorization(authorization);
  check_http_date(authorization);

  kp::HttpRequest req;
  req.method = fdp.ConsumeBool() ? "POST" : fdp.ConsumeRandomLengthString(8);
  req.target = fdp.ConsumeRandomLengthString(128);
  const std::size_t n = fdp.ConsumeIntegralInRange<std::size_t>(0, 12);
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = token(fdp);
    req.headers.add(name, field_value(fdp));
  }
  req.body = fdp.ConsumeRemainingBytesAsString();
  check_canonical(req);

  // The emulator's view: the request with the fuzzed Authorization.
  kp::HttpRequest as_sent = req;
  as_sent.headers.set("Authorization", authorization);
  const SecretLookup lookup = [](std::string_view) -> std::optional<kp::SecretBytes> {
    return kp::SecretBytes::copy_of(kSecret);
  };
  (void)verify_request(as_sent, lookup, kNow);

  check_sign_verify(req, HeaderPolicy::kAwsDefault);
  check_sign_verify(std::move(req), HeaderPolicy::kAllSignable);
  return 0;
}
