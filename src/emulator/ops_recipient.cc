// Recipient support (protocol.md sections 1-3): verify the attestation
// document, derive the kms:RecipientAttestation:* condition keys, and seal
// plaintexts into CiphertextForRecipient (kp::crypto::seal_enveloped, KMS's
// CMS format).
#include <boost/json.hpp>

#include "attestation/verifier.h"
#include "crypto/cms.h"
#include "emulator/internal.h"
#include "emulator/key_crypto.h"
#include "emulator/validation.h"
#include "policy/policy.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

constexpr unsigned kMinRecipientBits = 2048;
constexpr unsigned kMaxRecipientBits = 4096;

Error recipient_error(std::string_view detail) {
  return Error{Errc::kValidation, "Invalid Recipient: " + std::string(detail)};
}

}  // namespace

Result<std::optional<Recipient>> verify_recipient(KmsEmulator::Impl& e, const json::object& in) {
  const auto* v = in.if_contains("Recipient");
  if (v == nullptr || v->is_null()) {
    return std::optional<Recipient>();
  }
  const auto& r = v->as_object();  // validation guaranteed a structure
  // The model marks both members optional; SDK-C's documentation says a
  // Recipient must contain both. The only algorithm is RSAES_OAEP_SHA_256 (the
  // enum check already ran), so an absent one is read as that default.
  auto doc = get_blob(r, "AttestationDocument");
  if (!doc) {
    return doc.error();
  }
  if (!*doc) {
    return fail(Errc::kValidation, single_validation_message("Value null at 'recipient.attestationDocument' failed "
                                                             "to satisfy constraint: Member must not be null"));
  }
  attestation::VerifyOptions opts;
  opts.trusted_roots_der = e.trust_roots;
  opts.at = e.clock->now();
  auto verified = attestation::verify_document(**doc, opts);
  if (!verified) {
    return recipient_error("the attestation document does not verify: " + verified.error().message);
  }
  const auto& d = verified->document;
  if (!d.public_key || d.public_key->empty()) {
    return recipient_error("the attestation document has no public_key");
  }
  auto info = inspect_spki(*d.public_key);
  if (!info || info->kind != SpkiInfo::Kind::kRsa) {
    return recipient_error("the attestation document's public_key is not a DER SubjectPublicKeyInfo of an RSA key");
  }
  if (info->bits < kMinRecipientBits || info->bits > kMaxRecipientBits) {
    return recipient_error("the attestation document's RSA public_key has " + std::to_string(info->bits) +
                           " bits; 2048 to 4096 are supported");
  }
  Recipient out;
  out.public_key_spki = *d.public_key;
  // kms:RecipientAttestation:ImageSha384 (= PCR0) and :PCR<n>, lower-case
  // hex, from the verified document only.
  policy::RequestContext ctx;
  policy::add_recipient_attestation(ctx, d.pcrs);
  out.conditions = std::move(ctx.keys);
  return std::optional<Recipient>(std::move(out));
}

Result<void> add_ciphertext_for_recipient(Reply& reply, const Recipient& recipient, ByteView plaintext) {
  auto cfr = crypto::seal_enveloped(plaintext, recipient.public_key_spki);
  if (!cfr) {
    return recipient_error(cfr.error().message);
  }
  reply.blob("CiphertextForRecipient", *cfr);
  return {};
}

}  // namespace kp::emulator
