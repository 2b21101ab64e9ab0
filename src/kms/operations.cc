#include "kms/operations.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "base/http_message.h"

namespace kp::kms {

namespace {

constexpr OperationInfo kOperations[] = {
#include "kms/operations_table.inc"
};

struct AttestedRow {
  AttestedOp op;
  std::string_view name;
  std::string_view plaintext_field;
};

constexpr AttestedRow kAttested[] = {
    {AttestedOp::kDecrypt, "Decrypt", "Plaintext"},
    {AttestedOp::kGenerateDataKey, "GenerateDataKey", "Plaintext"},
    {AttestedOp::kGenerateDataKeyPair, "GenerateDataKeyPair", "PrivateKeyPlaintext"},
    {AttestedOp::kGenerateRandom, "GenerateRandom", "Plaintext"},
    {AttestedOp::kDeriveSharedSecret, "DeriveSharedSecret", "SharedSecret"},
};

const AttestedRow& attested_row(AttestedOp op) noexcept {
  for (const auto& r : kAttested) {
    if (r.op == op) {
      return r;
    }
  }
  return kAttested[0];  // unreachable for valid enumerators
}

// Splits "TrentService.<Op>" (prefix case-insensitive); empty on mismatch.
std::string_view operation_part(std::string_view target) noexcept {
  if (target.size() <= kTargetPrefix.size() + 1 || target[kTargetPrefix.size()] != '.' ||
      !kp::iequals(target.substr(0, kTargetPrefix.size()), kTargetPrefix)) {
    return {};
  }
  return target.substr(kTargetPrefix.size() + 1);
}

bool printable_name(std::string_view s) noexcept {
  return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

std::span<const OperationInfo> all_operations() noexcept { return kOperations; }

const OperationInfo* find_operation(std::string_view name) noexcept {
  for (const auto& op : kOperations) {
    if (kp::iequals(op.name, name)) {
      return &op;
    }
  }
  return nullptr;
}

kp::Result<std::string_view> parse_target(std::string_view target) {
  if (target.empty()) {
    return kp::fail(Errc::kUnknownOperation, "kms: missing X-Amz-Target header");
  }
  const std::string_view op = operation_part(target);
  if (op.empty()) {
    return kp::fail(Errc::kUnknownOperation, "kms: X-Amz-Target must be TrentService.<Operation>");
  }
  if (const OperationInfo* info = find_operation(op)) {
    return info->name;
  }
  // Echo the name only when it is short and alphanumeric (never arbitrary bytes).
  return kp::fail(Errc::kUnknownOperation,
                  printable_name(op) ? "kms: unknown operation " + std::string(op) + " in X-Amz-Target"
                                     : std::string("kms: unknown operation in X-Amz-Target"));
}

const OperationInfo* find_target_operation(std::string_view target) noexcept {
  return find_operation(operation_part(target));
}

std::optional<std::string_view> operation_name(std::string_view target) noexcept {
  if (const OperationInfo* info = find_target_operation(target)) {
    return info->name;
  }
  return std::nullopt;
}

bool replay_safe(std::string_view model_name) noexcept {
  for (const std::string_view prefix : {"Describe", "Get", "List"}) {
    if (model_name.starts_with(prefix)) {
      return true;
    }
  }
  for (const std::string_view name :
       {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "GenerateMac", "VerifyMac", "Sign", "Verify",
        "DeriveSharedSecret"}) {
    if (model_name == name) {
      return true;
    }
  }
  return false;
}

std::size_t operation_index(std::string_view name) noexcept {
  const OperationInfo* info = find_operation(name);
  return info != nullptr ? static_cast<std::size_t>(info - kOperations) : std::size(kOperations);
}

std::string_view operation_name_at(std::size_t index) noexcept {
  return index < std::size(kOperations) ? kOperations[index].name : std::string_view("Other");
}

std::optional<AttestedOp> attested_op(std::string_view target) noexcept {
  const std::string_view op = operation_part(target);
  for (const auto& r : kAttested) {
    if (kp::iequals(r.name, op)) {
      return r.op;
    }
  }
  return std::nullopt;
}

std::string_view plaintext_field(AttestedOp op) noexcept { return attested_row(op).plaintext_field; }

std::string_view canonical_name(AttestedOp op) noexcept { return attested_row(op).name; }

}  // namespace kp::kms
