// File: crypto/openssl_util.h
// INTERNAL to src/crypto: RAII owners for OpenSSL objects and small helpers.
// Include only from crypto .cc files; public crypto headers never expose
// OpenSSL types. No Asio, no other kp modules besides base.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/openssl.h"
#include "base/result.h"

namespace kp::crypto::detail {

using PkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = CPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using CipherCtxPtr = CPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using BioPtr = CPtr<BIO, BIO_free>;

using kp::take_openssl_error;  // base/openssl.h

/// AES-256-CBC, fetched once per process (avoids an implicit fetch per use).
const EVP_CIPHER* aes_256_cbc();
/// SHA-256, fetched once per process.
const EVP_MD* sha256_md();

/// Sets an RSA encrypt/decrypt context (already initialised for that) to
/// RSAES-OAEP with SHA-256 and MGF1-SHA-256, KMS's RSAES_OAEP_SHA_256.
bool set_rsa_oaep_sha256(EVP_PKEY_CTX* ctx);
/// RSAES-OAEP-SHA-256 encryption of `plaintext` to `pkey`'s public half.
/// Errors (kInternal) start with `what`.
Result<Bytes> rsa_oaep_sha256_encrypt(EVP_PKEY* pkey, ByteView plaintext, std::string_view what);

/// Parses a DER SubjectPublicKeyInfo that must span all of `der`.
Result<PkeyPtr> parse_spki(ByteView der, Errc code, std::string_view what);
/// Parses a DER PKCS#8 PrivateKeyInfo that must span all of `der`.
Result<PkeyPtr> parse_pkcs8(ByteView der, Errc code, std::string_view what);
/// DER SubjectPublicKeyInfo of `pkey`.
Result<Bytes> spki_of(EVP_PKEY* pkey);

}  // namespace kp::crypto::detail
