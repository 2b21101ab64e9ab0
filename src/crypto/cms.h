// File: crypto/cms.h
// CMS EnvelopedData exactly as AWS KMS emits it for CiphertextForRecipient
// (protocol.md section 3): BER ContentInfo(envelopedData) v2 with one
// KeyTransRecipientInfo v2, rid = [0] subjectKeyIdentifier = SHA-256(DER SPKI
// of the recipient key), RSAES-OAEP(SHA-256, MGF1-SHA-256, empty label),
// id-data content encrypted with AES-256-CBC (PKCS#7 padding).
//
// Parsing uses the bounded BER reader (ber_reader.h), not OpenSSL's CMS code:
// every check is explicit and each error names the element. Nothing here
// allocates more than the input size. Note that CMS EnvelopedData is not
// authenticated: anyone holding the public key can produce a blob; its
// authenticity comes from the TLS channel to KMS.
// Pure: OpenSSL behind the .cc, no Asio.
#pragma once

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"
#include "crypto/rsa_key.h"

namespace kp::crypto {

/// Upper bound on an accepted blob (KMS's CiphertextForRecipient is at most
/// 6144 bytes; sealed test payloads are a few KiB).
inline constexpr std::size_t kMaxEnvelopeBytes = 1 << 20;

/// The fields of a parsed CiphertextForRecipient.
struct CmsEnvelope {
  Bytes recipient_ski;      // rid [0] subjectKeyIdentifier (32 bytes)
  Bytes encrypted_key;      // RSAES-OAEP(CEK), modulus-sized
  Bytes iv;                 // AES-256-CBC IV (16 bytes)
  Bytes encrypted_content;  // ciphertext; constructed chunks concatenated
};

/// Parses and strictly validates the structure. Errc::kCmsInvalid naming the
/// element on any deviation (wrong OID/version/algorithm/parameters, more
/// than one recipient, trailing bytes, truncation, ...).
Result<CmsEnvelope> parse_enveloped(ByteView ber);

/// Parses, checks that the blob is addressed to `key` (rid SKI ==
/// SHA-256(key SPKI)) BEFORE any RSA operation (Errc::kCmsWrongRecipient),
/// unwraps the 32-byte CEK with RSA-OAEP and decrypts the content with
/// AES-256-CBC + PKCS#7 unpadding (Errc::kCmsDecryptFailed naming the step).
/// The CEK and all intermediate plaintext are wiped.
Result<SecretBytes> open_enveloped(ByteView ber, const RsaKeyPair& key);

/// Produces KMS's format for `plaintext` addressed to `recipient_spki_der`
/// (an RSA 2048..4096 DER SubjectPublicKeyInfo; otherwise Errc::kValidation):
/// fresh random CEK and IV, encryptedContent as a constructed indefinite [0]
/// holding one OCTET STRING (the form 3 of the 4 real KMS vectors use).
/// Used by the KMS emulator and tests.
Result<Bytes> seal_enveloped(ByteView plaintext, ByteView recipient_spki_der);

}  // namespace kp::crypto
