#include "crypto/openssl_util.h"

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdlib>

namespace kp::crypto::detail {

const EVP_CIPHER* aes_256_cbc() {
  // Fetched once; intentionally never freed (process lifetime, like the
  // built-in provider tables).
  static const EVP_CIPHER* const cipher = [] {
    const EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
    return c != nullptr ? c : EVP_aes_256_cbc();
  }();
  return cipher;
}

bool set_rsa_oaep_sha256(EVP_PKEY_CTX* ctx) {
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx, sha256_md()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, sha256_md()) == 1;
}

Result<Bytes> rsa_oaep_sha256_encrypt(EVP_PKEY* pkey, ByteView plaintext, std::string_view what) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 || !set_rsa_oaep_sha256(ctx.get())) {
    return fail(Errc::kInternal, std::string(what) + ": cannot set up RSA-OAEP (" + take_openssl_error() + ")");
  }
  Bytes out(static_cast<std::size_t>(EVP_PKEY_get_size(pkey)));
  std::size_t out_len = out.size();
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &out_len, plaintext.data(), plaintext.size()) != 1) {
    return fail(Errc::kInternal, std::string(what) + ": RSA-OAEP encryption failed (" + take_openssl_error() + ")");
  }
  out.resize(out_len);
  return out;
}

const EVP_MD* sha256_md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return m != nullptr ? m : EVP_sha256();
  }();
  return md;
}

Result<PkeyPtr> parse_spki(ByteView der, Errc code, std::string_view what) {
  if (der.empty() || der.size() > 16384) {
    return fail(code, std::string(what) + ": not a DER SubjectPublicKeyInfo (size " +
                          std::to_string(der.size()) + ")");
  }
  const unsigned char* p = der.data();
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key) {
    return fail(code, std::string(what) + ": not a DER SubjectPublicKeyInfo (" + take_openssl_error() + ")");
  }
  if (p != der.data() + der.size()) {
    return fail(code, std::string(what) + ": trailing bytes after the SubjectPublicKeyInfo");
  }
  return key;
}

Result<PkeyPtr> parse_pkcs8(ByteView der, Errc code, std::string_view what) {
  if (der.empty() || der.size() > 16384) {
    return fail(code, std::string(what) + ": not a DER PKCS#8 private key");
  }
  const unsigned char* p = der.data();
  PKCS8_PRIV_KEY_INFO* info = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size()));
  if (info == nullptr) {
    ERR_clear_error();
    return fail(code, std::string(what) + ": not a DER PKCS#8 private key");
  }
  const bool whole = p == der.data() + der.size();
  PkeyPtr key(EVP_PKCS82PKEY(info));
  PKCS8_PRIV_KEY_INFO_free(info);
  if (!whole || !key) {
    ERR_clear_error();
    return fail(code, std::string(what) + ": not a DER PKCS#8 private key");
  }
  return key;
}

Result<Bytes> spki_of(EVP_PKEY* pkey) {
  const int n = i2d_PUBKEY(pkey, nullptr);
  if (n <= 0) {
    return fail(Errc::kInternal, "crypto: cannot encode SubjectPublicKeyInfo (" + take_openssl_error() + ")");
  }
  Bytes out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  if (i2d_PUBKEY(pkey, &p) != n) {
    return fail(Errc::kInternal, "crypto: cannot encode SubjectPublicKeyInfo (" + take_openssl_error() + ")");
  }
  return out;
}

}  // namespace kp::crypto::detail
