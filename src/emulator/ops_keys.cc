// Key management operations: CreateKey, DescribeKey, ListKeys, Enable/Disable,
// Schedule/CancelKeyDeletion, Put/Get/ListKeyPolicies, GetPublicKey,
// UpdateKeyDescription, GetKeyRotationStatus, ListGrants (tags: ops_tags.cc).
#include <algorithm>

#include <boost/json.hpp>

#include "crypto/ec.h"
#include "emulator/internal.h"
#include "emulator/validation.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

constexpr std::int64_t kDayMs = 24LL * 60 * 60 * 1000;

// KeySpec -> KeyUsage values KMS allows with it (AWS developer guide,
// "Key spec reference").
bool usage_compatible(std::string_view spec, std::string_view usage) {
  if (spec == "SYMMETRIC_DEFAULT") {
    return usage == "ENCRYPT_DECRYPT";
  }
  if (spec.starts_with("RSA_")) {
    return usage == "ENCRYPT_DECRYPT" || usage == "SIGN_VERIFY";
  }
  if (spec == "ECC_NIST_P256" || spec == "ECC_NIST_P384" || spec == "ECC_NIST_P521") {
    return usage == "SIGN_VERIFY" || usage == "KEY_AGREEMENT";
  }
  if (spec.starts_with("HMAC_")) {
    return usage == "GENERATE_VERIFY_MAC";
  }
  if (spec == "SM2") {
    return usage == "ENCRYPT_DECRYPT" || usage == "SIGN_VERIFY" || usage == "KEY_AGREEMENT";
  }
  return usage == "SIGN_VERIFY";  // ECC_SECG_P256K1, ML_DSA_*, ECC_NIST_EDWARDS25519
}

// What this emulator implements.
bool usage_supported(std::string_view spec, std::string_view usage) {
  if (spec == "SYMMETRIC_DEFAULT") {
    return usage == "ENCRYPT_DECRYPT";
  }
  if (spec == "RSA_2048" || spec == "RSA_3072" || spec == "RSA_4096") {
    return usage == "ENCRYPT_DECRYPT" || usage == "SIGN_VERIFY";
  }
  if (spec == "ECC_NIST_P256" || spec == "ECC_NIST_P384" || spec == "ECC_NIST_P521") {
    return usage == "KEY_AGREEMENT" || usage == "SIGN_VERIFY";
  }
  return spec == "ECC_SECG_P256K1" && usage == "SIGN_VERIFY";
}

Result<Reply> empty_reply() { return Reply(); }

// Enable/Disable share everything but the target state.
Result<Reply> set_enabled(KmsEmulator::Impl& e, const Caller& caller, json::object& in, bool enable) {
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = key_to_change(e, caller, in, enable ? "kms:EnableKey" : "kms:DisableKey");
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  KeyRecord next = k.copy();
  next.state = enable ? KeyState::kEnabled : KeyState::kDisabled;
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return empty_reply();
}

}  // namespace

Result<Reply> op_create_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const auto spec_in = get_str(in, "KeySpec");
  const auto cmk_spec = get_str(in, "CustomerMasterKeySpec");
  if (spec_in && cmk_spec) {
    return fail(Errc::kValidation,
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec "
                "parameter is deprecated. Use KeySpec parameter only");
  }
  const std::string spec = spec_in ? *spec_in : cmk_spec.value_or("SYMMETRIC_DEFAULT");
  const auto usage_in = get_str(in, "KeyUsage");
  if (!usage_in && spec != "SYMMETRIC_DEFAULT") {
    return fail(Errc::kValidation,
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.");
  }
  const std::string usage = usage_in.value_or("ENCRYPT_DECRYPT");
  if (!usage_compatible(spec, usage)) {
    return fail(Errc::kValidation, "KeyUsage " + usage + " is not compatible with KeySpec " + spec);
  }
  if (!usage_supported(spec, usage)) {
    return fail(Errc::kUnsupportedOperation, "kms-emulator does not support KeySpec " + spec + " with KeyUsage " +
                                                 usage + " (supported: SYMMETRIC_DEFAULT ENCRYPT_DECRYPT, "
                                                 "RSA_2048/3072/4096 ENCRYPT_DECRYPT or SIGN_VERIFY, "
                                                 "ECC_NIST_P256/P384/P521 KEY_AGREEMENT or SIGN_VERIFY, "
                                                 "ECC_SECG_P256K1 SIGN_VERIFY)");
  }
  if (const auto origin = get_str(in, "Origin"); origin && *origin != "AWS_KMS") {
    return fail(Errc::kUnsupportedOperation, "kms-emulator does not support Origin " + *origin);
  }
  if (get_str(in, "CustomKeyStoreId") || get_str(in, "XksKeyId")) {
    return fail(Errc::kUnsupportedOperation, "kms-emulator does not support custom key stores");
  }
  if (get_bool(in, "MultiRegion")) {
    return fail(Errc::kUnsupportedOperation, "kms-emulator does not support multi-Region keys");
  }
  KeyRecord k;
  if (auto t = parse_tags(in, k.tags); !t) {
    return t.error();
  }
  k.key_id = random_uuid();
  k.account = caller.account;
  k.region = e.options.region;
  k.key_spec = spec;
  k.key_usage = usage;
  const auto policy = get_str(in, "Policy");
  if (policy) {
    if (auto p = check_policy_document(*policy); !p) {
      return p.error();
    }
    if (!get_bool(in, "BypassPolicyLockoutSafetyCheck")) {
      if (auto l = check_policy_lockout(*policy, caller, k); !l) {
        return l.error();
      }
    }
  }
  k.description = get_str(in, "Description").value_or("");
  k.creation_ms = e.now_ms();
  k.policy = policy ? *policy : default_policy(caller.account);
  if (spec == "SYMMETRIC_DEFAULT") {
    k.material = random_secret(32);
  } else {
    const auto pair_spec = crypto::key_pair_spec_from_name(spec);
    if (!pair_spec) {
      return fail(Errc::kInternal, "emulator: no generator for " + spec);
    }
    auto pair = crypto::generate_key_pair(*pair_spec);  // outside the lock: RSA-4096 takes a while
    if (!pair) {
      return pair.error();
    }
    k.material = std::move(pair->private_key_pkcs8);
    k.public_key = std::move(pair->public_key_spki);
  }
  const std::string metadata = key_metadata_json(k);
  {
    std::lock_guard<std::mutex> lock(e.mu);
    if (auto w = e.store->put_key(std::move(k)); !w) {
      return w.error();
    }
  }
  Reply r;
  r.raw("KeyMetadata", metadata);
  return r;
}

Result<Reply> op_describe_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto key = authorized_key(e, caller, in, "kms:DescribeKey");
  if (!key) {
    return key.error();
  }
  Reply r;
  r.raw("KeyMetadata", key_metadata_json(**key));
  return r;
}

Result<Reply> op_list_keys(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const std::int64_t limit = get_int(in, "Limit").value_or(100);
  std::vector<std::shared_ptr<const KeyRecord>> keys;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    keys = e.store->keys_of(caller.account);
  }
  const auto first = page_start(in, keys, [](const auto& k) -> const std::string& { return k->key_id; });
  if (!first) {
    return first.error();
  }
  const std::size_t start = *first;
  json::array list;
  std::size_t i = start;
  for (; i < keys.size() && static_cast<std::int64_t>(i - start) < limit; ++i) {
    list.push_back(json::object{{"KeyId", keys[i]->key_id}, {"KeyArn", keys[i]->arn()}});
  }
  Reply r;
  r.raw("Keys", json::serialize(list));
  r.boolean("Truncated", i < keys.size());
  if (i < keys.size()) {
    r.str("NextMarker", keys[i]->key_id);
  }
  return r;
}

Result<Reply> op_enable_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  return set_enabled(e, caller, in, true);
}

Result<Reply> op_disable_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  return set_enabled(e, caller, in, false);
}

Result<Reply> op_schedule_key_deletion(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  const std::int64_t days = get_int(in, "PendingWindowInDays").value_or(30);
  if (days < 7 || days > 30) {
    return fail(Errc::kValidation, "PendingWindowInDays value must be between 7 and 30, inclusive.");
  }
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = key_to_change(e, caller, in, "kms:ScheduleKeyDeletion",
                           {{"kms:ScheduleKeyDeletionPendingWindowInDays", {std::to_string(days)}}});
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  KeyRecord next = k.copy();
  next.state = KeyState::kPendingDeletion;
  next.deletion_ms = e.now_ms() + days * kDayMs;
  next.pending_window_days = static_cast<int>(days);
  Reply r;
  r.str("KeyId", next.arn())
      .timestamp("DeletionDate", *next.deletion_ms)
      .str("KeyState", "PendingDeletion")
      .integer("PendingWindowInDays", days);
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return r;
}

Result<Reply> op_cancel_key_deletion(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = e.resolve_locked(*get_str(in, "KeyId"), caller);
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  if (auto a = authorize(k, "kms:CancelKeyDeletion", caller, {}); !a) {
    return a.error();
  }
  if (k.state != KeyState::kPendingDeletion) {
    return fail(Errc::kInvalidState, k.arn() + " is not pending deletion.");
  }
  KeyRecord next = k.copy();
  next.state = KeyState::kDisabled;  // KMS leaves a cancelled key disabled
  next.deletion_ms.reset();
  next.pending_window_days.reset();
  Reply r;
  r.str("KeyId", next.arn());
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return r;
}

Result<Reply> op_put_key_policy(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  if (const auto name = get_str(in, "PolicyName"); name && *name != "default") {
    return fail(Errc::kNotFound, "No such policy exists: " + *name + " (the only policy name is default)");
  }
  const std::string policy = *get_str(in, "Policy");
  if (auto p = check_policy_document(policy); !p) {
    return p.error();
  }
  const bool bypass = get_bool(in, "BypassPolicyLockoutSafetyCheck");
  std::lock_guard<std::mutex> lock(e.mu);
  // Not key_to_change(): KMS takes a new policy in every key state, pending
  // deletion included (the policy may be what lets someone cancel it).
  auto key = e.resolve_locked(*get_str(in, "KeyId"), caller);
  if (!key) {
    return key.error();
  }
  if (auto a = authorize(**key, "kms:PutKeyPolicy", caller,
                         {{"kms:BypassPolicyLockoutSafetyCheck", {bypass ? "true" : "false"}}});
      !a) {
    return a.error();
  }
  const auto& k = **key;
  if (!bypass) {
    if (auto l = check_policy_lockout(policy, caller, k); !l) {
      return l.error();
    }
  }
  KeyRecord next = k.copy();
  next.policy = policy;
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return empty_reply();
}

Result<Reply> op_get_key_policy(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  if (const auto name = get_str(in, "PolicyName"); name && *name != "default") {
    return fail(Errc::kNotFound, "No such policy exists: " + *name + " (the only policy name is default)");
  }
  auto key = authorized_key(e, caller, in, "kms:GetKeyPolicy");
  if (!key) {
    return key.error();
  }
  Reply r;
  r.str("Policy", (*key)->policy).str("PolicyName", "default");
  return r;
}

Result<Reply> op_list_key_policies(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto key = authorized_key(e, caller, in, "kms:ListKeyPolicies");
  if (!key) {
    return key.error();
  }
  Reply r;
  r.str_list("PolicyNames", {"default"}).boolean("Truncated", false);
  return r;
}

// No key has automatic rotation here (EnableKeyRotation is unsupported): the
// status of a symmetric key is "disabled"; other keys cannot rotate, and KMS
// answers UnsupportedOperationException for them.
Result<Reply> op_get_key_rotation_status(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto key = authorized_key(e, caller, in, "kms:GetKeyRotationStatus");
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  if (!k.symmetric()) {
    return fail(Errc::kUnsupportedOperation, k.arn() + " does not support automatic key rotation (" + k.key_spec +
                                                 ")");
  }
  Reply r;
  r.boolean("KeyRotationEnabled", false).str("KeyId", k.arn());
  return r;
}

// No grant can exist (CreateGrant is unsupported), so the list is empty; the
// key, its policy and the marker are checked as in KMS.
Result<Reply> op_list_grants(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto key = authorized_key(e, caller, in, "kms:ListGrants");
  if (!key) {
    return key.error();
  }
  if (const auto marker = get_str(in, "Marker")) {
    return fail(Errc::kInvalidMarker, "Invalid marker " + *marker);
  }
  Reply r;
  r.raw("Grants", "[]").boolean("Truncated", false);
  return r;
}

Result<Reply> op_get_public_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto key = authorized_key(e, caller, in, "kms:GetPublicKey");
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  if (auto s = require_enabled(k); !s) {
    return s.error();
  }
  if (k.symmetric()) {
    return fail(Errc::kUnsupportedOperation, k.arn() + " is a symmetric encryption KMS key; GetPublicKey is "
                                                       "supported only for asymmetric KMS keys.");
  }
  Reply r;
  r.str("KeyId", k.arn())
      .blob("PublicKey", k.public_key)
      .str("CustomerMasterKeySpec", k.key_spec)
      .str("KeySpec", k.key_spec)
      .str("KeyUsage", k.key_usage);
  if (k.key_usage == "ENCRYPT_DECRYPT") {
    r.str_list("EncryptionAlgorithms", {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"});
  } else if (k.key_usage == "SIGN_VERIFY") {
    r.str_list("SigningAlgorithms", signing_algorithms(k));
  } else {
    r.str_list("KeyAgreementAlgorithms", {"ECDH"});
  }
  return r;
}

Result<Reply> op_update_key_description(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  std::lock_guard<std::mutex> lock(e.mu);
  auto key = key_to_change(e, caller, in, "kms:UpdateKeyDescription");
  if (!key) {
    return key.error();
  }
  const auto& k = **key;
  KeyRecord next = k.copy();
  next.description = *get_str(in, "Description");
  if (auto w = e.store->put_key(std::move(next)); !w) {
    return w.error();
  }
  return empty_reply();
}

}  // namespace kp::emulator
