// File: attestation/verifier.h
//
// Verifies a parsed attestation document (protocol.md 5.3 steps 3-4):
//   3. cabundle[0] byte-equal to a trusted root (default: the pinned AWS
//      Nitro root, aws_root.h); chain certificate <- cabundle[N-1] <- ... <-
//      cabundle[0] with X509_verify_cert at the caller's time (no CRL; the
//      root needs no pathLen); every certificate P-384 / ecdsa-with-SHA384;
//      leaf not a CA and allowed digitalSignature.
//   4. ES384 over Sig_structure1 ["Signature1", protected, h'', payload]
//      with the leaf key (r||s converted to DER ECDSA-Sig-Value).
// Application checks (PCR values, nonce, freshness) are the caller's.
//
//   kp::attestation::VerifyOptions opts;            // AWS root, now
//   opts.at = kp::from_unix_ms(doc.timestamp_ms);    // e.g. in tests
//   auto v = kp::attestation::verify(doc, opts);     // Errc::kAttestationInvalid
//
// Thread safety: stateless; safe to call concurrently.
// Depends on base/, cbor/ and OpenSSL; no Asio.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attestation/document.h"
#include "base/clock.h"
#include "base/result.h"

namespace kp::attestation {

/// The default trust anchors: the pinned AWS Nitro Enclaves Root G1.
std::vector<Bytes> default_trusted_roots();

struct VerifyOptions {
  /// DER certificates; cabundle[0] must equal one of them byte for byte.
  std::vector<Bytes> trusted_roots_der = default_trusted_roots();
  /// Time at which every certificate must be valid.
  SysTime at = std::chrono::system_clock::now();
};

enum class VerifyFailure {
  kNone,
  kMalformedCertificate,    // a certificate does not parse as DER X.509
  kUnsupportedAlgorithm,    // not P-384 / ecdsa-with-SHA384
  kUntrustedRoot,           // cabundle[0] is not a trusted root
  kCertificateExpired,      // some certificate's notAfter < at
  kCertificateNotYetValid,  // some certificate's notBefore > at
  kChainInvalid,            // signature, CA flag, pathLen, key usage, path shape
  kLeafInvalid,             // leaf is a CA or may not sign
  kSignatureInvalid,        // COSE_Sign1 ES384 signature does not verify
  kInternal,                // OpenSSL allocation failure, corrupted pinned root
};
std::string_view failure_name(VerifyFailure f) noexcept;

/// One certificate of the document as shown to humans (CLI, errors).
struct CertificateInfo {
  std::string role;  // "certificate" or "cabundle[i]"
  bool parsed = false;
  std::string subject;  // RFC 2253, e.g. "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US"
  std::string issuer;
  SysTime not_before{};
  SysTime not_after{};
  std::string sha256_hex;  // of the DER
};

/// Certificates in chain order: leaf ("certificate"), cabundle[N-1], ..., cabundle[0].
std::vector<CertificateInfo> describe_chain(const AttestationDocument& doc);

struct VerifiedDocument {
  AttestationDocument document;
  std::vector<CertificateInfo> chain;  // leaf first, root last
  std::string root_sha256_hex;
};

/// Detailed result: what failed, where, and why.
struct VerifyOutcome {
  VerifyFailure failure = VerifyFailure::kNone;
  std::string message;      // "attestation: ..." naming certificate (role, subject) or field
  std::string certificate;  // role of the failing certificate, if any
  bool ok() const noexcept { return failure == VerifyFailure::kNone; }
};

/// Runs steps 3-4 and reports the first failure in detail.
VerifyOutcome verify_detailed(const AttestationDocument& doc, const VerifyOptions& options);

/// verify_detailed() as a Result. Errors: Errc::kAttestationInvalid (kInternal
/// for VerifyFailure::kInternal), with the outcome's message.
Result<VerifiedDocument> verify(const AttestationDocument& doc, const VerifyOptions& options);

/// parse_document() + verify().
Result<VerifiedDocument> verify_document(ByteView cose_sign1, const VerifyOptions& options);

/// Sig_structure1 = ["Signature1", protected, h'', payload], CBOR-encoded
/// (RFC 9052 section 4.4): the bytes the ES384 signature covers.
Bytes sig_structure1(ByteView protected_header, ByteView payload);

}  // namespace kp::attestation
