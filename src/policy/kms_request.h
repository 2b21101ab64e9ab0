// File: policy/kms_request.h
//
// The condition keys KMS supplies with a request on a key, built in one place
// for kms-emulator (every request it authorizes) and `kms-proxy policy-check`
// (the request it imagines), so the two cannot disagree about what a request
// carries. The request's own keys (encryption context, Recipient
// attestation, kms:EncryptionAlgorithm when the request names one, ...) are
// added by the caller. Pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "policy/policy.h"

namespace kp::policy {

/// What a request's condition keys say about its key.
struct KeyFacts {
  std::string arn;     // the request's resource; "" = the key this policy is attached to
  std::string region;  // aws:RequestedRegion; "" = unknown (not supplied)
  std::string key_spec = "SYMMETRIC_DEFAULT";
  std::string key_usage = "ENCRYPT_DECRYPT";
  std::string origin = "AWS_KMS";
  std::string manager = "CUSTOMER";
  bool multi_region = false;
  std::map<std::string, std::string> tags;  // aws:ResourceTag/<key>
};

/// Who asks, and when.
struct CallerFacts {
  std::string principal_arn;
  std::string account;
  SysTime request_time{};
  /// aws:SecureTransport. KMS answers only HTTPS (policy-check); kms-emulator
  /// says what its own transport is.
  bool secure_transport = true;
};

/// The context KMS builds for `action` ("kms:Decrypt") on `key` by `caller`:
/// the resource; kms:CallerAccount, aws:PrincipalArn (see
/// principal_arn_key_value), aws:PrincipalType (principal_type_of),
/// aws:PrincipalAccount; aws:RequestedRegion, kms:KeySpec,
/// kms:CustomerMasterKeySpec, kms:KeyUsage, kms:KeyOrigin, kms:KeyManager,
/// kms:MultiRegion, aws:ResourceTag/*; kms:EncryptionAlgorithm
/// SYMMETRIC_DEFAULT for a symmetric key and an action that carries it; and
/// the global aws:CurrentTime, aws:EpochTime, aws:SecureTransport,
/// aws:PrincipalIsAWSService and aws:ViaAWSService (both "false": a caller's
/// own request). Not supplied: aws:userid (IAM's unique ids are not known
/// here) and aws:SourceIp.
RequestContext kms_request_context(std::string_view action, const KeyFacts& key, const CallerFacts& caller);

/// aws:PrincipalArn of a principal: for an STS assumed-role session the ARN
/// of its role (arn:aws:iam::ACCOUNT:role/NAME; the session ARN carries no
/// role path), otherwise the ARN itself (IAM User Guide, global condition keys).
std::string principal_arn_key_value(std::string_view principal_arn);

/// aws:PrincipalType of a principal ARN: "Account" (arn:...:iam::N:root),
/// "User", "AssumedRole" (a session, or a role ARN standing for one),
/// "FederatedUser"; "" for anything else.
std::string principal_type_of(std::string_view principal_arn);

/// Operations on which KMS supplies kms:RequestAlias when the request names
/// its key by an alias (cryptographic operations, DescribeKey, GetPublicKey).
bool carries_request_alias(std::string_view action) noexcept;

/// kms:RequestAlias of a request's KeyId: the alias name ("alias/x") for an
/// alias name or alias ARN, nullopt for a key id or key ARN.
std::optional<std::string> request_alias_of(std::string_view key_id);

/// Operations that carry kms:EncryptionAlgorithm (Encrypt, Decrypt,
/// ReEncryptFrom/To and the GenerateDataKey* family).
bool carries_encryption_algorithm(std::string_view action) noexcept;

}  // namespace kp::policy
