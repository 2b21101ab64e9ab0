// File: crypto/rsa_key.h
// The proxy's recipient key pair: RSA (2048 by default, e = 65537) whose DER
// SubjectPublicKeyInfo goes into the attestation document's public_key and
// whose private half unwraps CiphertextForRecipient (RSAES-OAEP SHA-256).
// The private key never leaves process memory: there is deliberately no
// export function. Thread-safe for concurrent decrypts. OpenSSL stays behind
// the pimpl; no Asio.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::crypto {

class RsaKeyPair {
 public:
  /// Generates a fresh key (bits in [2048, 4096], multiple of 8; e = 65537).
  static Result<RsaKeyPair> generate(unsigned bits = 2048);
  /// Loads an unencrypted PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE
  /// KEY") PEM private key (tests, fixtures). Encrypted PEM is rejected
  /// without prompting. Errc::kValidation on failure.
  static Result<RsaKeyPair> from_pem(std::string_view pem);

  RsaKeyPair(RsaKeyPair&&) noexcept;
  RsaKeyPair& operator=(RsaKeyPair&&) noexcept;
  RsaKeyPair(const RsaKeyPair&) = delete;
  RsaKeyPair& operator=(const RsaKeyPair&) = delete;
  ~RsaKeyPair();

  /// DER SubjectPublicKeyInfo (rsaEncryption); 294 bytes for RSA-2048.
  /// Empty for a moved-from object.
  const Bytes& spki_der() const noexcept;
  /// SHA-256(spki_der()): the subjectKeyIdentifier KMS puts in the RecipientInfo.
  const std::array<std::uint8_t, 32>& spki_sha256() const noexcept;
  /// Modulus size in bits.
  unsigned bits() const noexcept;

  /// RSAES-OAEP decryption with SHA-256, MGF1-SHA-256 and an empty label.
  /// Errc::kCmsDecryptFailed if the ciphertext does not decrypt under this key.
  Result<SecretBytes> decrypt_oaep_sha256(ByteView ciphertext) const;

  /// How many private-key operations this key has attempted (metrics, and
  /// tests proving that a wrongly addressed blob never reached RSA).
  std::uint64_t private_operations() const noexcept;

  struct Impl;  // implementation detail (OpenSSL objects), defined in rsa_key.cc

 private:
  explicit RsaKeyPair(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kp::crypto
