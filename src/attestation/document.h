// File: attestation/document.h
//
// Parses an AWS Nitro Enclaves attestation document: a COSE_Sign1 (RFC 9052,
// tagged 18 or untagged as the NSM emits it) whose payload is the CBOR map of
// protocol.md section 5.2. Parsing performs steps 1 and 2 of the verification
// procedure (protocol.md 5.3): envelope shape, alg ES384, mandatory fields,
// types and sizes. It does NOT check signatures or the certificate chain;
// that is verifier.h.
//
//   auto doc = kp::attestation::parse_document(cose_bytes);
//   if (!doc) return doc.error();   // Errc::kAttestationInvalid, names the field
//   doc->pcrs.at(0);
//
// Depends on base/ and cbor/ only; no OpenSSL, no Asio.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace kp::attestation {

/// Size bounds from the AWS attestation document specification.
inline constexpr std::size_t kMaxCertificateBytes = 1024;
inline constexpr std::size_t kMaxOptionalFieldBytes = 1024;  // public_key, user_data, nonce
inline constexpr unsigned kMaxPcrs = 32;
inline constexpr std::size_t kMaxCabundleEntries = 32;       // real documents carry 4
inline constexpr std::size_t kEs384SignatureBytes = 96;      // r || s, 48 bytes each

struct AttestationDocument {
  std::string module_id;
  std::string digest;                  // always "SHA384"
  std::uint64_t timestamp_ms = 0;      // ms since the Unix epoch, UTC
  std::map<unsigned, Bytes> pcrs;      // index -> 32/48/64 bytes
  Bytes certificate;                   // DER of the signing (leaf) certificate
  std::vector<Bytes> cabundle;         // DER, root first, leaf's issuer last
  std::optional<Bytes> public_key;     // nullopt when absent or CBOR null
  std::optional<Bytes> user_data;      // an empty bstr stays an empty value
  std::optional<Bytes> nonce;

  // The COSE_Sign1 parts as received: what the signature covers.
  Bytes protected_header;              // content of the protected bstr (a1 01 38 22)
  Bytes payload;                       // content of the payload bstr
  Bytes signature;                     // 96 bytes r || s
  bool tagged = false;                 // COSE tag 18 was present
};

/// Parses and syntactically validates a COSE_Sign1 attestation document.
/// Errors: Errc::kAttestationInvalid, "attestation: <field>: <reason>".
Result<AttestationDocument> parse_document(ByteView cose_sign1);

/// Parses only the payload map (protocol.md 5.2); used by parse_document and
/// by tests that build payloads directly. COSE fields stay empty.
Result<AttestationDocument> parse_payload(ByteView payload);

}  // namespace kp::attestation
