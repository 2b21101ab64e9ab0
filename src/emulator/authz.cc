// Key-policy enforcement through kp::policy (the module `kms-proxy
// policy-check` uses too): every request on a key is evaluated against the
// key's policy with the condition keys policy::kms_request_context() gives
// every request on that key, plus the request's own.
#include "policy/kms_request.h"

#include <string>
#include <vector>

#include "emulator/internal.h"
#include "policy/policy.h"

namespace kp::emulator {

namespace {

policy::KeyFacts facts_of(const KeyRecord& key) {
  policy::KeyFacts f;
  f.arn = key.arn();
  f.region = key.region;
  f.key_spec = key.key_spec;
  f.key_usage = key.key_usage;
  for (const auto& [tag_key, tag_value] : key.tags) {
    f.tags[tag_key] = tag_value;
  }
  return f;
}

Result<policy::Decision> decide(std::string_view policy_text, std::string_view action, const Caller& caller,
                                const KeyRecord& key, const ConditionKeys& request) {
  auto p = policy::parse_policy(policy_text);
  if (!p) {
    return p.error();
  }
  policy::CallerFacts who;
  who.principal_arn = caller.principal_arn;
  who.account = caller.account;
  who.request_time = caller.request_time;
  // KMS answers only HTTPS; the emulator says what its transport is, so a
  // TLS-only policy can be tried with --tls-cert (policy-check assumes true).
  who.secure_transport = caller.secure_transport;
  policy::RequestContext ctx = policy::kms_request_context(action, facts_of(key), who);
  for (const auto& [name, values] : request) {
    ctx.keys[name] = values;
  }
  return policy::evaluate(*p, ctx);
}

// The operations KMS's API reference marks "Cross-account use: Yes"; every
// other operation on a key works only in the key's own account, whatever
// its policy says.
bool cross_account_allowed(std::string_view action) noexcept {
  static constexpr std::string_view kAllowed[] = {
      // cryptographic operations
      "kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext",
      "kms:GenerateMac", "kms:VerifyMac", "kms:Sign", "kms:Verify", "kms:DeriveSharedSecret",
      // reading a key, and grants
      "kms:DescribeKey", "kms:GetPublicKey", "kms:GetKeyRotationStatus", "kms:CreateGrant", "kms:ListGrants",
      "kms:RetireGrant", "kms:RevokeGrant"};
  for (const std::string_view a : kAllowed) {
    if (a == action) {
      return true;
    }
  }
  return false;
}

}  // namespace

void add_request_alias(ConditionKeys& c, std::string_view action, std::string_view key_id) {
  if (!policy::carries_request_alias(action)) {
    return;
  }
  if (auto alias = policy::request_alias_of(key_id)) {
    c["kms:RequestAlias"] = {std::move(*alias)};
  }
}

Result<void> authorize(const KeyRecord& key, std::string_view action, const Caller& caller,
                       const ConditionKeys& request) {
  if (key.account != caller.account && !cross_account_allowed(action)) {
    return fail(Errc::kAccessDenied, "User: " + caller.principal_arn + " is not authorized to perform: " +
                                         std::string(action) + " on resource: " + key.arn() + " (" +
                                         std::string(action.substr(4)) +
                                         " cannot be used on a KMS key in another AWS account)");
  }
  auto d = decide(key.policy, action, caller, key, request);
  if (!d) {
    // Stored policies were parsed when set; failing now is a bug or a hand-edited file.
    return fail(Errc::kInternal, "kms-emulator: the stored key policy of " + key.arn() + " does not parse");
  }
  if (!d->allowed) {
    return fail(Errc::kAccessDenied,
                policy::access_denied_message(caller.principal_arn, action, key.arn(), d->explicit_deny));
  }
  return {};
}

Result<void> check_policy_document(std::string_view policy_text) {
  if (auto ok = policy::check_attachable(policy_text); !ok) {
    return ok.error();
  }
  auto p = policy::parse_policy(policy_text);
  if (!p) {
    return p.error();
  }
  return {};
}

Result<void> check_policy_lockout(std::string_view policy_text, const Caller& caller, const KeyRecord& key) {
  // KMS's "policy lockout safety check": the principal making the request
  // must still be allowed to call PutKeyPolicy under the new policy, with the
  // condition keys such a call would carry.
  const ConditionKeys request{{"kms:BypassPolicyLockoutSafetyCheck", {"false"}}};
  auto d = decide(policy_text, "kms:PutKeyPolicy", caller, key, request);
  if (!d) {
    return d.error();
  }
  if (!d->allowed) {
    return fail(Errc::kMalformedPolicy,
                "The new key policy will not allow you to update the key policy in the future.");
  }
  return {};
}

std::string default_policy(std::string_view account) { return policy::default_key_policy(account); }

}  // namespace kp::emulator
