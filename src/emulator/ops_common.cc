// Helpers shared by the operation files: the reply writer, request member
// accessors, key resolution, key-state errors and KeyMetadata.
#include <cinttypes>
#include <cstdio>

#include <boost/json.hpp>

#include "base/encoding.h"
#include "crypto/digest.h"
#include "crypto/random.h"
#include "emulator/internal.h"
#include "policy/policy.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// 8-4-4-4-12 hex digits.
bool looks_like_uuid(std::string_view s) {
  if (s.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

std::string format_epoch_seconds(std::int64_t ms) {
  char buf[48];
  const std::int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  const std::int64_t frac = ms - s * 1000;
  std::snprintf(buf, sizeof(buf), "%" PRId64 ".%03" PRId64, s, frac);
  return buf;
}

struct Arn {
  std::string region;
  std::string account;
  std::string resource;
};

// arn:<partition>:kms:<region>:<account>:<resource>
std::optional<Arn> parse_kms_arn(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const std::size_t colon = s.find(':', start);
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    parts.push_back(s.substr(start, colon - start));
    start = colon + 1;
  }
  // The emulator's keys live in the "aws" partition (the ARNs it makes).
  if (parts[0] != "arn" || parts[1] != "aws" || parts[2] != "kms") {
    return std::nullopt;
  }
  return Arn{std::string(parts[3]), std::string(parts[4]), std::string(s.substr(start))};
}

}  // namespace

// ---- Reply -------------------------------------------------------------------

namespace {
constexpr std::size_t kSecretSlack = 4096;
}  // namespace

void Reply::key(std::string_view k) {
  if (body_.size() > 1) {
    body_ += ',';
  }
  body_ += json::serialize(json::string_view(k));
  body_ += ':';
}

Reply& Reply::str(std::string_view k, std::string_view value) {
  key(k);
  body_ += json::serialize(json::string_view(value));
  return *this;
}

Reply& Reply::blob(std::string_view k, ByteView value) {
  key(k);
  body_ += '"';
  base64_encode_append(value, body_);
  body_ += '"';
  return *this;
}

Reply& Reply::secret(std::string_view k, ByteView value) {
  // Reserve first (with room for the members that follow: ARNs, a public
  // key) so that no later append reallocates and leaves an unwiped copy.
  body_.reserve(body_.size() + k.size() + base64_encoded_size(value.size()) + kSecretSlack);
  sensitive_ = true;
  return blob(k, value);
}

Reply& Reply::integer(std::string_view k, std::int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

Reply& Reply::boolean(std::string_view k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

Reply& Reply::timestamp(std::string_view k, std::int64_t unix_ms) {
  key(k);
  body_ += format_epoch_seconds(unix_ms);
  return *this;
}

Reply& Reply::raw(std::string_view k, std::string_view json_text) {
  key(k);
  body_ += json_text;
  return *this;
}

Reply& Reply::str_list(std::string_view k, const std::vector<std::string>& values) {
  json::array a;
  for (const auto& v : values) {
    a.emplace_back(v);
  }
  return raw(k, json::serialize(a));
}

std::string Reply::take_body() {
  std::string out = std::move(body_);
  out += '}';
  body_ = "{";
  return out;
}

void Reply::wipe() noexcept {
  secure_wipe(body_.data(), body_.size());
  body_.clear();
}

Reply::~Reply() {
  if (sensitive_) {
    wipe();
  }
}

Reply::Reply(Reply&& o) noexcept
    : dry_run(o.dry_run), body_(std::move(o.body_)), sensitive_(o.sensitive_) {
  o.body_ = "{";
  o.sensitive_ = false;
}

Reply& Reply::operator=(Reply&& o) noexcept {
  if (this != &o) {
    if (sensitive_) {
      wipe();
    }
    body_ = std::move(o.body_);
    sensitive_ = o.sensitive_;
    dry_run = o.dry_run;
    o.body_ = "{";
    o.sensitive_ = false;
  }
  return *this;
}

// ---- request members -------------------------------------------------------------

std::optional<std::string> get_str(const json::object& in, std::string_view key) {
  const auto* v = in.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  return std::string(v->as_string());
}

std::optional<std::int64_t> get_int(const json::object& in, std::string_view key) {
  const auto* v = in.if_contains(key);
  if (v == nullptr || !v->is_number()) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  const auto n = v->to_number<std::int64_t>(ec);
  if (ec) {
    return std::nullopt;
  }
  return n;
}

bool get_bool(const json::object& in, std::string_view key) {
  const auto* v = in.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

Result<std::optional<Bytes>> get_blob(const json::object& in, std::string_view key) {
  const auto* v = in.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<Bytes>();
  }
  if (!v->is_string()) {
    return fail(Errc::kMalformedRequest, "Unexpected value type for '" + std::string(key) + "'");
  }
  auto b = base64_decode(v->as_string());
  if (!b) {
    return fail(Errc::kMalformedRequest, "Could not decode base64 value of '" + std::string(key) + "'");
  }
  return std::optional<Bytes>(std::move(*b));
}

Result<std::optional<SecretBytes>> take_secret_blob(json::object& in, std::string_view key) {
  auto* v = in.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<SecretBytes>();
  }
  if (!v->is_string()) {
    return fail(Errc::kMalformedRequest, "Unexpected value type for '" + std::string(key) + "'");
  }
  auto& s = v->as_string();
  auto b = base64_decode_secret(s);
  secure_wipe(s.data(), s.size());
  if (!b) {
    return fail(Errc::kMalformedRequest, "Could not decode base64 value of '" + std::string(key) + "'");
  }
  return std::optional<SecretBytes>(std::move(*b));
}

EncryptionContext get_context(const json::object& in, std::string_view key) {
  EncryptionContext ec;
  const auto* v = in.if_contains(key);
  if (v == nullptr || !v->is_object()) {
    return ec;
  }
  for (const auto& kv : v->as_object()) {
    if (kv.value().is_string()) {
      ec.emplace(std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
  return ec;
}

// ---- keys -----------------------------------------------------------------------

Result<void> require_enabled(const KeyRecord& key) {
  switch (key.state) {
    case KeyState::kEnabled:
      return {};
    case KeyState::kDisabled:
      return fail(Errc::kDisabled, key.arn() + " is disabled.");
    case KeyState::kPendingDeletion:
      return fail(Errc::kInvalidState, key.arn() + " is pending deletion.");
  }
  return {};
}

std::string key_material_id(const KeyRecord& key) {
  if (!key.symmetric()) {
    return {};
  }
  static constexpr std::string_view kDomain = "kms-emulator key material id";
  const ByteView material = key.material.view();
  SecretBytes input(kDomain.size() + 1 + material.size());  // holds the material: wiped
  std::copy(kDomain.begin(), kDomain.end(), input.data());
  input.data()[kDomain.size()] = 0;
  std::copy(material.begin(), material.end(), input.data() + kDomain.size() + 1);
  const auto digest = crypto::sha256(input.view());
  return hex_encode(ByteView(digest.data(), digest.size()));
}

std::vector<std::string> signing_algorithms(const KeyRecord& key) {
  if (key.key_usage != "SIGN_VERIFY") {
    return {};
  }
  if (key.key_spec.starts_with("RSA_")) {
    return {"RSASSA_PSS_SHA_256",        "RSASSA_PSS_SHA_384",        "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"};
  }
  if (key.key_spec == "ECC_NIST_P384") {
    return {"ECDSA_SHA_384"};
  }
  if (key.key_spec == "ECC_NIST_P521") {
    return {"ECDSA_SHA_512"};
  }
  return {"ECDSA_SHA_256"};  // ECC_NIST_P256, ECC_SECG_P256K1
}

std::string key_metadata_json(const KeyRecord& key) {
  Reply r;
  r.str("AWSAccountId", key.account)
      .str("KeyId", key.key_id)
      .str("Arn", key.arn())
      .timestamp("CreationDate", key.creation_ms)
      .boolean("Enabled", key.state == KeyState::kEnabled)
      .str("Description", key.description)
      .str("KeyUsage", key.key_usage)
      .str("KeyState", key_state_name(key.state));
  if (key.deletion_ms) {
    r.timestamp("DeletionDate", *key.deletion_ms);
  }
  r.str("Origin", "AWS_KMS").str("KeyManager", "CUSTOMER").str("CustomerMasterKeySpec", key.key_spec);
  r.str("KeySpec", key.key_spec);
  if (key.key_usage == "ENCRYPT_DECRYPT") {
    r.str_list("EncryptionAlgorithms", key.symmetric() ? std::vector<std::string>{"SYMMETRIC_DEFAULT"}
                                                       : std::vector<std::string>{"RSAES_OAEP_SHA_1",
                                                                                  "RSAES_OAEP_SHA_256"});
  } else if (key.key_usage == "KEY_AGREEMENT") {
    r.str_list("KeyAgreementAlgorithms", {"ECDH"});
  } else if (key.key_usage == "SIGN_VERIFY") {
    r.str_list("SigningAlgorithms", signing_algorithms(key));
  }
  r.boolean("MultiRegion", false);
  if (const std::string id = key_material_id(key); !id.empty()) {
    r.str("CurrentKeyMaterialId", id);
  }
  return r.take_body();
}

Result<std::shared_ptr<const KeyRecord>> authorized_key(KmsEmulator::Impl& e, const Caller& caller,
                                                        const json::object& in, std::string_view action,
                                                        const ConditionKeys& request) {
  const std::string key_id = *get_str(in, "KeyId");
  auto key = e.resolve(key_id, caller);
  if (!key) {
    return key.error();
  }
  ConditionKeys conditions = request;
  add_request_alias(conditions, action, key_id);
  if (auto a = authorize(**key, action, caller, conditions); !a) {
    return a.error();
  }
  return key;
}

Result<std::shared_ptr<const KeyRecord>> key_to_change(KmsEmulator::Impl& e, const Caller& caller,
                                                       const json::object& in, std::string_view action,
                                                       const ConditionKeys& request) {
  auto key = e.resolve_locked(*get_str(in, "KeyId"), caller);
  if (!key) {
    return key.error();
  }
  const KeyRecord& k = **key;
  if (auto a = authorize(k, action, caller, request); !a) {
    return a.error();
  }
  if (k.state == KeyState::kPendingDeletion) {
    return fail(Errc::kInvalidState, k.arn() + " is pending deletion.");
  }
  return key;
}

void add_context_conditions(ConditionKeys& c, const EncryptionContext& ec) {
  policy::RequestContext ctx;
  policy::add_encryption_context(ctx, ec);
  for (auto& [k, v] : ctx.keys) {
    c[k] = std::move(v);
  }
}

SecretBytes random_secret(std::size_t n) { return crypto::random_bytes(n); }

// ---- resolution ---------------------------------------------------------------------

std::string KmsEmulator::Impl::alias_arn(std::string_view account, std::string_view alias_name) const {
  return "arn:aws:kms:" + options.region + ":" + std::string(account) + ":" + std::string(alias_name);
}

Result<std::shared_ptr<const KeyRecord>> KmsEmulator::Impl::resolve_locked(std::string_view key_id,
                                                                           const Caller& caller) {
  std::string account = caller.account;
  std::string_view ref = key_id;
  std::optional<Arn> arn;
  if (key_id.starts_with("arn:")) {
    arn = parse_kms_arn(key_id);
    if (!arn || (!arn->resource.starts_with("key/") && !arn->resource.starts_with("alias/"))) {
      return fail(Errc::kNotFound, "Invalid arn " + std::string(key_id));
    }
    account = arn->account;
    ref = arn->resource;
    if (arn->region != options.region) {
      // Keys live in one region; another region's ARN names nothing here.
      return fail(Errc::kNotFound, arn->resource.starts_with("alias/")
                                       ? "Alias " + std::string(key_id) + " is not found."
                                       : "Key '" + std::string(key_id) + "' does not exist");
    }
  }
  if (ref.starts_with("alias/")) {
    const auto alias = store->find_alias(account, ref);
    if (!alias) {
      return fail(Errc::kNotFound, "Alias " + alias_arn(account, ref) + " is not found.");
    }
    auto key = store->find_key(alias->target_key_id);
    if (!key) {
      return fail(Errc::kNotFound, "Alias " + alias_arn(account, ref) + " is not found.");
    }
    return key;
  }
  if (arn) {  // "key/<id>" only inside an ARN; a bare "key/<id>" is no KeyId form
    if (!ref.starts_with("key/")) {
      return fail(Errc::kNotFound, "Invalid arn " + std::string(key_id));
    }
    ref.remove_prefix(4);
  }
  if (!looks_like_uuid(ref)) {
    return fail(Errc::kNotFound, "Invalid keyId '" + std::string(key_id) + "'");
  }
  auto key = store->find_key(ref);
  if (!key || key->account != account) {
    return fail(Errc::kNotFound, "Key 'arn:aws:kms:" + options.region + ":" + account + ":key/" + std::string(ref) +
                                     "' does not exist");
  }
  return key;
}

Result<std::shared_ptr<const KeyRecord>> KmsEmulator::Impl::resolve(std::string_view key_id, const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu);
  return resolve_locked(key_id, caller);
}

void KmsEmulator::Impl::purge_expired_locked() {
  const std::int64_t now = now_ms();
  std::vector<std::string> expired;
  for (const auto& id : store->all_key_ids()) {
    const auto k = store->find_key(id);
    if (k && k->state == KeyState::kPendingDeletion && k->deletion_ms && *k->deletion_ms <= now) {
      expired.push_back(id);
    }
  }
  for (const auto& id : expired) {
    (void)store->remove_key(id);  // a failed delete is retried on the next request
  }
}

}  // namespace kp::emulator
