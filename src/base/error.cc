#include "base/error.h"

#include <stdexcept>

#include "base/result.h"

namespace kp {

namespace {

struct Row {
  Errc code;
  std::string_view name;
  unsigned status;
  std::string_view type;
  bool retryable;
};

// The single mapping table. Statuses follow the AWS API reference (KMS
// exceptions are 400 except the internal ones) and what SDKs retry (5xx).
constexpr Row kTable[] = {
    {Errc::kMalformedRequest, "malformed_request", 400, "SerializationException", false},
    {Errc::kValidation, "validation", 400, "ValidationException", false},
    {Errc::kUnknownOperation, "unknown_operation", 400, "UnknownOperationException", false},
    {Errc::kIncompleteSignature, "incomplete_signature", 400, "IncompleteSignatureException", false},
    {Errc::kMissingAuthentication, "missing_authentication", 400, "MissingAuthenticationTokenException", false},
    {Errc::kInvalidSignature, "invalid_signature", 400, "InvalidSignatureException", false},
    {Errc::kUnrecognizedClient, "unrecognized_client", 400, "UnrecognizedClientException", false},
    {Errc::kRequestExpired, "request_expired", 400, "RequestExpired", false},
    {Errc::kPayloadTooLarge, "payload_too_large", 413, "RequestEntityTooLargeException", false},
    {Errc::kHeaderTooLarge, "header_too_large", 431, "RequestHeaderFieldsTooLargeException", false},
    {Errc::kRequestTimeout, "request_timeout", 408, "RequestTimeoutException", true},
    {Errc::kUnsupportedMediaType, "unsupported_media_type", 400, "SerializationException", false},
    {Errc::kAccessDenied, "access_denied", 400, "AccessDeniedException", false},
    {Errc::kNotFound, "not_found", 400, "NotFoundException", false},
    {Errc::kDisabled, "disabled", 400, "DisabledException", false},
    {Errc::kInvalidCiphertext, "invalid_ciphertext", 400, "InvalidCiphertextException", false},
    {Errc::kInvalidKeyUsage, "invalid_key_usage", 400, "InvalidKeyUsageException", false},
    {Errc::kIncorrectKey, "incorrect_key", 400, "IncorrectKeyException", false},
    {Errc::kInvalidState, "invalid_state", 400, "KMSInvalidStateException", false},
    {Errc::kAlreadyExists, "already_exists", 400, "AlreadyExistsException", false},
    {Errc::kUnsupportedOperation, "unsupported_operation", 400, "UnsupportedOperationException", false},
    {Errc::kInvalidAliasName, "invalid_alias_name", 400, "InvalidAliasNameException", false},
    {Errc::kInvalidArn, "invalid_arn", 400, "InvalidArnException", false},
    {Errc::kMalformedPolicy, "malformed_policy", 400, "MalformedPolicyDocumentException", false},
    {Errc::kInvalidMarker, "invalid_marker", 400, "InvalidMarkerException", false},
    {Errc::kTagException, "tag_exception", 400, "TagException", false},
    {Errc::kLimitExceeded, "limit_exceeded", 400, "LimitExceededException", false},
    {Errc::kKmsInvalidSignature, "kms_invalid_signature", 400, "KMSInvalidSignatureException", false},
    {Errc::kAttestationInvalid, "attestation_invalid", 400, "ValidationException", false},
    {Errc::kNsmFailed, "nsm_failed", 500, "KMSProxyAttestationException", true},
    {Errc::kNsmTimeout, "nsm_timeout", 503, "KMSProxyAttestationException", true},
    {Errc::kCmsInvalid, "cms_invalid", 500, "KMSProxyRecipientException", false},
    {Errc::kCmsWrongRecipient, "cms_wrong_recipient", 500, "KMSProxyRecipientException", false},
    {Errc::kCmsDecryptFailed, "cms_decrypt_failed", 500, "KMSProxyRecipientException", false},
    {Errc::kCredentialsUnavailable, "credentials_unavailable", 503, "KMSProxyCredentialsException", true},
    {Errc::kEgressDenied, "egress_denied", 502, "KMSProxyEgressException", false},
    {Errc::kUpstreamUnreachable, "upstream_unreachable", 502, "KMSProxyUpstreamException", true},
    {Errc::kUpstreamTls, "upstream_tls", 502, "KMSProxyUpstreamException", true},
    {Errc::kUpstreamProtocol, "upstream_protocol", 502, "KMSProxyUpstreamException", true},
    {Errc::kUpstreamTimeout, "upstream_timeout", 504, "KMSProxyTimeoutException", true},
    {Errc::kTooManyConnections, "too_many_connections", 503, "ServiceUnavailable", true},
    {Errc::kShuttingDown, "shutting_down", 503, "ServiceUnavailable", true},
    {Errc::kInternal, "internal", 500, "KMSInternalException", true},
};

const Row& row(Errc code) noexcept {
  for (const auto& r : kTable) {
    if (r.code == code) {
      return r;
    }
  }
  return kTable[sizeof(kTable) / sizeof(kTable[0]) - 1];  // kInternal
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string_view errc_name(Errc code) noexcept { return row(code).name; }

HttpError to_http(Errc code) noexcept {
  const auto& r = row(code);
  return {r.status, r.type};
}

bool is_retryable(Errc code) noexcept { return row(code).retryable; }

std::string kms_error_body(std::string_view type, std::string_view message) {
  std::string out;
  out.reserve(32 + type.size() + message.size());
  out += "{\"__type\":";
  append_json_string(out, type);
  out += ",\"message\":";
  append_json_string(out, message);
  out += '}';
  return out;
}

std::string kms_error_body(const Error& e) { return kms_error_body(to_http(e.code).type, e.message); }

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(std::string(errc_name(e.code)) + ": " + e.message);
}

}  // namespace kp
