// File: emulator/ciphertext.h
//
// The emulator's symmetric ciphertext blob (its own format; real KMS blobs
// are opaque and different). It names the key, so Decrypt and ReEncrypt work
// without a KeyId, and binds the encryption context as AES-GCM AAD, so a
// different context fails authentication (InvalidCiphertextException):
//
//   offset  size  field
//   0       4     magic "KPE1" (0x4B 0x50 0x45 0x31)
//   4       1     L = length of the key id (1..64)
//   5       L     key id (ASCII UUID of the KMS key)
//   5+L     12    AES-GCM IV (random)
//   17+L    n     AES-256-GCM ciphertext of the plaintext
//   17+L+n  16    GCM tag
//
//   AAD = bytes [0, 5+L) || canonical(encryption context)
//   canonical(ec) = for each (k, v) sorted by k (bytewise):
//                   u32be(len k) || k || u32be(len v) || v
//
// Pure: no Asio.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::emulator {

using EncryptionContext = std::map<std::string, std::string>;

inline constexpr std::string_view kBlobMagic = "KPE1";

/// The canonical byte string of an encryption context (the AAD suffix).
Bytes canonical_context(const EncryptionContext& ec);

/// Key id named by a blob, or Errc::kInvalidCiphertext if the header is not
/// this format.
Result<std::string> blob_key_id(ByteView blob);

/// Encrypts `plaintext` under the 32-byte `key` of KMS key `key_id` with the
/// 12-byte `iv` (the caller draws it at random; tests may pin it).
Result<Bytes> seal_blob(std::string_view key_id, ByteView key, const EncryptionContext& ec, ByteView plaintext,
                        ByteView iv);

/// Decrypts a blob made by seal_blob(); Errc::kInvalidCiphertext on any
/// mismatch (format, key, context, tampering).
Result<SecretBytes> open_blob(ByteView blob, ByteView key, const EncryptionContext& ec);

}  // namespace kp::emulator
