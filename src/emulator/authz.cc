// Key-policy enforcement through kp::policy (the module `kms-proxy
// policy-check` uses too): every request on a key is evaluated against the
// key's policy with the request's condition keys.
#include "policy/policy.h"

#include <chrono>
#include <string>
#include <vector>

#include "base/time_format.h"
#include "emulator/internal.h"

namespace kp::emulator {

namespace {

Result<policy::Decision> decide(std::string_view policy_text, std::string_view action, const Caller& caller,
                                std::string_view key_arn, const ConditionKeys& conditions) {
  auto p = policy::parse_policy(policy_text);
  if (!p) {
    return p.error();
  }
  policy::RequestContext ctx;
  ctx.action = std::string(action);
  ctx.principal_arn = caller.principal_arn;
  ctx.caller_account = caller.account;
  ctx.resource = std::string(key_arn);
  ctx.keys = conditions;
  // Global condition keys every AWS request carries (IAM User Guide,
  // "AWS global condition context keys"). aws:SourceIp is not among them:
  // the emulator listens on loopback, where it would only ever be 127.0.0.1.
  ctx.keys.try_emplace("aws:CurrentTime", std::vector<std::string>{format_rfc3339(caller.request_time)});
  ctx.keys.try_emplace(
      "aws:EpochTime",
      std::vector<std::string>{std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(caller.request_time.time_since_epoch()).count())});
  ctx.keys.try_emplace("aws:SecureTransport",
                       std::vector<std::string>{caller.secure_transport ? "true" : "false"});
  return policy::evaluate(*p, ctx);
}

}  // namespace

Result<void> authorize(const KeyRecord& key, std::string_view action, const Caller& caller,
                       const ConditionKeys& conditions) {
  const std::string arn = key.arn();
  auto d = decide(key.policy, action, caller, arn, conditions);
  if (!d) {
    // Stored policies were parsed when set; failing now is a bug or a hand-edited file.
    return fail(Errc::kInternal, "kms-emulator: the stored key policy of " + arn + " does not parse");
  }
  if (!d->allowed) {
    return fail(Errc::kAccessDenied,
                policy::access_denied_message(caller.principal_arn, action, arn, d->explicit_deny));
  }
  return {};
}

Result<void> check_policy_document(std::string_view policy_text) {
  auto p = policy::parse_policy(policy_text);
  if (!p) {
    return p.error();
  }
  return {};
}

Result<void> check_policy_lockout(std::string_view policy_text, const Caller& caller, std::string_view key_arn) {
  // KMS's "policy lockout safety check": the principal making the request
  // must still be allowed to call PutKeyPolicy under the new policy.
  ConditionKeys conditions;
  conditions["kms:CallerAccount"] = {caller.account};
  auto d = decide(policy_text, "kms:PutKeyPolicy", caller, key_arn, conditions);
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
