// Cryptographic operations on caller data: Encrypt, Decrypt, ReEncrypt,
// GenerateRandom.
#include <boost/json.hpp>

#include "emulator/internal.h"
#include "emulator/key_crypto.h"
#include "emulator/validation.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

constexpr std::string_view kSymmetricDefault = "SYMMETRIC_DEFAULT";

std::optional<OaepHash> oaep_of(std::string_view alg) {
  if (alg == "RSAES_OAEP_SHA_1") {
    return OaepHash::kSha1;
  }
  if (alg == "RSAES_OAEP_SHA_256") {
    return OaepHash::kSha256;
  }
  return std::nullopt;
}

unsigned rsa_bits(const KeyRecord& key) {
  if (key.key_spec == "RSA_2048") return 2048;
  if (key.key_spec == "RSA_3072") return 3072;
  if (key.key_spec == "RSA_4096") return 4096;
  return 0;
}

// The algorithm must fit the key: SYMMETRIC_DEFAULT for symmetric keys,
// RSAES_OAEP_SHA_1/256 for RSA keys.
Result<void> require_algorithm(const KeyRecord& key, std::string_view alg) {
  const bool ok = key.symmetric() ? alg == kSymmetricDefault : oaep_of(alg).has_value();
  if (!ok) {
    return fail(Errc::kInvalidKeyUsage, "The encryption algorithm " + std::string(alg) + " is not valid for " +
                                            key.arn() + " (KeySpec " + key.key_spec + ")");
  }
  return {};
}

Result<void> require_no_context_for_rsa(const KeyRecord& key, const EncryptionContext& ec) {
  if (!key.symmetric() && !ec.empty()) {
    return fail(Errc::kValidation, "EncryptionContext is not supported with asymmetric KMS keys (" + key.arn() + ")");
  }
  return {};
}

// DryRun: every check the real request makes (ciphertext, encryption
// context, key), then DryRunOperationException instead of the result.
// DryRunModifiers IGNORE_CIPHERTEXT: authorization only; the ciphertext is
// not looked at (it may be absent), so KeyId is required.
enum class DryRun { kNo, kYes, kIgnoreCiphertext };

DryRun dry_run_mode(const json::object& in) {
  if (!get_bool(in, "DryRun")) {
    return DryRun::kNo;
  }
  if (const auto* m = in.if_contains("DryRunModifiers"); m != nullptr && m->is_array()) {
    for (const auto& v : m->as_array()) {
      if (v.is_string() && v.as_string() == "IGNORE_CIPHERTEXT") {
        return DryRun::kIgnoreCiphertext;
      }
    }
  }
  return DryRun::kYes;
}

// The model marks CiphertextBlob optional only for DryRun with
// IGNORE_CIPHERTEXT; KMS requires it otherwise.
Result<ByteView> require_ciphertext(const std::optional<Bytes>& blob, DryRun dry_run) {
  if (blob) {
    return ByteView(*blob);
  }
  if (dry_run == DryRun::kIgnoreCiphertext) {
    return ByteView();
  }
  return fail(Errc::kValidation, single_validation_message("Value null at 'ciphertextBlob' failed to satisfy "
                                                           "constraint: Member must not be null"));
}

struct Decrypted {
  std::shared_ptr<const KeyRecord> key;
  std::string algorithm;
  SecretBytes plaintext;
  bool dry_run = false;
};

// Shared by Decrypt and ReEncrypt (source side). `recipient` adds the
// attestation condition keys.
Result<Decrypted> decrypt_core(KmsEmulator::Impl& e, const Caller& caller, ByteView blob,
                               const std::optional<std::string>& key_id, const EncryptionContext& ec,
                               std::string_view alg, std::string_view action, const Recipient* recipient,
                               DryRun dry_run) {
  std::shared_ptr<const KeyRecord> key;
  if (dry_run == DryRun::kIgnoreCiphertext) {
    if (!key_id) {
      return fail(Errc::kValidation, "KeyId is required when DryRun is true and DryRunModifiers is IGNORE_CIPHERTEXT");
    }
    auto named = e.resolve(*key_id, caller);
    if (!named) {
      return named.error();
    }
    key = std::move(*named);
  } else if (alg == kSymmetricDefault) {
    auto blob_key = blob_key_id(blob);
    if (!blob_key) {
      return fail(Errc::kInvalidCiphertext, "");
    }
    if (key_id) {
      auto named = e.resolve(*key_id, caller);
      if (!named) {
        return named.error();
      }
      if ((*named)->key_id != *blob_key) {
        return fail(Errc::kIncorrectKey,
                    "The key ID in the request does not identify a CMK that can perform this operation.");
      }
      key = std::move(*named);
    } else {
      std::lock_guard<std::mutex> lock(e.mu);
      key = e.store->find_key(*blob_key);
      if (!key) {
        return fail(Errc::kInvalidCiphertext, "");
      }
    }
  } else {
    if (!key_id) {
      return fail(Errc::kValidation, "KeyId is required when EncryptionAlgorithm is " + std::string(alg));
    }
    auto named = e.resolve(*key_id, caller);
    if (!named) {
      return named.error();
    }
    key = std::move(*named);
  }
  const KeyRecord& k = *key;
  ConditionKeys conditions;
  add_context_conditions(conditions, ec);
  conditions["kms:EncryptionAlgorithm"] = {std::string(alg)};
  if (key_id) {
    add_request_alias(conditions, action, *key_id);
  }
  if (recipient != nullptr) {
    conditions.insert(recipient->conditions.begin(), recipient->conditions.end());
  }
  if (auto a = authorize(k, action, caller, conditions); !a) {
    return a.error();
  }
  const std::string op_name(action.substr(4));
  if (auto u = require_usable(k, "ENCRYPT_DECRYPT", op_name); !u) {
    return u.error();
  }
  if (auto a = require_algorithm(k, alg); !a) {
    return a.error();
  }
  if (auto c = require_no_context_for_rsa(k, ec); !c) {
    return c.error();
  }
  Decrypted out;
  out.key = key;
  out.algorithm = std::string(alg);
  out.dry_run = dry_run != DryRun::kNo;
  if (dry_run == DryRun::kIgnoreCiphertext) {
    return out;
  }
  // A plain DryRun goes on: the ciphertext, its encryption context and key
  // are checked as for the real request.
  if (k.symmetric()) {
    auto pt = open_blob(blob, k.material.view(), ec);
    if (!pt) {
      return fail(Errc::kInvalidCiphertext, "");
    }
    out.plaintext = std::move(*pt);
  } else {
    auto pt = rsa_oaep_decrypt(k.material.view(), *oaep_of(alg), blob);
    if (!pt) {
      return fail(Errc::kInvalidCiphertext, "");
    }
    out.plaintext = std::move(*pt);
  }
  return out;
}

struct Encrypted {
  std::shared_ptr<const KeyRecord> key;
  Bytes ciphertext;
  bool dry_run = false;
};

Result<Encrypted> encrypt_core(KmsEmulator::Impl& e, const Caller& caller, std::string_view key_id,
                               const EncryptionContext& ec, std::string_view alg, std::string_view action,
                               ByteView plaintext, bool dry_run) {
  auto key = e.resolve(key_id, caller);
  if (!key) {
    return key.error();
  }
  const KeyRecord& k = **key;
  ConditionKeys conditions;
  add_context_conditions(conditions, ec);
  conditions["kms:EncryptionAlgorithm"] = {std::string(alg)};
  add_request_alias(conditions, action, key_id);
  if (auto a = authorize(k, action, caller, conditions); !a) {
    return a.error();
  }
  if (auto u = require_usable(k, "ENCRYPT_DECRYPT", action.substr(4)); !u) {
    return u.error();
  }
  if (auto a = require_algorithm(k, alg); !a) {
    return a.error();
  }
  if (auto c = require_no_context_for_rsa(k, ec); !c) {
    return c.error();
  }
  Encrypted out;
  out.key = *key;
  out.dry_run = dry_run;
  if (k.symmetric()) {
    if (dry_run) {
      return out;
    }
    auto ct = seal_symmetric(k, ec, plaintext);
    if (!ct) {
      return ct.error();
    }
    out.ciphertext = std::move(*ct);
    return out;
  }
  const auto hash = *oaep_of(alg);
  const std::size_t max = rsa_oaep_max_plaintext(rsa_bits(k), hash);
  if (plaintext.size() > max) {
    return fail(Errc::kValidation, "Plaintext of " + std::to_string(plaintext.size()) + " bytes is too long for " +
                                       k.key_spec + " with " + std::string(alg) + " (at most " +
                                       std::to_string(max) + " bytes)");
  }
  if (dry_run) {
    return out;
  }
  auto ct = rsa_oaep_encrypt(k.public_key, hash, plaintext);
  if (!ct) {
    return ct.error();
  }
  out.ciphertext = std::move(*ct);
  return out;
}

}  // namespace

Result<void> require_usable(const KeyRecord& key, std::string_view usage, std::string_view operation) {
  if (auto s = require_enabled(key); !s) {
    return s;
  }
  if (key.key_usage != usage) {
    return fail(Errc::kInvalidKeyUsage, key.arn() + " key usage is " + key.key_usage + " which is not valid for " +
                                            std::string(operation) + ".");
  }
  return {};
}

Result<Bytes> seal_symmetric(const KeyRecord& key, const EncryptionContext& ec, ByteView plaintext) {
  const SecretBytes iv = random_secret(kGcmIvBytes);
  return seal_blob(key.key_id, key.material.view(), ec, plaintext, iv.view());
}

Reply dry_run_reply() {
  Reply r;
  r.dry_run = true;
  return r;
}

Result<Reply> op_encrypt(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto plaintext = take_secret_blob(in, "Plaintext");
  if (!plaintext) {
    return plaintext.error();
  }
  const std::string alg = get_str(in, "EncryptionAlgorithm").value_or(std::string(kSymmetricDefault));
  auto enc = encrypt_core(e, caller, *get_str(in, "KeyId"), get_context(in, "EncryptionContext"), alg, "kms:Encrypt",
                          (*plaintext)->view(), get_bool(in, "DryRun"));
  if (!enc) {
    return enc.error();
  }
  if (enc->dry_run) {
    return dry_run_reply();
  }
  Reply r;
  r.blob("CiphertextBlob", enc->ciphertext).str("KeyId", enc->key->arn()).str("EncryptionAlgorithm", alg);
  return r;
}

Result<Reply> op_decrypt(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto blob = get_blob(in, "CiphertextBlob");
  if (!blob) {
    return blob.error();
  }
  const DryRun mode = dry_run_mode(in);
  const auto ciphertext = require_ciphertext(*blob, mode);
  if (!ciphertext) {
    return ciphertext.error();
  }
  auto recipient = verify_recipient(e, in);
  if (!recipient) {
    return recipient.error();
  }
  const std::string alg = get_str(in, "EncryptionAlgorithm").value_or(std::string(kSymmetricDefault));
  auto dec = decrypt_core(e, caller, *ciphertext, get_str(in, "KeyId"), get_context(in, "EncryptionContext"), alg,
                          "kms:Decrypt", *recipient ? &**recipient : nullptr, mode);
  if (!dec) {
    return dec.error();
  }
  if (dec->dry_run) {
    return dry_run_reply();
  }
  Reply r;
  r.str("KeyId", dec->key->arn());
  if (*recipient) {
    // protocol.md 1.1: with Recipient, Plaintext is absent and the plaintext
    // travels only inside CiphertextForRecipient.
    if (auto c = add_ciphertext_for_recipient(r, **recipient, dec->plaintext.view()); !c) {
      return c.error();
    }
  } else {
    r.secret("Plaintext", dec->plaintext.view());
    // KMS omits KeyMaterialId when the request has a Recipient.
    if (const std::string id = key_material_id(*dec->key); !id.empty()) {
      r.str("KeyMaterialId", id);
    }
  }
  r.str("EncryptionAlgorithm", dec->algorithm);
  return r;
}

Result<Reply> op_re_encrypt(KmsEmulator::Impl& e, const Caller& caller, json::object& in) {
  auto blob = get_blob(in, "CiphertextBlob");
  if (!blob) {
    return blob.error();
  }
  const DryRun mode = dry_run_mode(in);
  const bool dry_run = mode != DryRun::kNo;
  const auto ciphertext = require_ciphertext(*blob, mode);
  if (!ciphertext) {
    return ciphertext.error();
  }
  const std::string src_alg = get_str(in, "SourceEncryptionAlgorithm").value_or(std::string(kSymmetricDefault));
  const std::string dst_alg =
      get_str(in, "DestinationEncryptionAlgorithm").value_or(std::string(kSymmetricDefault));
  auto dec = decrypt_core(e, caller, *ciphertext, get_str(in, "SourceKeyId"),
                          get_context(in, "SourceEncryptionContext"), src_alg, "kms:ReEncryptFrom", nullptr, mode);
  if (!dec) {
    return dec.error();
  }
  auto enc = encrypt_core(e, caller, *get_str(in, "DestinationKeyId"),
                          get_context(in, "DestinationEncryptionContext"), dst_alg, "kms:ReEncryptTo",
                          dec->plaintext.view(), dry_run);
  if (!enc) {
    return enc.error();
  }
  if (dry_run) {
    return dry_run_reply();
  }
  Reply r;
  r.blob("CiphertextBlob", enc->ciphertext)
      .str("SourceKeyId", dec->key->arn())
      .str("KeyId", enc->key->arn())
      .str("SourceEncryptionAlgorithm", src_alg)
      .str("DestinationEncryptionAlgorithm", dst_alg);
  if (const std::string id = key_material_id(*dec->key); !id.empty()) {
    r.str("SourceKeyMaterialId", id);
  }
  if (const std::string id = key_material_id(*enc->key); !id.empty()) {
    r.str("DestinationKeyMaterialId", id);
  }
  return r;
}

Result<Reply> op_generate_random(KmsEmulator::Impl& e, const Caller&, json::object& in) {
  if (get_str(in, "CustomKeyStoreId")) {
    return fail(Errc::kUnsupportedOperation, "kms-emulator does not support custom key stores");
  }
  const auto n = get_int(in, "NumberOfBytes");
  if (!n) {
    // The model marks it optional, but its documentation says "This parameter is required."
    return fail(Errc::kValidation,
                "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member "
                "must not be null");
  }
  auto recipient = verify_recipient(e, in);
  if (!recipient) {
    return recipient.error();
  }
  // GenerateRandom has no key, hence no key policy: IAM alone governs it in
  // KMS, and the emulator has no IAM, so every authenticated caller may call it.
  const SecretBytes random = random_secret(static_cast<std::size_t>(*n));
  Reply r;
  if (*recipient) {
    if (auto c = add_ciphertext_for_recipient(r, **recipient, random.view()); !c) {
      return c.error();
    }
  } else {
    r.secret("Plaintext", random.view());
  }
  return r;
}

}  // namespace kp::emulator
