#include "attestation/verifier.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "attestation/aws_root.h"
#include "attestation/ossl_util.h"
#include "base/encoding.h"
#include "base/time_format.h"
#include "cbor/writer.h"
#include "crypto/digest.h"

namespace kp::attestation {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): .cc-local

VerifyOutcome failure(VerifyFailure f, std::string message, std::string cert = {}) {
  return VerifyOutcome{f, "attestation: " + std::move(message), std::move(cert)};
}

// A parsed certificate with its role for messages.
struct Cert {
  std::string role;
  X509Ptr x509;
  std::string label() const {
    return role + " (" + name_string(X509_get_subject_name(x509.get())) + ")";
  }
};

std::string time_string(const ASN1_TIME* t) {
  auto v = asn1_time(t);
  return v ? format_rfc3339(*v) : std::string("<invalid time>");
}

const Cert* find_cert(const std::vector<Cert>& certs, X509* x) {
  if (x == nullptr) {
    return nullptr;
  }
  for (const auto& c : certs) {
    if (X509_cmp(c.x509.get(), x) == 0) {
      return &c;
    }
  }
  return nullptr;
}

VerifyOutcome check_profile(const Cert& c) {
  // protocol.md 5.3 step 3: every certificate is ecdsa-with-SHA384 over P-384.
  if (X509_get_signature_nid(c.x509.get()) != NID_ecdsa_with_SHA384) {
    return failure(VerifyFailure::kUnsupportedAlgorithm,
                   c.label() + ": signature algorithm is not ecdsa-with-SHA384", c.role);
  }
  if (!is_p384(X509_get0_pubkey(c.x509.get()))) {
    return failure(VerifyFailure::kUnsupportedAlgorithm, c.label() + ": public key is not EC P-384",
                   c.role);
  }
  return {};
}

VerifyOutcome chain_error(X509_STORE_CTX* ctx, const std::vector<Cert>& certs, SysTime at) {
  const int err = X509_STORE_CTX_get_error(ctx);
  X509* current = X509_STORE_CTX_get_current_cert(ctx);
  const Cert* c = find_cert(certs, current);
  std::string who;
  std::string role;
  if (c != nullptr) {
    who = c->label();
    role = c->role;
  } else if (current != nullptr) {
    who = "certificate at depth " + std::to_string(X509_STORE_CTX_get_error_depth(ctx)) + " (" +
          name_string(X509_get_subject_name(current)) + ")";
  } else {
    who = "chain";
  }
  const std::string when = "verification time " + format_rfc3339(at);
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return failure(VerifyFailure::kCertificateExpired,
                     who + ": expired at " + time_string(X509_get0_notAfter(current)) + " (" +
                         when + ")",
                     role);
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return failure(VerifyFailure::kCertificateNotYetValid,
                     who + ": not yet valid until " + time_string(X509_get0_notBefore(current)) +
                         " (" + when + ")",
                     role);
    default:
      return failure(VerifyFailure::kChainInvalid,
                     who + ": " + X509_verify_cert_error_string(err), role);
  }
}

Result<void> pinned_root_ok() {
  static const Result<void> once = check_aws_nitro_root();
  return once;
}

}  // namespace

std::vector<Bytes> default_trusted_roots() {
  const ByteView der = aws_nitro_root_der();
  return {Bytes(der.begin(), der.end())};
}

std::string_view failure_name(VerifyFailure f) noexcept {
  switch (f) {
    case VerifyFailure::kNone: return "ok";
    case VerifyFailure::kMalformedCertificate: return "malformed_certificate";
    case VerifyFailure::kUnsupportedAlgorithm: return "unsupported_algorithm";
    case VerifyFailure::kUntrustedRoot: return "untrusted_root";
    case VerifyFailure::kCertificateExpired: return "certificate_expired";
    case VerifyFailure::kCertificateNotYetValid: return "certificate_not_yet_valid";
    case VerifyFailure::kChainInvalid: return "chain_invalid";
    case VerifyFailure::kLeafInvalid: return "leaf_invalid";
    case VerifyFailure::kSignatureInvalid: return "signature_invalid";
    case VerifyFailure::kInternal: return "internal";
  }
  return "unknown";
}

Bytes sig_structure1(ByteView protected_header, ByteView payload) {
  cbor::Writer w(payload.size() + protected_header.size() + 32);
  w.array_header(4).tstr("Signature1").bstr(protected_header).bstr({}).bstr(payload);
  return std::move(w).take();
}

std::vector<CertificateInfo> describe_chain(const AttestationDocument& doc) {
  std::vector<CertificateInfo> out;
  auto add = [&out](std::string role, const Bytes& der) {
    CertificateInfo info;
    info.role = std::move(role);
    info.sha256_hex = hex_encode(crypto::sha256(der));
    if (auto x = parse_der_cert(der)) {
      info.parsed = true;
      info.subject = name_string(X509_get_subject_name(x.get()));
      info.issuer = name_string(X509_get_issuer_name(x.get()));
      info.not_before = asn1_time(X509_get0_notBefore(x.get())).value_or(SysTime{});
      info.not_after = asn1_time(X509_get0_notAfter(x.get())).value_or(SysTime{});
    }
    out.push_back(std::move(info));
  };
  add("certificate", doc.certificate);
  for (std::size_t i = doc.cabundle.size(); i-- > 0;) {
    add("cabundle[" + std::to_string(i) + "]", doc.cabundle[i]);
  }
  return out;
}

VerifyOutcome verify_detailed(const AttestationDocument& doc, const VerifyOptions& options) {
  if (auto ok = pinned_root_ok(); !ok) {
    return failure(VerifyFailure::kInternal, "pinned AWS Nitro root failed its self-check");
  }
  if (doc.cabundle.empty()) {
    return failure(VerifyFailure::kChainInvalid, "cabundle: empty");
  }
  if (options.trusted_roots_der.empty()) {
    return failure(VerifyFailure::kUntrustedRoot, "no trusted roots configured");
  }

  // Parse every certificate strictly (DER must span the whole bstr).
  std::vector<Cert> certs;  // [leaf, cabundle[0], ..., cabundle[N-1]]
  certs.reserve(doc.cabundle.size() + 1);
  {
    X509Ptr leaf = parse_der_cert(doc.certificate);
    if (!leaf) {
      return failure(VerifyFailure::kMalformedCertificate, "certificate: not a DER X.509 certificate",
                     "certificate");
    }
    certs.push_back({"certificate", std::move(leaf)});
  }
  for (std::size_t i = 0; i < doc.cabundle.size(); ++i) {
    std::string role = "cabundle[" + std::to_string(i) + "]";
    X509Ptr x = parse_der_cert(doc.cabundle[i]);
    if (!x) {
      return failure(VerifyFailure::kMalformedCertificate,
                     role + ": not a DER X.509 certificate", role);
    }
    certs.push_back({std::move(role), std::move(x)});
  }

  // Step 3a: the bundle's root is one of ours, byte for byte.
  const Bytes& root_der = doc.cabundle.front();
  const bool trusted = std::any_of(options.trusted_roots_der.begin(), options.trusted_roots_der.end(),
                                   [&](const Bytes& r) { return r == root_der; });
  if (!trusted) {
    return failure(VerifyFailure::kUntrustedRoot,
                   certs[1].label() + ": not a trusted root (SHA-256 " +
                       hex_encode(crypto::sha256(root_der)) + ")",
                   "cabundle[0]");
  }
  for (const auto& c : certs) {
    if (auto p = check_profile(c); !p.ok()) {
      return p;
    }
  }

  // Step 3b: X.509 path validation at the chosen time. Only cabundle[0] is a
  // trust anchor; cabundle[1..] are untrusted intermediates. No CRLs (AWS:
  // "we do not use CRL"); the root carries no pathLen and needs none.
  X509StorePtr store(X509_STORE_new());
  X509StackPtr untrusted(sk_X509_new_null());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx || X509_STORE_add_cert(store.get(), certs[1].x509.get()) != 1) {
    return failure(VerifyFailure::kInternal, "OpenSSL: " + take_openssl_error());
  }
  for (std::size_t i = 2; i < certs.size(); ++i) {
    if (sk_X509_push(untrusted.get(), certs[i].x509.get()) <= 0) {
      return failure(VerifyFailure::kInternal, "OpenSSL: " + take_openssl_error());
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), certs[0].x509.get(), untrusted.get()) != 1) {
    return failure(VerifyFailure::kInternal, "OpenSSL: " + take_openssl_error());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  const auto at_secs =
      std::chrono::duration_cast<std::chrono::seconds>(options.at.time_since_epoch()).count();
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at_secs));
  // Not X509_V_FLAG_X509_STRICT: real NSM leaf certificates carry no
  // Authority Key Identifier, which strict mode rejects.
  const int rc = X509_verify_cert(ctx.get());
  ERR_clear_error();
  if (rc != 1) {
    return chain_error(ctx.get(), certs, options.at);
  }
  // The path must be exactly [leaf, cabundle[N-1], ..., cabundle[0]]: every
  // bundle entry used, in the documented order.
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  const int n = chain != nullptr ? sk_X509_num(chain) : 0;
  bool shape_ok = n == static_cast<int>(certs.size()) && X509_cmp(sk_X509_value(chain, 0), certs[0].x509.get()) == 0;
  for (int i = 1; shape_ok && i < n; ++i) {
    shape_ok = X509_cmp(sk_X509_value(chain, i), certs[certs.size() - static_cast<std::size_t>(i)].x509.get()) == 0;
  }
  if (!shape_ok) {
    return failure(VerifyFailure::kChainInvalid,
                   "cabundle: not a single path root-first to the certificate's issuer (the path OpenSSL "
                   "built has " + std::to_string(n) + " certificates; the certificate and the bundle are " +
                       std::to_string(certs.size()) + ")");
  }

  // The profiles AWS documents (and its certificates have): every bundle
  // certificate after the root a CA with critical basic constraints and
  // keyCertSign; the leaf an end entity whose key usage allows
  // digitalSignature. OpenSSL's path validation is looser (not strict mode,
  // see above; X509_check_ca calls a CA:TRUE certificate without keyCertSign
  // no CA).
  for (std::size_t i = 2; i < certs.size(); ++i) {
    int critical = -1;
    BASIC_CONSTRAINTS* bc = static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(certs[i].x509.get(), NID_basic_constraints, &critical, nullptr));
    const bool ca = bc != nullptr && bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    if (!ca || critical != 1) {
      return failure(VerifyFailure::kChainInvalid,
                     certs[i].label() + ": basic constraints are not a critical CA:TRUE", certs[i].role);
    }
    if ((X509_get_extension_flags(certs[i].x509.get()) & EXFLAG_KUSAGE) == 0 ||
        (X509_get_key_usage(certs[i].x509.get()) & KU_KEY_CERT_SIGN) == 0) {
      return failure(VerifyFailure::kChainInvalid, certs[i].label() + ": key usage does not allow keyCertSign",
                     certs[i].role);
    }
  }
  X509* leaf = certs[0].x509.get();
  if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 || X509_check_ca(leaf) != 0) {
    return failure(VerifyFailure::kLeafInvalid, certs[0].label() + ": is a CA certificate",
                   "certificate");
  }
  if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) == 0 ||
      (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
    return failure(VerifyFailure::kLeafInvalid,
                   certs[0].label() + ": key usage does not allow digitalSignature", "certificate");
  }

  // Step 4: the COSE_Sign1 signature with the leaf key.
  auto der_sig = es384_raw_to_der(doc.signature);
  if (!der_sig) {
    return failure(VerifyFailure::kSignatureInvalid, "signature: not a 96-byte ES384 r||s value");
  }
  const Bytes tbs = sig_structure1(doc.protected_header, doc.payload);
  EvpMdCtxPtr md(EVP_MD_CTX_new());
  if (!md ||
      EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha384(), nullptr, X509_get0_pubkey(leaf)) != 1) {
    return failure(VerifyFailure::kInternal, "OpenSSL: " + take_openssl_error());
  }
  const int vr = EVP_DigestVerify(md.get(), der_sig->data(), der_sig->size(), tbs.data(), tbs.size());
  ERR_clear_error();
  if (vr != 1) {
    return failure(VerifyFailure::kSignatureInvalid,
                   "signature: COSE_Sign1 ES384 signature does not verify with the key of " +
                       certs[0].label());
  }
  return {};
}

Result<VerifiedDocument> verify(const AttestationDocument& doc, const VerifyOptions& options) {
  VerifyOutcome o = verify_detailed(doc, options);
  if (!o.ok()) {
    return Error{o.failure == VerifyFailure::kInternal ? Errc::kInternal : Errc::kAttestationInvalid,
                 std::move(o.message)};
  }
  VerifiedDocument v;
  v.document = doc;
  v.chain = describe_chain(doc);
  v.root_sha256_hex = hex_encode(crypto::sha256(doc.cabundle.front()));
  return v;
}

Result<VerifiedDocument> verify_document(ByteView cose_sign1, const VerifyOptions& options) {
  auto doc = parse_document(cose_sign1);
  if (!doc) {
    return doc.error();
  }
  return verify(*doc, options);
}

}  // namespace kp::attestation
