// File: attestation/inspect.h
//
// Human/machine view of an attestation document for the CLI
// (`inspect-attestation`): input sniffing (raw CBOR, hex or base64) and a
// JSON rendering of the fields, the certificate chain and the verdict.
//
//   auto bytes = kp::attestation::read_document_input(file_contents);
//   auto doc = kp::attestation::parse_document(*bytes);
//   auto outcome = kp::attestation::verify_detailed(*doc, opts);
//   std::cout << kp::attestation::to_json(*doc, outcome, opts.at);
//
// Depends on base/, cbor/ and the verifier; no Asio.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "attestation/document.h"
#include "attestation/verifier.h"
#include "base/clock.h"

namespace kp::attestation {

/// Accepts a COSE_Sign1 as raw bytes (first byte 0x84, or 0xd2 when tagged),
/// hex (optionally "0x"-prefixed), or base64 (standard or URL-safe, padding
/// optional); whitespace and line breaks in text forms are ignored.
/// Errors: Errc::kAttestationInvalid when none of the forms yields a
/// COSE_Sign1-looking byte string; input over 1 MiB.
Result<Bytes> read_document_input(std::string_view text_or_bytes);

/// Pretty-printed JSON (2-space indent):
///   module_id, timestamp_ms, timestamp (RFC 3339 with ms), digest,
///   pcrs {"<index>": "<lower-case hex>"}, public_key/user_data/nonce (hex or
///   null), certificates [{role, subject, issuer, not_before, not_after,
///   sha256}] leaf first, and, when `outcome` is given,
///   verification {verdict: "valid"|"invalid", reason, message, certificate, at}.
std::string to_json(const AttestationDocument& doc,
                    const std::optional<VerifyOutcome>& outcome = std::nullopt,
                    SysTime verified_at = {});

/// A document timestamp (ms since the Unix epoch) as a SysTime; nullopt when
/// SysTime cannot hold it (from 2262-04-11T23:47:16.854Z on: nanoseconds in
/// 64 bits), where converting would overflow (UB). The timestamp is whatever
/// the document's bytes say, so callers must handle nullopt.
std::optional<SysTime> document_time(std::uint64_t timestamp_ms);

/// RFC 3339 UTC with milliseconds, e.g. "2023-09-18T15:03:30.860Z";
/// "out of range" for times SysTime cannot hold (beyond ~1678..2261).
std::string format_rfc3339_ms(std::int64_t unix_ms);

}  // namespace kp::attestation
