#include "sigv4/verify.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "base/time_format.h"
#include "sigv4/authorization.h"
#include "sigv4/canonical.h"
#include "sigv4/signer.h"

namespace kp::sigv4 {

namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool is_amz_date(std::string_view s) noexcept {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') {
    return false;
  }
  for (std::size_t i = 0; i < 15; ++i) {
    if (i != 8 && (s[i] < '0' || s[i] > '9')) {
      return false;
    }
  }
  return true;
}

}  // namespace

kp::Result<VerifiedCaller> verify_request(const kp::HttpRequest& req, const SecretLookup& lookup,
                                          kp::SysTime now, std::chrono::seconds max_skew,
                                          SigningKeyCache* key_cache) {
  // 1. The Authorization header (SigV4 header form; presigned query auth is
  //    not used by the SDKs for KMS).
  const auto auth_header = req.headers.get("authorization");
  if (!auth_header || auth_header->empty()) {
    // What AWS's JSON services answer an unsigned request.
    return kp::fail(Errc::kMissingAuthentication, "Missing Authentication Token");
  }
  auto parsed = parse_authorization(*auth_header);
  if (!parsed) {
    return parsed.error();
  }
  const AuthorizationInfo& auth = *parsed;

  // 2. Date and the headers AWS insists on signing.
  const auto amz_date = req.headers.get("x-amz-date");
  if (!amz_date) {
    return kp::fail(Errc::kIncompleteSignature,
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const auto request_time = is_amz_date(*amz_date) ? kp::parse_time_utc(*amz_date) : std::nullopt;
  if (!request_time) {
    return kp::fail(Errc::kIncompleteSignature,
                    "X-Amz-Date must be in ISO-8601 basic format YYYYMMDDTHHMMSSZ");
  }
  if (!contains(auth.signed_headers, "host")) {
    return kp::fail(Errc::kIncompleteSignature,
                    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (!contains(auth.signed_headers, "x-amz-date")) {
    return kp::fail(Errc::kIncompleteSignature,
                    "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }

  // 3. Who is calling.
  std::optional<kp::SecretBytes> secret = lookup ? lookup(auth.access_key_id) : std::nullopt;
  if (!secret || secret->empty()) {
    return kp::fail(Errc::kUnrecognizedClient, std::string(kUnrecognizedClientMessage));
  }

  // 4. The scope must name the same day as X-Amz-Date (AWS wording).
  if (amz_date->substr(0, 8) != auth.date) {
    return kp::fail(Errc::kInvalidSignature,
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                    "from HTTP: '" + auth.date + "' != '" + std::string(amz_date->substr(0, 8)) +
                        "', from '" + std::string(*amz_date) + "'.");
  }

  // 5. Clock skew, with AWS's messages for JSON services.
  if (*request_time + max_skew < now) {
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(max_skew).count();
    return kp::fail(Errc::kInvalidSignature,
                    "Signature expired: " + std::string(*amz_date) + " is now earlier than " +
                        kp::format_amz_date(now - max_skew) + " (" + kp::format_amz_date(now) + " - " +
                        std::to_string(minutes) + " min.)");
  }
  if (*request_time > now + max_skew) {
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(max_skew).count();
    return kp::fail(Errc::kInvalidSignature,
                    "Signature not yet current: " + std::string(*amz_date) + " is still later than " +
                        kp::format_amz_date(now + max_skew) + " (" + kp::format_amz_date(now) + " + " +
                        std::to_string(minutes) + " min.)");
  }

  // 6. Recompute over the client's own SignedHeaders list.
  const auto headers = canonical_headers_for(req.headers, auth.signed_headers);
  if (!headers) {
    // A header the client claims to have signed is not in the request.
    return kp::fail(Errc::kInvalidSignature, std::string(kSignatureMismatchMessage));
  }
  const auto [path, query] = split_target(req.target);
  const std::string creq = canonical_request(req.method, canonical_uri(path),
                                             canonical_query_string(query), *headers,
                                             payload_hash(req.body));
  const std::string scope = credential_scope(auth.date, auth.region, auth.service);
  const std::string sts = string_to_sign(*amz_date, scope, creq);
  SigningKeyCache& cache = key_cache != nullptr ? *key_cache : SigningKeyCache::process_default();
  const auto key = cache.get(auth.access_key_id, *secret, auth.date, auth.region, auth.service);
  const std::string expected = signature(*key, sts);
  if (expected.size() != auth.signature.size() ||
      CRYPTO_memcmp(expected.data(), auth.signature.data(), expected.size()) != 0) {
    return kp::fail(Errc::kInvalidSignature, std::string(kSignatureMismatchMessage));
  }
  return VerifiedCaller{auth.access_key_id, auth.region, auth.service};
}

}  // namespace kp::sigv4
