// File: kms/errors.h
// Reads an upstream KMS (AWS JSON 1.1) error body:
//   {"__type":"com.amazonaws.kms#NotFoundException","message":"..."}
// Forms handled (botocore BaseJSONParser._do_error_parse): "__type" as
// "Name", "prefix#Name", "Name:extra" (anything after the first ':' dropped,
// then anything up to the last '#'); the message key "message" or "Message".
// Pure: base and Boost.JSON only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kp::kms {

struct KmsErrorInfo {
  std::string type;     // sanitised, e.g. "NotFoundException"
  std::string message;  // empty if the body has none
};

/// "com.amazonaws.kms#NotFoundException" -> "NotFoundException";
/// "ThrottlingException:http://internal..." -> "ThrottlingException".
std::string_view sanitize_error_type(std::string_view raw) noexcept;

/// KMS's x-amzn-RequestId as it may appear in a log line: at most 128 bytes
/// of [A-Za-z0-9._:/+=-], any other byte replaced by '?' (a UUID passes
/// unchanged). The field comes from the upstream, and a log line's
/// `key=value` pairs are read back as fields: a space, quote or byte that is
/// not ASCII must not forge one or break a JSON line.
std::string loggable_request_id(std::string_view raw);

/// nullopt when the body is not a JSON object or carries no usable type. If
/// the body has no "__type", `error_type_header` (the x-amzn-ErrorType
/// response header, if any) is used instead.
std::optional<KmsErrorInfo> parse_error_body(std::string_view body,
                                             std::string_view error_type_header = {});

/// True for the (sanitised) error types AWS services use when a signature's
/// time is too far from theirs, the list the AWS SDKs correct their clock on
/// (AuthFailure, InvalidSignatureException, RequestExpired,
/// RequestInTheFuture, RequestTimeTooSkewed, SignatureDoesNotMatch). Some of
/// these also stand for other signature faults: the caller confirms the
/// skew with the response's Date header.
bool is_clock_skew_error(std::string_view type) noexcept;

}  // namespace kp::kms
