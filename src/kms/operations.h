// File: kms/operations.h
// KMS JSON-1.1 operations: parsing X-Amz-Target ("TrentService.<Op>"), the
// table of every operation in the API model (generated, see
// tools/gen_operations.py), and the five attested operations that accept a
// Recipient and what plaintext field each one's response carries.
// Pure: base only; no Asio, no JSON.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "base/result.h"

namespace kp::kms {

/// Model metadata targetPrefix.
inline constexpr std::string_view kTargetPrefix = "TrentService";

struct OperationInfo {
  std::string_view name;    // model spelling, e.g. "GenerateDataKey"
  bool accepts_recipient;   // its input shape has a Recipient member
};

/// Every operation of kms-service-2.json, sorted by name.
std::span<const OperationInfo> all_operations() noexcept;

/// Looks an operation name up, ASCII case-insensitively; nullptr if unknown.
const OperationInfo* find_operation(std::string_view name) noexcept;
/// find_operation() of an X-Amz-Target value ("TrentService.<Op>", matched
/// as parse_target() does); nullptr when it names no operation.
const OperationInfo* find_target_operation(std::string_view target) noexcept;

/// Parses an X-Amz-Target value. The "TrentService." prefix and the operation
/// name are matched ASCII case-insensitively (as enclaver classifies); the
/// returned view is the model's spelling (static storage). Errors, all
/// Errc::kUnknownOperation: empty target, wrong prefix, unknown operation.
kp::Result<std::string_view> parse_target(std::string_view target);

/// parse_target() without the error detail: the model spelling, or nullopt.
std::optional<std::string_view> operation_name(std::string_view target) noexcept;

/// Dense index of an operation name (case-insensitive) into all_operations(),
/// for per-operation counters; all_operations().size() for an unknown name.
std::size_t operation_index(std::string_view name) noexcept;

/// Inverse of operation_index(): the model name, or "Other" when out of range.
std::string_view operation_name_at(std::size_t index) noexcept;

/// True for an operation with no effect beyond its answer (reads, and the
/// cryptographic operations: Encrypt, Decrypt, Sign, GenerateDataKey...), so
/// sending it twice changes nothing; false for every operation that creates,
/// changes or deletes something (CreateKey, ScheduleKeyDeletion, TagResource,
/// ...) and for unknown names. The upstream client replays only these when a
/// reused connection dies under a request (RFC 9110 9.2.2).
bool replay_safe(std::string_view model_name) noexcept;

/// The operations KMS accepts a Recipient for (protocol.md 1.1).
enum class AttestedOp { kDecrypt, kGenerateDataKey, kGenerateDataKeyPair, kGenerateRandom, kDeriveSharedSecret };

/// The attested operation named by an X-Amz-Target value (prefix and name
/// case-insensitive), or nullopt for every other operation or malformed target.
std::optional<AttestedOp> attested_op(std::string_view target) noexcept;

/// The response member that carries the plaintext for `op`: "Plaintext",
/// "PrivateKeyPlaintext" (GenerateDataKeyPair) or "SharedSecret"
/// (DeriveSharedSecret).
std::string_view plaintext_field(AttestedOp op) noexcept;

/// The model's operation name, e.g. "GenerateDataKeyPair".
std::string_view canonical_name(AttestedOp op) noexcept;

}  // namespace kp::kms
