// File: sigv4/canonical.h
// AWS Signature Version 4, task 1 (canonical request) and task 2 (string to
// sign), one testable stage function per step. Spec: "Create a canonical
// request" / "Create a string to sign" in
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
// and the AWS SigV4 test suite (vectors/sigv4_testsuite).
//
// Pure: depends on base and OpenSSL (SHA-256) only; no Asio/Beast.
//
//   auto [path, query] = kp::sigv4::split_target(req.target);
//   auto headers = kp::sigv4::canonical_headers(req.headers, HeaderPolicy::kAwsDefault);
//   auto creq = kp::sigv4::canonical_request(req.method, canonical_uri(path),
//                                             canonical_query_string(query), headers,
//                                             payload_hash(req.body));
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/http_message.h"

namespace kp::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kScopeTerminator = "aws4_request";
/// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Which request headers go into the signature.
enum class HeaderPolicy {
  /// What AWS requires and the SDKs' minimum: host, content-type and every
  /// x-amz-* header (x-amz-date, x-amz-target, x-amz-security-token,
  /// x-amz-content-sha256, ...). Used for KMS requests.
  kAwsDefault,
  /// Every header except the never-signed ones (botocore's behaviour; the AWS
  /// test suite signs every header it lists).
  kAllSignable,
};

/// Whether a header (any case) is signed under `policy`. Never signed, under
/// any policy: authorization, user-agent, expect, transfer-encoding,
/// x-amzn-trace-id, content-length and the hop-by-hop headers (connection,
/// keep-alive, proxy-authenticate, proxy-authorization, te, trailer, upgrade),
/// because proxies and HTTP stacks add, drop or rewrite them in transit.
bool should_sign(std::string_view name, HeaderPolicy policy) noexcept;

/// Splits an origin-form request target into path and query (without '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept;

/// Step 2, CanonicalURI. `path` is the path as sent on the wire. With
/// `normalize` (every service except S3) dot segments are removed (RFC 3986
/// 5.2.4) and empty segments collapsed, as botocore does. Then every byte
/// outside the unreserved set and '/' is percent-encoded once more (upper-case
/// hex). For a wire path that is already percent-encoded this is the "encode
/// twice" rule AWS documents for non-S3 services; the test suite's raw paths
/// ("/example space/", "/ሴ") come out encoded once. Empty path -> "/".
std::string canonical_uri(std::string_view path, bool normalize = true);

/// Step 3, CanonicalQueryString: each name and value percent-decoded, then
/// URI-encoded (RFC 3986 unreserved kept, everything else %XX), pairs sorted
/// by name then value; a parameter without '=' gets an empty value ("a=").
std::string canonical_query_string(std::string_view query);

/// Step 4 value rule: leading/trailing whitespace trimmed, inner runs of
/// whitespace (incl. obs-fold line breaks) collapsed to one space.
std::string canonical_header_value(std::string_view raw);

/// Steps 4-5 together: the canonical header block ("name:value\n" per header,
/// lower-case names sorted, repeated headers joined with ',' in the order
/// received) and the SignedHeaders list ("host;x-amz-date").
struct CanonicalHeaders {
  std::string block;
  std::string signed_headers;
};
CanonicalHeaders canonical_headers(const Headers& headers, HeaderPolicy policy);

/// Step 5 alone: the SignedHeaders list `canonical_headers` would produce.
std::string signed_header_list(const Headers& headers, HeaderPolicy policy);

/// Verification side of steps 4-5: canonicalises exactly the headers named in
/// `names` (lower-case, in the given order, as a client listed them in its
/// SignedHeaders). Returns nullopt if a listed header is absent.
std::optional<CanonicalHeaders> canonical_headers_for(const Headers& headers,
                                                      std::span<const std::string> names);

/// Step 6: lower-case hex SHA-256 of the exact body bytes.
std::string payload_hash(std::string_view body);

/// Step 7: the canonical request:
/// method \n uri \n query \n header-block \n signed-headers \n payload-hash.
std::string canonical_request(std::string_view method, std::string_view canonical_uri,
                              std::string_view canonical_query, const CanonicalHeaders& headers,
                              std::string_view payload_hash);

/// "20150830/us-east-1/kms/aws4_request".
std::string credential_scope(std::string_view date8, std::string_view region,
                             std::string_view service);

/// Task 2: "AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(creq)>".
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);

// The same steps writing into caller-owned buffers (cleared first, capacity
// kept): the signer reuses one set per thread instead of allocating each
// string for every request.
void canonical_headers_into(const Headers& headers, HeaderPolicy policy, CanonicalHeaders& out);
void canonical_request_into(std::string& out, std::string_view method, std::string_view canonical_uri,
                            std::string_view canonical_query, const CanonicalHeaders& headers,
                            std::string_view payload_hash);
void credential_scope_into(std::string& out, std::string_view date8, std::string_view region,
                           std::string_view service);
void string_to_sign_into(std::string& out, std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

}  // namespace kp::sigv4
