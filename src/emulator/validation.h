// File: emulator/validation.h
//
// Model-driven request validation with AWS's wording. Checks the parsed JSON
// body of an operation against its input shape (emulator/model.h): JSON types
// (a wrong type is a SerializationException, as the AWS JSON protocol
// reports it; a null list element or map value is one too), then the constraints,
// collected in member order into one ValidationException message:
//
//   1 validation error detected: Value 'x' at 'keySpec' failed to satisfy
//   constraint: Member must satisfy enum value set: [RSA_2048, ...]
//
// Values of blobs and sensitive members are never echoed ("Value at
// 'plaintext' failed ..."). Unknown members are ignored, as AWS does.
//
// Pure: Boost.JSON only.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

#include "base/result.h"
#include "emulator/model.h"

namespace kp::emulator {

/// Errors: kMalformedRequest (wrong JSON type, bad base64), kValidation
/// (constraint failures, AWS message format).
Result<void> validate_request(const Model& model, std::string_view operation, const boost::json::object& input);

/// "1 validation error detected: <one>" for checks done outside the model.
std::string single_validation_message(std::string_view detail);

/// Length of the bytes a standard padded base64 string decodes to, or -1 if
/// its length/padding cannot be base64 (characters are checked on decode).
long long base64_decoded_length(std::string_view b64) noexcept;

}  // namespace kp::emulator
