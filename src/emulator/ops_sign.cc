// Signing keys (KeyUsage SIGN_VERIFY: RSA_2048/3072/4096, ECC_NIST_P256/P384/
// P521, ECC_SECG_P256K1): Sign and Verify, with KMS's algorithm, message type
// and digest-length rules and the kms:SigningAlgorithm / kms:MessageType
// condition keys.
#include <algorithm>

#include <boost/json.hpp>

#include "emulator/internal.h"
#include "emulator/key_crypto.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

struct Prepared {
  std::shared_ptr<const KeyRecord> key;
  SigningAlgorithm alg;
  std::string alg_name;
  Bytes digest;
  bool dry_run = false;
};

// What Sign and Verify share: the key (authorized, enabled, SIGN_VERIFY), the
// algorithm (one the key offers) and the digest of Message per MessageType.
Result<Prepared> prepare(KmsEmulator::Impl& e, const Caller& caller, json::object& in, std::string_view action) {
  Prepared p;
  p.alg_name = *get_str(in, "SigningAlgorithm");  // required by the model
  const std::string message_type = get_str(in, "MessageType").value_or("RAW");
  auto key = authorized_key(e, caller, in, action,
                            {{"kms:SigningAlgorithm", {p.alg_name}}, {"kms:MessageType", {message_type}}});
  if (!key) {
    return key.error();
  }
  const KeyRecord& k = **key;
  if (auto u = require_usable(k, "SIGN_VERIFY", action.substr(4)); !u) {
    return u.error();
  }
  const auto offered = signing_algorithms(k);
  const auto alg = signing_algorithm_from_name(p.alg_name);
  if (!alg || std::find(offered.begin(), offered.end(), p.alg_name) == offered.end()) {
    return fail(Errc::kInvalidKeyUsage, "Algorithm " + p.alg_name + " is incompatible with key spec " + k.key_spec +
                                            ".");
  }
  p.alg = *alg;
  auto message = get_blob(in, "Message");
  if (!message) {
    return message.error();
  }
  const ByteView m = **message;  // Message is required by the model
  if (message_type == "RAW") {
    p.digest = message_digest(alg->digest_bytes, m);
  } else if (message_type == "DIGEST") {
    if (m.size() != alg->digest_bytes) {
      return fail(Errc::kValidation, "Digest is invalid length for algorithm " + p.alg_name + ".");
    }
    p.digest.assign(m.begin(), m.end());
  } else {  // EXTERNAL_MU: ML-DSA keys only
    return fail(Errc::kValidation, "MessageType " + message_type + " is not valid for algorithm " + p.alg_name + ".");
  }
  p.key = std::move(*key);
  p.dry_run = get_bool(in, "DryRun");
  return p;
}

}  // namespace

Result<Reply> op_sign(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto p = prepare(e, caller, in, "kms:Sign");
  if (!p) {
    return p.error();
  }
  if (p->dry_run) {
    return dry_run_reply();
  }
  auto signature = sign_digest(p->key->material.view(), p->alg, p->digest);
  if (!signature) {
    return signature.error();
  }
  Reply r;
  r.str("KeyId", p->key->arn()).blob("Signature", *signature).str("SigningAlgorithm", p->alg_name);
  return r;
}

Result<Reply> op_verify(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto p = prepare(e, caller, in, "kms:Verify");
  if (!p) {
    return p.error();
  }
  auto signature = get_blob(in, "Signature");
  if (!signature) {
    return signature.error();
  }
  if (p->dry_run) {
    return dry_run_reply();
  }
  auto valid = verify_digest(p->key->public_key, p->alg, p->digest, **signature);  // Signature is required
  if (!valid) {
    return valid.error();
  }
  if (!*valid) {
    return fail(Errc::kKmsInvalidSignature, "Signature verification failed.");
  }
  Reply r;
  r.str("KeyId", p->key->arn()).boolean("SignatureValid", true).str("SigningAlgorithm", p->alg_name);
  return r;
}

}  // namespace kp::emulator
