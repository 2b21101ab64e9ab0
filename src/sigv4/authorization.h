// File: sigv4/authorization.h
// Strict parser for a SigV4 Authorization header
//   AWS4-HMAC-SHA256 Credential=<akid>/<YYYYMMDD>/<region>/<service>/aws4_request,
//     SignedHeaders=<a;b;c>, Signature=<64 hex>
// The proxy reads the client's region/service from it; the emulator's
// verifier builds on it. Pure: base only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kp::sigv4 {

struct AuthorizationInfo {
  std::string access_key_id;
  std::string date;     // YYYYMMDD from the credential scope
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lower-case, sorted, unique (as sent)
  std::string signature;                    // 64 lower-case hex digits
};

/// Parses the header value. Parameters may come in any order, separated by
/// ',' with optional spaces; each must appear exactly once; no other
/// parameters are allowed. Every failure is Errc::kIncompleteSignature; a
/// missing parameter uses AWS's wording ("Authorization header requires
/// 'Credential' parameter."), other messages say which part is malformed and
/// never echo header content.
kp::Result<AuthorizationInfo> parse_authorization(std::string_view header);

/// The same parse and the same checks, without copies: views into `header`
/// (signed_headers is the raw ';'-separated list). For callers that only
/// need a field or two on the request path (the proxy reads the region).
struct AuthorizationView {
  std::string_view access_key_id;
  std::string_view date;
  std::string_view region;
  std::string_view service;
  std::string_view signed_headers;
  std::string_view signature;
};
kp::Result<AuthorizationView> parse_authorization_view(std::string_view header);

/// AWS's message for a request without a usable Authorization header.
inline constexpr std::string_view kMissingAuthorizationMessage =
    "Authorization header requires 'Credential' parameter. Authorization header requires "
    "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";

}  // namespace kp::sigv4
