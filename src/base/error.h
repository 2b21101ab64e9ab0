// File: base/error.h
//
// The one domain error type of the project. Every module on the request path
// returns kp::Result<T> (result.h) carrying a kp::Error: an Errc code plus a
// human-readable message that names the failed component and the reason.
// Messages never contain secrets or request/response bodies.
//
// to_http() is the single place where an error becomes an HTTP status and a
// KMS-style error type ("__type"); kms_error_body() renders the JSON body.
//
// Depends on nothing but the standard library.
#pragma once

#include <string>
#include <string_view>

namespace kp {

enum class Errc {
  // --- Local client errors (4xx) ---
  kMalformedRequest,       // unparseable HTTP/JSON from the client       400 SerializationException
  kValidation,             // well-formed but invalid parameter           400 ValidationException
  kUnknownOperation,       // missing/unknown X-Amz-Target                400 UnknownOperationException
  kIncompleteSignature,    // malformed Authorization header              400 IncompleteSignature
  kMissingAuthentication,  // no Authorization header at all (emulator)   400 MissingAuthenticationToken
  kInvalidSignature,       // signature mismatch (emulator)               400 InvalidSignatureException
  kUnrecognizedClient,     // unknown access key (emulator)               400 UnrecognizedClientException
  kRequestExpired,         // X-Amz-Date too far off (emulator)           400 RequestExpired
  kPayloadTooLarge,        // body over the limit                         413 RequestEntityTooLarge
  kHeaderTooLarge,         // header block over the limit                 431 RequestHeaderFieldsTooLarge
  kRequestTimeout,         // request begun but not complete in time      408 RequestTimeoutException
  kUnsupportedMediaType,   // wrong Content-Type                          400 SerializationException
  // --- KMS semantic errors (the emulator produces these; 400) ---
  kAccessDenied,           // AccessDeniedException
  kNotFound,               // NotFoundException
  kDisabled,               // DisabledException
  kInvalidCiphertext,      // InvalidCiphertextException
  kInvalidKeyUsage,        // InvalidKeyUsageException
  kIncorrectKey,           // IncorrectKeyException
  kInvalidState,           // KMSInvalidStateException
  kAlreadyExists,          // AlreadyExistsException
  kUnsupportedOperation,   // UnsupportedOperationException
  kInvalidAliasName,       // InvalidAliasNameException
  kInvalidArn,             // InvalidArnException
  kMalformedPolicy,        // MalformedPolicyDocumentException
  kInvalidMarker,          // InvalidMarkerException
  kTagException,           // TagException
  kLimitExceeded,          // LimitExceededException
  kKmsInvalidSignature,    // KMSInvalidSignatureException (Verify: the signature does not verify)
  // --- Attestation / crypto (local component failures) ---
  kAttestationInvalid,     // document does not parse or verify          400 ValidationException (emulator)
  kNsmFailed,              // NSM device error                            500 KMSProxyAttestationException
  kNsmTimeout,             // no document within attestation.timeout      503 KMSProxyAttestationException
  kCmsInvalid,             // CiphertextForRecipient does not parse       500 KMSProxyRecipientException
  kCmsWrongRecipient,      // addressed to another key                    500 KMSProxyRecipientException
  kCmsDecryptFailed,       // RSA/AES failure                             500 KMSProxyRecipientException
  // --- Upstream / environment ---
  kCredentialsUnavailable, // no usable AWS credentials                   503 KMSProxyCredentialsException
  kEgressDenied,           // upstream host not allowed by egress policy  502 KMSProxyEgressException
  kUpstreamUnreachable,    // DNS/TCP/CONNECT failure                     502 KMSProxyUpstreamException
  kUpstreamTls,            // TLS handshake / certificate failure         502 KMSProxyUpstreamException
  kUpstreamProtocol,       // garbage or truncated response               502 KMSProxyUpstreamException
  kUpstreamTimeout,        // no timely answer                            504 KMSProxyTimeoutException
  kTooManyConnections,     // connection limit reached                    503 ServiceUnavailable
  kShuttingDown,           // proxy is draining                           503 ServiceUnavailable
  kInternal,               // bug or unexpected state                     500 KMSInternalException
};

/// A domain error: a code and a message naming component and reason.
struct Error {
  Errc code = Errc::kInternal;
  std::string message;

  Error() = default;
  Error(Errc c, std::string msg) : code(c), message(std::move(msg)) {}
};

/// Human-readable, stable name of the code ("kUpstreamTimeout" -> "upstream_timeout").
std::string_view errc_name(Errc code) noexcept;

/// The HTTP mapping of an error: status and KMS-style "__type".
struct HttpError {
  unsigned status;
  std::string_view type;
};

/// The only table that maps errors to HTTP statuses and KMS error types.
HttpError to_http(Errc code) noexcept;

/// Appends `s` as a JSON string literal (quotes included): escapes '"', '\\',
/// and control characters (and DEL) as \uXXXX; other bytes are copied.
void append_json_string(std::string& out, std::string_view s);

/// Renders {"__type":"<type>","message":"<message>"} with JSON escaping.
std::string kms_error_body(std::string_view type, std::string_view message);

/// Convenience: to_http(e.code) + kms_error_body(...).
std::string kms_error_body(const Error& e);

/// Whether a client retry may help (5xx, throttling): used in messages/metrics.
bool is_retryable(Errc code) noexcept;

}  // namespace kp
