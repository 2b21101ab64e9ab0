#include "policy/kms_request.h"

#include <chrono>
#include <initializer_list>
#include <optional>
#include <vector>

#include "base/time_format.h"
#include "policy/match.h"

namespace kp::policy {

namespace {

bool action_in(std::string_view action, std::initializer_list<std::string_view> names) noexcept {
  for (const std::string_view name : names) {
    if (ascii_iequals(action, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool carries_encryption_algorithm(std::string_view action) noexcept {
  return action_in(action, {"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                            "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
                            "kms:GenerateDataKeyPairWithoutPlaintext"});
}

std::string principal_arn_key_value(std::string_view principal_arn) {
  // arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION -> arn:PARTITION:iam::ACCOUNT:role/NAME
  constexpr std::string_view kAssumed = "assumed-role/";
  const auto arn = parse_arn(principal_arn);
  if (!arn || arn->service != "sts" || arn->resource.substr(0, kAssumed.size()) != kAssumed) {
    return std::string(principal_arn);
  }
  const std::string_view rest = arn->resource.substr(kAssumed.size());
  const std::string_view role = rest.substr(0, rest.find('/'));
  if (role.empty()) {
    return std::string(principal_arn);
  }
  return "arn:" + std::string(arn->partition) + ":iam::" + std::string(arn->account) + ":role/" + std::string(role);
}

std::string principal_type_of(std::string_view principal_arn) {
  const auto arn = parse_arn(principal_arn);
  if (!arn) {
    return {};
  }
  const std::string_view r = arn->resource;
  if (arn->service == "iam" && r == "root") {
    return "Account";
  }
  if (arn->service == "iam" && r.starts_with("user/")) {
    return "User";
  }
  // A role caller is a session of it (kms-emulator's `role/NAME` callers
  // stand for one).
  if ((arn->service == "sts" && r.starts_with("assumed-role/")) || (arn->service == "iam" && r.starts_with("role/"))) {
    return "AssumedRole";
  }
  if (arn->service == "sts" && r.starts_with("federated-user/")) {
    return "FederatedUser";
  }
  return {};
}

bool carries_request_alias(std::string_view action) noexcept {
  return action_in(action, {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                            "kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext",
                            "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateMac", "kms:GetPublicKey",
                            "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:Sign", "kms:Verify", "kms:VerifyMac",
                            "kms:DeriveSharedSecret"});
}

std::optional<std::string> request_alias_of(std::string_view key_id) {
  constexpr std::string_view kAlias = "alias/";
  if (key_id.starts_with(kAlias)) {
    return std::string(key_id);
  }
  if (const auto arn = parse_arn(key_id); arn && arn->service == "kms" && arn->resource.starts_with(kAlias)) {
    return std::string(arn->resource);
  }
  return std::nullopt;
}

RequestContext kms_request_context(std::string_view action, const KeyFacts& key, const CallerFacts& caller) {
  RequestContext ctx;
  ctx.action = std::string(action);
  ctx.principal_arn = caller.principal_arn;
  ctx.caller_account = caller.account;
  ctx.resource = key.arn;
  auto& k = ctx.keys;
  if (!caller.account.empty()) {
    k["kms:CallerAccount"] = {caller.account};
    k["aws:PrincipalAccount"] = {caller.account};
  }
  if (!caller.principal_arn.empty()) {
    k["aws:PrincipalArn"] = {principal_arn_key_value(caller.principal_arn)};
    if (std::string type = principal_type_of(caller.principal_arn); !type.empty()) {
      k["aws:PrincipalType"] = {std::move(type)};
    }
  }
  if (!key.region.empty()) {
    k["aws:RequestedRegion"] = {key.region};
  }
  k["kms:KeySpec"] = {key.key_spec};
  k["kms:CustomerMasterKeySpec"] = {key.key_spec};
  k["kms:KeyUsage"] = {key.key_usage};
  k["kms:KeyOrigin"] = {key.origin};
  k["kms:KeyManager"] = {key.manager};
  k["kms:MultiRegion"] = {key.multi_region ? "true" : "false"};
  for (const auto& [tag_key, tag_value] : key.tags) {  // attribute-based access control
    k["aws:ResourceTag/" + tag_key] = {tag_value};
  }
  if (key.key_spec == "SYMMETRIC_DEFAULT" && carries_encryption_algorithm(action)) {
    k["kms:EncryptionAlgorithm"] = {"SYMMETRIC_DEFAULT"};
  }
  // Global condition keys every AWS request carries (IAM User Guide, "AWS
  // global condition context keys"). aws:SourceIp is not among them.
  k["aws:CurrentTime"] = {format_rfc3339(caller.request_time)};
  k["aws:EpochTime"] = {std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(caller.request_time.time_since_epoch()).count())};
  k["aws:SecureTransport"] = {caller.secure_transport ? "true" : "false"};
  // A caller's own request, not one an AWS service makes on its behalf
  // (neither kms-emulator nor policy-check models service principals).
  k["aws:PrincipalIsAWSService"] = {"false"};
  k["aws:ViaAWSService"] = {"false"};
  return ctx;
}

}  // namespace kp::policy
