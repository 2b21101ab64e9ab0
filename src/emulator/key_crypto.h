// File: emulator/key_crypto.h
//
// The emulator's own use of key material that no other module needs:
// AES-256-GCM for its symmetric ciphertext blobs and RSAES-OAEP (SHA-1 or
// SHA-256, MGF1 with the same hash, as KMS's RSAES_OAEP_SHA_1/SHA_256) with
// stored PKCS#8 keys, RSASSA-PSS / PKCS#1 v1.5 and ECDSA signatures over
// digests (Sign/Verify), plus SPKI inspection for GetPublicKey/Recipient checks.
// Key generation, ECDH, randomness and the CMS envelope come from kp::crypto.
// OpenSSL stays inside key_crypto.cc. Pure: no Asio.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::emulator {

inline constexpr std::size_t kGcmIvBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

/// AES-256-GCM encryption; returns ciphertext || 16-byte tag.
Result<Bytes> aes_gcm_seal(ByteView key, ByteView iv, ByteView aad, ByteView plaintext);
/// AES-256-GCM decryption of ciphertext || tag. Errc::kInvalidCiphertext when
/// the tag does not verify (wrong key, context or tampering).
Result<SecretBytes> aes_gcm_open(ByteView key, ByteView iv, ByteView aad, ByteView sealed);

enum class OaepHash { kSha1, kSha256 };

/// Largest plaintext RSAES-OAEP can take: modulus bytes - 2 * hash bytes - 2.
std::size_t rsa_oaep_max_plaintext(unsigned modulus_bits, OaepHash hash) noexcept;
/// Encrypts to the public key in `spki_der`. Errc::kInternal on OpenSSL failure.
Result<Bytes> rsa_oaep_encrypt(ByteView spki_der, OaepHash hash, ByteView plaintext);
/// Decrypts with the PKCS#8 private key. Errc::kInvalidCiphertext on failure.
Result<SecretBytes> rsa_oaep_decrypt(ByteView pkcs8_der, OaepHash hash, ByteView ciphertext);

/// KMS signing algorithms (SigningAlgorithmSpec) for RSA and ECDSA keys.
struct SigningAlgorithm {
  enum class Scheme { kRsaPss, kRsaPkcs1, kEcdsa };
  Scheme scheme = Scheme::kEcdsa;
  unsigned digest_bytes = 32;  // SHA-256, -384 or -512
};
/// "RSASSA_PSS_SHA_256" ... "ECDSA_SHA_512"; nullopt for others (SM2DSA, ML_DSA_SHAKE_256, ...).
std::optional<SigningAlgorithm> signing_algorithm_from_name(std::string_view name);
/// SHA-256/384/512 of `message` (digest_bytes 32/48/64).
Bytes message_digest(unsigned digest_bytes, ByteView message);
/// Signs a digest with the PKCS#8 private key: RSASSA-PSS (MGF1 with the same
/// hash, salt as long as the digest, as KMS) or PKCS#1 v1.5, or ECDSA (DER
/// ECDSA-Sig-Value). Errc::kInternal on OpenSSL failure.
Result<Bytes> sign_digest(ByteView pkcs8_der, const SigningAlgorithm& alg, ByteView digest);
/// Whether `signature` is valid for `digest` under the public key.
Result<bool> verify_digest(ByteView spki_der, const SigningAlgorithm& alg, ByteView digest, ByteView signature);

/// What a DER SubjectPublicKeyInfo holds.
struct SpkiInfo {
  enum class Kind { kRsa, kEc, kOther };
  Kind kind = Kind::kOther;
  unsigned bits = 0;
  std::string curve;  // "P-256", "P-384", "P-521", "secp256k1" for EC
};
/// Errc::kValidation when `der` is not exactly one SubjectPublicKeyInfo.
Result<SpkiInfo> inspect_spki(ByteView der);

}  // namespace kp::emulator
