// File: attestation/ossl_util.h  (internal to the attestation module)
//
// RAII owners for the OpenSSL objects the module uses, plus small helpers
// (strict DER certificate parsing, names, times, ES384 signature formats).
// Digests come from crypto/digest.h.
// Not part of the module's public API: include only from attestation/*.cc.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/openssl.h"
#include "base/result.h"

namespace kp::attestation::detail {

using X509Ptr = CPtr<X509, X509_free>;
using EvpPkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = CPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtxPtr = CPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using X509StorePtr = CPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = CPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using BioPtr = CPtr<BIO, BIO_free_all>;
using EcdsaSigPtr = CPtr<ECDSA_SIG, ECDSA_SIG_free>;
using BignumPtr = CPtr<BIGNUM, BN_free>;
using X509NamePtr = CPtr<X509_NAME, X509_NAME_free>;
using Asn1IntegerPtr = CPtr<ASN1_INTEGER, ASN1_INTEGER_free>;

struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }  // does not own certs
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

/// Parses one DER certificate that must span all of `der`.
X509Ptr parse_der_cert(ByteView der);
/// DER encoding of `cert`.
Bytes cert_der(X509* cert);

/// RFC 2253 one-line form, e.g. "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US".
std::string name_string(const X509_NAME* name);
/// nullopt if unparseable; saturates at SysTime::min()/max() for times
/// SysTime cannot hold (e.g. notAfter 9999-12-31).
std::optional<SysTime> asn1_time(const ASN1_TIME* t);
bool set_asn1_time(ASN1_TIME* t, SysTime when);

/// A PEM private key (PKCS#8 or traditional), or nullptr.
EvpPkeyPtr parse_private_key_pem(ByteView pem);

/// Whether `key` is an EC key on P-384 (secp384r1).
bool is_p384(EVP_PKEY* key);

/// Raw r||s (2 x 48 bytes) to DER ECDSA-Sig-Value, and back.
std::optional<Bytes> es384_raw_to_der(ByteView raw);
std::optional<Bytes> es384_der_to_raw(ByteView der);

/// The OpenSSL error queue as a message: base/openssl.h.
using kp::take_openssl_error;

}  // namespace kp::attestation::detail
