// Operations that create secrets inside the emulator: GenerateDataKey(+WithoutPlaintext),
// GenerateDataKeyPair(+WithoutPlaintext), DeriveSharedSecret.
#include <boost/json.hpp>

#include "crypto/ec.h"
#include "emulator/internal.h"
#include "emulator/key_crypto.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

// Resolution, policy (with the request's condition keys), state and usage
// checks common to the data-key operations on a symmetric key.
Result<std::shared_ptr<const KeyRecord>> symmetric_key_for(KmsEmulator::Impl& e, const Caller& caller,
                                                           const json::object& in, std::string_view action,
                                                           ConditionKeys extra, const Recipient* recipient) {
  ConditionKeys request;
  add_context_conditions(request, get_context(in, "EncryptionContext"));
  request.insert(extra.begin(), extra.end());
  if (recipient != nullptr) {
    request.insert(recipient->conditions.begin(), recipient->conditions.end());
  }
  auto key = authorized_key(e, caller, in, action, request);
  if (!key) {
    return key.error();
  }
  const KeyRecord& k = **key;
  if (auto u = require_usable(k, "ENCRYPT_DECRYPT", action.substr(4)); !u) {
    return u.error();
  }
  if (!k.symmetric()) {
    return fail(Errc::kInvalidKeyUsage, k.arn() + " is an asymmetric KMS key; " + std::string(action.substr(4)) +
                                            " requires a symmetric encryption KMS key.");
  }
  return key;
}

Result<std::size_t> data_key_length(const json::object& in) {
  const auto spec = get_str(in, "KeySpec");
  const auto n = get_int(in, "NumberOfBytes");
  if (spec.has_value() == n.has_value()) {
    return fail(Errc::kValidation, "Please specify either number of bytes or key spec.");
  }
  if (n) {
    return static_cast<std::size_t>(*n);
  }
  return *spec == "AES_128" ? std::size_t{16} : std::size_t{32};
}

Result<Reply> generate_data_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in, bool with_plaintext) {
  auto length = data_key_length(in);
  if (!length) {
    return length.error();
  }
  std::optional<Recipient> recipient;
  if (with_plaintext) {
    auto r = verify_recipient(e, in);
    if (!r) {
      return r.error();
    }
    recipient = std::move(*r);
  }
  const std::string_view action = with_plaintext ? "kms:GenerateDataKey" : "kms:GenerateDataKeyWithoutPlaintext";
  auto key = symmetric_key_for(e, caller, in, action, {}, recipient ? &*recipient : nullptr);
  if (!key) {
    return key.error();
  }
  if (get_bool(in, "DryRun")) {
    return dry_run_reply();
  }
  const SecretBytes data_key = random_secret(*length);
  auto blob = seal_symmetric(**key, get_context(in, "EncryptionContext"), data_key.view());
  if (!blob) {
    return blob.error();
  }
  Reply r;
  r.blob("CiphertextBlob", *blob);
  if (recipient) {
    // protocol.md 1.1: CiphertextBlob stays, Plaintext is replaced.
    if (auto c = add_ciphertext_for_recipient(r, *recipient, data_key.view()); !c) {
      return c.error();
    }
  } else if (with_plaintext) {
    r.secret("Plaintext", data_key.view());
  }
  r.str("KeyId", (*key)->arn());
  if (!recipient) {  // KMS omits KeyMaterialId when the request has a Recipient
    r.str("KeyMaterialId", key_material_id(**key));
  }
  return r;
}

Result<Reply> generate_data_key_pair(KmsEmulator::Impl& e, const Caller& caller, json::object& in,
                                     bool with_plaintext) {
  const std::string spec_name = *get_str(in, "KeyPairSpec");
  const auto spec = crypto::key_pair_spec_from_name(spec_name);
  if (!spec) {
    return fail(Errc::kUnsupportedOperation, "kms-emulator does not support KeyPairSpec " + spec_name +
                                                 " (supported: RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, "
                                                 "ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1)");
  }
  std::optional<Recipient> recipient;
  if (with_plaintext) {
    auto r = verify_recipient(e, in);
    if (!r) {
      return r.error();
    }
    recipient = std::move(*r);
  }
  const std::string_view action =
      with_plaintext ? "kms:GenerateDataKeyPair" : "kms:GenerateDataKeyPairWithoutPlaintext";
  auto key = symmetric_key_for(e, caller, in, action, {{"kms:DataKeyPairSpec", {spec_name}}},
                               recipient ? &*recipient : nullptr);
  if (!key) {
    return key.error();
  }
  if (get_bool(in, "DryRun")) {
    return dry_run_reply();
  }
  auto pair = crypto::generate_key_pair(*spec);
  if (!pair) {
    return pair.error();
  }
  auto blob = seal_symmetric(**key, get_context(in, "EncryptionContext"), pair->private_key_pkcs8.view());
  if (!blob) {
    return blob.error();
  }
  Reply r;
  r.blob("PrivateKeyCiphertextBlob", *blob);
  if (recipient) {
    // protocol.md 1.1: PrivateKeyPlaintext absent; the CFR holds the PKCS#8 DER.
    if (auto c = add_ciphertext_for_recipient(r, *recipient, pair->private_key_pkcs8.view()); !c) {
      return c.error();
    }
  } else if (with_plaintext) {
    r.secret("PrivateKeyPlaintext", pair->private_key_pkcs8.view());
  }
  r.blob("PublicKey", pair->public_key_spki).str("KeyId", (*key)->arn()).str("KeyPairSpec", spec_name);
  r.str("KeyMaterialId", key_material_id(**key));
  return r;
}

}  // namespace

Result<Reply> op_generate_data_key(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  return generate_data_key(e, caller, in, true);
}

Result<Reply> op_generate_data_key_without_plaintext(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  return generate_data_key(e, caller, in, false);
}

Result<Reply> op_generate_data_key_pair(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  return generate_data_key_pair(e, caller, in, true);
}

Result<Reply> op_generate_data_key_pair_without_plaintext(KmsEmulator::Impl& e, const Caller& caller,
                                                          json::object& in) {
  return generate_data_key_pair(e, caller, in, false);
}

Result<Reply> op_derive_shared_secret(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto peer = get_blob(in, "PublicKey");
  if (!peer) {
    return peer.error();
  }
  auto recipient = verify_recipient(e, in);
  if (!recipient) {
    return recipient.error();
  }
  ConditionKeys request{{"kms:KeyAgreementAlgorithm", {"ECDH"}}};
  if (*recipient) {
    request.insert((*recipient)->conditions.begin(), (*recipient)->conditions.end());
  }
  auto key = authorized_key(e, caller, in, "kms:DeriveSharedSecret", request);
  if (!key) {
    return key.error();
  }
  const KeyRecord& k = **key;
  if (auto u = require_usable(k, "KEY_AGREEMENT", "DeriveSharedSecret"); !u) {
    return u.error();
  }
  // The public key is checked against the key's curve before a DryRun is
  // answered: DryRun runs every check of the real request.
  auto secret = crypto::ecdh_derive(k.material.view(), **peer);
  if (!secret) {
    return fail(Errc::kValidation, "PublicKey is not a valid " + k.key_spec +
                                       " SubjectPublicKeyInfo for key agreement with " + k.arn());
  }
  if (get_bool(in, "DryRun")) {
    return dry_run_reply();  // the secret is wiped as it goes
  }
  Reply r;
  r.str("KeyId", k.arn());
  if (*recipient) {
    // protocol.md 1.1: SharedSecret absent with Recipient.
    if (auto c = add_ciphertext_for_recipient(r, **recipient, secret->view()); !c) {
      return c.error();
    }
  } else {
    r.secret("SharedSecret", secret->view());
  }
  r.str("KeyAgreementAlgorithm", "ECDH").str("KeyOrigin", "AWS_KMS");
  return r;
}

}  // namespace kp::emulator
