// File: crypto/ec.h
// Asymmetric key material for the KMS emulator: GenerateDataKeyPair key pairs
// (EC and RSA) as DER SPKI + DER PKCS#8, and ECDH for DeriveSharedSecret
// (raw x coordinate, as KMS returns). OpenSSL stays in the .cc; no Asio.
#pragma once

#include <optional>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::crypto {

/// Key pair specs, named as KMS names them (KeyPairSpec / KeySpec).
enum class KeyPairSpec {
  kEccNistP256,     // "ECC_NIST_P256"
  kEccNistP384,     // "ECC_NIST_P384"
  kEccNistP521,     // "ECC_NIST_P521"
  kEccSecgP256k1,   // "ECC_SECG_P256K1"
  kRsa2048,         // "RSA_2048"
  kRsa3072,         // "RSA_3072"
  kRsa4096,         // "RSA_4096"
};

std::string_view key_pair_spec_name(KeyPairSpec spec) noexcept;
std::optional<KeyPairSpec> key_pair_spec_from_name(std::string_view name) noexcept;
bool is_ecc(KeyPairSpec spec) noexcept;

struct KeyPairDer {
  Bytes public_key_spki;            // DER SubjectPublicKeyInfo
  SecretBytes private_key_pkcs8;    // DER PKCS#8 PrivateKeyInfo
};

/// Generates a key pair (RSA with e = 65537; EC on the named curve).
Result<KeyPairDer> generate_key_pair(KeyPairSpec spec);

/// The DER SubjectPublicKeyInfo of a DER PKCS#8 private key (Errc::kValidation if not one).
Result<Bytes> public_key_of(ByteView private_key_pkcs8);

/// ECDH between our EC private key (DER PKCS#8) and a peer's DER SPKI on the
/// same curve: the shared secret's x coordinate (field-size bytes), as KMS's
/// DeriveSharedSecret returns it. Errc::kValidation for a non-EC key, a curve
/// mismatch or an invalid peer point.
Result<SecretBytes> ecdh_derive(ByteView private_key_pkcs8, ByteView peer_public_key_spki);

}  // namespace kp::crypto
