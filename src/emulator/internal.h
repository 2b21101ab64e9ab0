// File: emulator/internal.h
// INTERNAL to src/emulator: the state shared by the operation files
// (ops_keys.cc, ops_crypto.cc, ops_recipient.cc, authz.cc) and the reply
// writer. Not a public header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"
#include "base/secret.h"
#include "crypto/random.h"
#include "emulator/ciphertext.h"
#include "emulator/emulator.h"
#include "emulator/model.h"
#include "emulator/store.h"

namespace kp::emulator {

/// Who is calling: from the SigV4 access key, or the default account's root.
struct Caller {
  std::string account;
  std::string principal_arn;
  // The request's global condition keys (aws:CurrentTime, aws:EpochTime,
  // aws:SecureTransport), set once per request.
  SysTime request_time{};
  bool secure_transport = false;
};

/// Condition keys of one request (multi-valued, e.g. kms:EncryptionContextKeys).
using ConditionKeys = std::map<std::string, std::vector<std::string>>;

/// Builds a JSON object response. Secret members (plaintexts, private keys,
/// shared secrets) are base64-appended straight into the body, which is then
/// marked sensitive so the server wipes it after writing.
class Reply {
 public:
  Reply& str(std::string_view key, std::string_view value);
  Reply& blob(std::string_view key, ByteView value);
  Reply& secret(std::string_view key, ByteView value);
  Reply& integer(std::string_view key, std::int64_t value);
  Reply& boolean(std::string_view key, bool value);
  /// Epoch seconds with millisecond precision (AWS JSON timestamp).
  Reply& timestamp(std::string_view key, std::int64_t unix_ms);
  Reply& raw(std::string_view key, std::string_view json);
  Reply& str_list(std::string_view key, const std::vector<std::string>& values);

  bool sensitive() const noexcept { return sensitive_; }
  /// The finished body; leaves the Reply empty.
  std::string take_body();
  /// Wipes the body (used when the reply is discarded).
  void wipe() noexcept;
  ~Reply();
  Reply() = default;
  Reply(Reply&& o) noexcept;
  Reply& operator=(Reply&& o) noexcept;
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  /// DryRun requests that would have succeeded (DryRunOperationException).
  bool dry_run = false;

 private:
  void key(std::string_view k);
  std::string body_ = "{";
  bool sensitive_ = false;
};

/// A verified Recipient: the RSA key to seal to, and its condition keys.
struct Recipient {
  Bytes public_key_spki;
  ConditionKeys conditions;  // kms:RecipientAttestation:ImageSha384, :PCR<n>
};

struct KmsEmulator::Impl {
  EmulatorOptions options;
  const Clock* clock = nullptr;
  std::unique_ptr<Store> store;
  std::vector<Bytes> trust_roots;  // AWS root + options.extra_trust_roots_der
  /// Guards `store`. Held for whole state-changing operations (including
  /// their file writes) so check-then-write sequences are atomic; never
  /// held during key generation or Recipient verification.
  std::mutex mu;

  std::int64_t now_ms() const { return unix_ms(clock->now()); }

  /// Resolves a key id, key ARN, alias name or alias ARN. Caller holds `mu`.
  /// Errors: kNotFound with AWS's messages.
  Result<std::shared_ptr<const KeyRecord>> resolve_locked(std::string_view key_id, const Caller& caller);
  /// resolve_locked() under the lock (a snapshot for read-only operations).
  Result<std::shared_ptr<const KeyRecord>> resolve(std::string_view key_id, const Caller& caller);
  /// Deletes keys whose deletion date has passed. Caller holds `mu`.
  void purge_expired_locked();
  std::string alias_arn(std::string_view account, std::string_view alias_name) const;
};

// ---- shared helpers (ops_common.cc) ----------------------------------------

/// Optional string member (nullopt when absent or null).
std::optional<std::string> get_str(const boost::json::object& in, std::string_view key);
/// Optional integer member.
std::optional<std::int64_t> get_int(const boost::json::object& in, std::string_view key);
bool get_bool(const boost::json::object& in, std::string_view key);
/// Where a list operation's page starts: 0 without a Marker, else the index
/// of the item whose `name(item)` is the Marker (InvalidMarkerException when
/// no item is: markers are the next page's first name).
template <class Items, class Name>
Result<std::size_t> page_start(const boost::json::object& in, const Items& items, Name name) {
  const auto marker = get_str(in, "Marker");
  if (!marker) {
    return std::size_t{0};
  }
  const auto it = std::find_if(items.begin(), items.end(), [&](const auto& item) { return name(item) == *marker; });
  if (it == items.end()) {
    return fail(Errc::kInvalidMarker, "Invalid marker " + *marker);
  }
  return static_cast<std::size_t>(it - items.begin());
}
/// Base64-decodes a blob member (SerializationException if not base64).
Result<std::optional<Bytes>> get_blob(const boost::json::object& in, std::string_view key);
/// Decodes a secret blob member and wipes its base64 text in the request.
Result<std::optional<SecretBytes>> take_secret_blob(boost::json::object& in, std::string_view key);
/// The EncryptionContext-style map member (empty when absent).
EncryptionContext get_context(const boost::json::object& in, std::string_view key);

/// Errors for key states: pending deletion -> KMSInvalidStateException,
/// disabled -> DisabledException.
Result<void> require_enabled(const KeyRecord& key);
/// The request's "Tags" (CreateKey, TagResource), validated as KMS does
/// (no "aws:" prefix, no duplicate key), appended to `out`.
Result<void> parse_tags(const boost::json::object& in, std::vector<std::pair<std::string, std::string>>& out);

/// The SigningAlgorithms of a SIGN_VERIFY key (empty for other keys).
std::vector<std::string> signing_algorithms(const KeyRecord& key);

/// The KeyMetadata JSON object of DescribeKey/CreateKey.
std::string key_metadata_json(const KeyRecord& key);
/// KMS's KeyMaterialId (64 lower-case hex digits) of a symmetric key's
/// material: a domain-separated SHA-256 of it, so it is stable across
/// restarts and differs between keys. Empty for asymmetric keys (KMS returns
/// the field only for symmetric encryption keys).
std::string key_material_id(const KeyRecord& key);

/// The request's KeyId resolved (a snapshot, without the store lock) and
/// authorized as authorize() does.
Result<std::shared_ptr<const KeyRecord>> authorized_key(KmsEmulator::Impl& e, const Caller& caller,
                                                        const boost::json::object& in, std::string_view action,
                                                        const ConditionKeys& request = {});
/// The key an operation changes (call with e.mu held): the request's KeyId
/// resolved, `action` authorized as authorize() does, and not pending
/// deletion (KMSInvalidStateException).
Result<std::shared_ptr<const KeyRecord>> key_to_change(KmsEmulator::Impl& e, const Caller& caller,
                                                       const boost::json::object& in, std::string_view action,
                                                       const ConditionKeys& request = {});
/// kms:EncryptionContext:<k> and kms:EncryptionContextKeys.
void add_context_conditions(ConditionKeys& c, const EncryptionContext& ec);

/// kms:RequestAlias ("alias/x") when `key_id`, the request's KeyId, is an
/// alias name or alias ARN and `action` is one KMS supplies it for.
void add_request_alias(ConditionKeys& c, std::string_view action, std::string_view key_id);

/// Evaluates the key policy of `key` for `action` ("kms:Decrypt") through
/// kp::policy, with the condition keys every request on the key carries
/// (policy::kms_request_context: caller, key, global keys) and `request`'s,
/// the ones this request adds (e.g. kms:SigningAlgorithm), which win.
/// A key of another account is refused before its policy is read when
/// `action` is not one KMS allows across accounts (GetKeyPolicy, TagResource,
/// DisableKey, ...). Errors: kAccessDenied with AWS's message; kInternal if
/// the stored policy no longer parses.
Result<void> authorize(const KeyRecord& key, std::string_view action, const Caller& caller,
                       const ConditionKeys& request);
/// Parses a policy document for CreateKey/PutKeyPolicy (MalformedPolicyDocumentException).
/// Also KMS's 32 KB key policy quota (LimitExceededException).
Result<void> check_policy_document(std::string_view policy);
/// AWS's policy lockout safety check for CreateKey/PutKeyPolicy: the new
/// policy must let `caller` call kms:PutKeyPolicy on `key` later, without
/// BypassPolicyLockoutSafetyCheck (MalformedPolicyDocumentException otherwise).
Result<void> check_policy_lockout(std::string_view policy, const Caller& caller, const KeyRecord& key);
/// The default key policy of `account`.
std::string default_policy(std::string_view account);

/// Parses and verifies the Recipient member (absent -> nullopt). Errors:
/// kValidation naming the problem (bad algorithm, document does not verify,
/// no RSA public key).
Result<std::optional<Recipient>> verify_recipient(KmsEmulator::Impl& e, const boost::json::object& in);
/// Seals `plaintext` to the recipient and adds CiphertextForRecipient.
Result<void> add_ciphertext_for_recipient(Reply& reply, const Recipient& recipient, ByteView plaintext);

/// A key an operation may use: require_enabled(), then
/// InvalidKeyUsageException unless `key` has `usage` ("<arn> key usage is X
/// which is not valid for <operation>.").
Result<void> require_usable(const KeyRecord& key, std::string_view usage, std::string_view operation);
/// Encrypts under a SYMMETRIC_DEFAULT key in the emulator's blob format.
Result<Bytes> seal_symmetric(const KeyRecord& key, const EncryptionContext& ec, ByteView plaintext);
/// The DryRunOperationException reply.
Reply dry_run_reply();

/// Random bytes for key material and IVs.
SecretBytes random_secret(std::size_t n);
/// A random RFC 4122 version-4 UUID (key ids, request ids).
using crypto::random_uuid;

// ---- operations -------------------------------------------------------------

using Operation = Result<Reply> (*)(KmsEmulator::Impl&, const Caller&, boost::json::object&);

// ops_keys.cc
Result<Reply> op_create_key(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_describe_key(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_list_keys(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_enable_key(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_disable_key(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_schedule_key_deletion(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_cancel_key_deletion(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_put_key_policy(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_get_key_policy(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_list_key_policies(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_get_public_key(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_update_key_description(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_get_key_rotation_status(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_list_grants(KmsEmulator::Impl&, const Caller&, boost::json::object&);
// ops_sign.cc
Result<Reply> op_sign(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_verify(KmsEmulator::Impl&, const Caller&, boost::json::object&);
// ops_tags.cc
Result<Reply> op_tag_resource(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_untag_resource(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_list_resource_tags(KmsEmulator::Impl&, const Caller&, boost::json::object&);
// ops_aliases.cc
Result<Reply> op_create_alias(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_update_alias(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_delete_alias(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_list_aliases(KmsEmulator::Impl&, const Caller&, boost::json::object&);
// ops_crypto.cc
Result<Reply> op_encrypt(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_decrypt(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_re_encrypt(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_generate_random(KmsEmulator::Impl&, const Caller&, boost::json::object&);
// ops_datakeys.cc
Result<Reply> op_generate_data_key(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_generate_data_key_without_plaintext(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_generate_data_key_pair(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_generate_data_key_pair_without_plaintext(KmsEmulator::Impl&, const Caller&, boost::json::object&);
Result<Reply> op_derive_shared_secret(KmsEmulator::Impl&, const Caller&, boost::json::object&);

}  // namespace kp::emulator
