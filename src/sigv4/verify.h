// File: sigv4/verify.h
// Server-side SigV4 verification for the KMS emulator: recomputes the
// signature over the request's own SignedHeaders list and compares it in
// constant time, with AWS-like errors. Pure: base and sigv4 only; no Asio.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/http_message.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::sigv4 {

class SigningKeyCache;

struct VerifiedCaller {
  std::string access_key_id;
  std::string region;
  std::string service;
};

/// Returns the secret access key for a key id, or nullopt if unknown.
using SecretLookup = std::function<std::optional<kp::SecretBytes>(std::string_view access_key_id)>;

/// AWS's signature-mismatch message (InvalidSignatureException).
inline constexpr std::string_view kSignatureMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
/// AWS's unknown-key message (UnrecognizedClientException).
inline constexpr std::string_view kUnrecognizedClientMessage =
    "The security token included in the request is invalid.";

/// Verifies `req` signed with SigV4 (header form). Checks, in order:
///  1. Authorization present and well-formed           -> kIncompleteSignature
///  2. X-Amz-Date present, ISO-8601 basic, signed, and  -> kIncompleteSignature
///     `host` signed
///  3. access key known (lookup)                        -> kUnrecognizedClient
///  4. scope date == X-Amz-Date's date                  -> kInvalidSignature
///  5. |now - X-Amz-Date| <= max_skew                   -> kInvalidSignature ("Signature expired: ..."
///                                                         / "Signature not yet current: ...")
///  6. recomputed signature == given (constant time)    -> kInvalidSignature
/// The caller checks region/service (returned) against what it serves.
kp::Result<VerifiedCaller> verify_request(const kp::HttpRequest& req, const SecretLookup& lookup,
                                          kp::SysTime now,
                                          std::chrono::seconds max_skew = std::chrono::minutes(5),
                                          SigningKeyCache* key_cache = nullptr);

}  // namespace kp::sigv4
