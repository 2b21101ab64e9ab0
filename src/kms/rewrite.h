// File: kms/rewrite.h
// The two body rewrites of an attested KMS call:
//  * request: add "Recipient" (the enclave's attestation document) to the
//    client's JSON by splicing text, so every byte the client sent survives;
//  * response: open CiphertextForRecipient with the caller's CMS decryptor and
//    put the plaintext where an SDK expects it (Plaintext /
//    PrivateKeyPlaintext / SharedSecret), dropping CiphertextForRecipient.
// Pure: base and Boost.JSON only; no Asio. The CMS decryption itself is
// injected (crypto module), so this file never sees private keys.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret.h"
#include "kms/operations.h"

namespace kp::kms {

/// Model limit for CiphertextForRecipient (CiphertextType, protocol.md 1.3).
inline constexpr std::size_t kMaxCiphertextForRecipient = 6144;
/// The only KeyEncryptionAlgorithm KMS defines for Recipient.
inline constexpr std::string_view kKeyEncryptionAlgorithm = "RSAES_OAEP_SHA_256";

struct RecipientRewrite {
  /// The client already sent a top-level "Recipient"; the body is unchanged
  /// (the proxy must not attest on its behalf, nor replace its document).
  bool already_had_recipient = false;
  std::string body;
};

/// Validates `body` as a JSON object (one Boost.JSON SAX pass, no DOM) and, if
/// it has no top-level "Recipient" member (escaped spellings count: keys are
/// compared after JSON unescaping) other than "Recipient": null, returns it with
///   "Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"<b64>"}
/// inserted right after the opening brace (plus ',' unless the object is
/// empty). Nothing else is reserialised. A "Recipient": null member (KMS reads
/// null as absent) is removed first; then the members are rejoined without the
/// whitespace that separated them. Errors: kMalformedRequest ("request
/// body is not valid JSON" / "request body is not a JSON object"), kInternal
/// when `attestation_doc_base64` is empty or not base64 characters.
kp::Result<RecipientRewrite> add_recipient(std::string_view body, std::string_view attestation_doc_base64);

/// What the proxy needs to know about a request body before attesting it:
/// validates it as a JSON object (kMalformedRequest otherwise) and tells
/// whether it already has a top-level "Recipient" that is not null (then the
/// proxy forwards it unchanged and does not call the NSM). More than one
/// top-level "Recipient" with any of them not null is kMalformedRequest.
struct RequestScan {
  bool has_recipient = false;
  std::size_t null_recipients = 0;  // top-level "Recipient": null members (removed on insert)
  bool empty_object = false;        // no members besides those
  std::size_t brace = 0;            // offset of the root '{'
};
kp::Result<RequestScan> scan_request(std::string_view body);

/// The Recipient member for one attestation document: its text is checked
/// (base64 characters) and built once, then spliced into every request the
/// document serves.
class RecipientMember {
 public:
  /// Errors: kInternal when the document is empty or not base64 text.
  static kp::Result<RecipientMember> make(std::string_view attestation_doc_base64);

  /// "{" followed by the member: the first bytes of every body that
  /// insert_recipient() produces from a body whose '{' is its first byte
  /// (for a SigV4 payload hash that resumes after them: sigv4::PrefixedSha256).
  std::string_view body_prefix() const noexcept { return text_; }
  /// The member alone: "Recipient":{...}.
  std::string_view member() const noexcept { return std::string_view(text_).substr(1); }

 private:
  explicit RecipientMember(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

/// Splices the Recipient member into `body` using its scan (which must say
/// has_recipient == false). Errors: kInternal (stale scan).
kp::Result<void> insert_recipient(std::string& body, const RequestScan& scan, const RecipientMember& member);

/// The same for a document not yet checked. Errors: kInternal (bad document
/// text, stale scan).
kp::Result<void> insert_recipient(std::string& body, const RequestScan& scan,
                                  std::string_view attestation_doc_base64);

/// The same, in place: splices into `body` (one memmove, no second buffer).
/// Returns true if the body already had a Recipient (then it is untouched).
kp::Result<bool> add_recipient_in_place(std::string& body, std::string_view attestation_doc_base64);

/// Opens a CMS EnvelopedData (DER/BER bytes of CiphertextForRecipient).
using CmsDecryptFn = std::function<kp::Result<kp::SecretBytes>(kp::ByteView cms_der)>;

/// Rewrites a 200 response of an attested call.
///  1. parses `upstream_body` (must be a JSON object whose numbers are all
///     within the double range, else kUpstreamProtocol);
///  2. requires "CiphertextForRecipient": a string of standard padded base64
///     decoding to 1..6144 bytes, else Errc::kCmsInvalid saying which;
///  3. calls `decrypt` on the decoded bytes; its error is returned unchanged;
///  4. returns every other member byte for byte as KMS wrote it (original
///     order; keys compared after unescaping; the whitespace between members
///     is not kept) plus plaintext_field(op) = base64(plaintext) as the last
///     member, replacing any existing (null/empty) member of that name.
/// The base64 plaintext is written only into the returned string, after
/// reserving its final capacity, so no reallocation leaves a copy behind; the
/// decrypted bytes are wiped when the SecretBytes dies. The CALLER MUST put
/// the result in an HttpResponse with `sensitive_body = true` (wiped after the
/// write) and must not log it.
kp::Result<std::string> open_recipient_response(std::string_view upstream_body, AttestedOp op,
                                                const CmsDecryptFn& decrypt);

}  // namespace kp::kms
