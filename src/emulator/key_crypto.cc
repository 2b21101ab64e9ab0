#include "emulator/key_crypto.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <climits>
#include <memory>
#include <string>
#include <string_view>

#include "base/openssl.h"

namespace kp::emulator {

namespace {

using PkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = CPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using CipherCtxPtr = CPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;

PkeyPtr parse_public(ByteView der) {
  if (der.size() > LONG_MAX) {
    return nullptr;
  }
  const unsigned char* p = der.data();
  PkeyPtr k(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (k && p != der.data() + der.size()) {
    return nullptr;  // trailing bytes
  }
  ERR_clear_error();
  return k;
}

PkeyPtr parse_private(ByteView der) {
  if (der.size() > LONG_MAX) {
    return nullptr;
  }
  const unsigned char* p = der.data();
  PkeyPtr k(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  return k;
}

const EVP_MD* md_of(OaepHash h) { return h == OaepHash::kSha1 ? EVP_sha1() : EVP_sha256(); }

bool set_oaep(EVP_PKEY_CTX* ctx, OaepHash h) {
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md_of(h)) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(h)) > 0;
}

int as_int(std::size_t n) { return n > INT_MAX ? -1 : static_cast<int>(n); }

// OpenSSL's one-shot operations of the shape (ctx, out, outlen, in, inlen):
// EVP_PKEY_encrypt, EVP_PKEY_sign.
using PkeyOneShot = int (*)(EVP_PKEY_CTX*, unsigned char*, std::size_t*, const unsigned char*, std::size_t);

// Runs `op` on a context that `prepared` says is initialised: the size query,
// then the operation. Errors: kInternal "emulator: <setup> failed: ..." or
// "emulator: <what> failed: ...".
Result<Bytes> run_one_shot(bool prepared, PkeyOneShot op, EVP_PKEY_CTX* ctx, ByteView in, std::string_view setup,
                           std::string_view what) {
  std::size_t len = 0;
  if (!prepared || op(ctx, nullptr, &len, in.data(), in.size()) <= 0) {
    return fail(Errc::kInternal, "emulator: " + std::string(setup) + " failed: " + take_openssl_error());
  }
  Bytes out(len);
  if (op(ctx, out.data(), &len, in.data(), in.size()) <= 0) {
    return fail(Errc::kInternal, "emulator: " + std::string(what) + " failed: " + take_openssl_error());
  }
  out.resize(len);
  return out;
}

}  // namespace

Result<Bytes> aes_gcm_seal(ByteView key, ByteView iv, ByteView aad, ByteView plaintext) {
  if (key.size() != 32 || iv.size() != kGcmIvBytes || as_int(plaintext.size()) < 0 || as_int(aad.size()) < 0) {
    return fail(Errc::kInternal, "emulator: AES-GCM seal: bad key/IV/input size");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes out(plaintext.size() + kGcmTagBytes);
  int len = 0;
  int fin = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), as_int(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes),
                          out.data() + plaintext.size()) != 1) {
    return fail(Errc::kInternal, "emulator: AES-GCM seal failed: " + take_openssl_error());
  }
  return out;
}

Result<SecretBytes> aes_gcm_open(ByteView key, ByteView iv, ByteView aad, ByteView sealed) {
  if (key.size() != 32 || iv.size() != kGcmIvBytes || sealed.size() < kGcmTagBytes ||
      as_int(sealed.size()) < 0 || as_int(aad.size()) < 0) {
    return fail(Errc::kInvalidCiphertext, "emulator: ciphertext too short");
  }
  const std::size_t n = sealed.size() - kGcmTagBytes;
  SecretBytes out(n);
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int fin = 0;
  // The tag is only read, but OpenSSL's ctrl takes a non-const pointer.
  Bytes tag(sealed.end() - static_cast<std::ptrdiff_t>(kGcmTagBytes), sealed.end());
  const bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) == 1 &&
      (aad.empty() || EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), as_int(aad.size())) == 1) &&
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), as_int(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &fin) == 1;
  ERR_clear_error();
  if (!ok) {
    return fail(Errc::kInvalidCiphertext, "emulator: ciphertext does not authenticate");
  }
  return out;
}

std::size_t rsa_oaep_max_plaintext(unsigned modulus_bits, OaepHash hash) noexcept {
  const std::size_t k = modulus_bits / 8;
  const std::size_t h = hash == OaepHash::kSha1 ? 20 : 32;
  return k > 2 * h + 2 ? k - 2 * h - 2 : 0;
}

Result<Bytes> rsa_oaep_encrypt(ByteView spki_der, OaepHash hash, ByteView plaintext) {
  PkeyPtr key = parse_public(spki_der);
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return fail(Errc::kInternal, "emulator: stored RSA public key does not parse");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  const bool prepared = ctx && EVP_PKEY_encrypt_init(ctx.get()) > 0 && set_oaep(ctx.get(), hash);
  return run_one_shot(prepared, EVP_PKEY_encrypt, ctx.get(), plaintext, "RSA-OAEP setup", "RSA-OAEP encryption");
}

Result<SecretBytes> rsa_oaep_decrypt(ByteView pkcs8_der, OaepHash hash, ByteView ciphertext) {
  PkeyPtr key = parse_private(pkcs8_der);
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return fail(Errc::kInternal, "emulator: stored RSA private key does not parse");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  std::size_t out_len = 0;
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 || !set_oaep(ctx.get(), hash) ||
      EVP_PKEY_decrypt(ctx.get(), nullptr, &out_len, ciphertext.data(), ciphertext.size()) <= 0) {
    ERR_clear_error();
    return fail(Errc::kInvalidCiphertext, "emulator: RSA ciphertext rejected");
  }
  SecretBytes out(out_len);
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &out_len, ciphertext.data(), ciphertext.size()) <= 0) {
    ERR_clear_error();
    return fail(Errc::kInvalidCiphertext, "emulator: RSA ciphertext does not decrypt");
  }
  out.truncate(out_len);
  return out;
}

std::optional<SigningAlgorithm> signing_algorithm_from_name(std::string_view name) {
  using S = SigningAlgorithm::Scheme;
  struct Entry {
    std::string_view name;
    S scheme;
    unsigned bytes;
  };
  static constexpr Entry kAll[] = {
      {"RSASSA_PSS_SHA_256", S::kRsaPss, 32},        {"RSASSA_PSS_SHA_384", S::kRsaPss, 48},
      {"RSASSA_PSS_SHA_512", S::kRsaPss, 64},        {"RSASSA_PKCS1_V1_5_SHA_256", S::kRsaPkcs1, 32},
      {"RSASSA_PKCS1_V1_5_SHA_384", S::kRsaPkcs1, 48}, {"RSASSA_PKCS1_V1_5_SHA_512", S::kRsaPkcs1, 64},
      {"ECDSA_SHA_256", S::kEcdsa, 32},              {"ECDSA_SHA_384", S::kEcdsa, 48},
      {"ECDSA_SHA_512", S::kEcdsa, 64},
  };
  for (const auto& e : kAll) {
    if (e.name == name) {
      return SigningAlgorithm{e.scheme, e.bytes};
    }
  }
  return std::nullopt;
}

namespace {

const EVP_MD* sha_of(unsigned digest_bytes) {
  return digest_bytes == 64 ? EVP_sha512() : digest_bytes == 48 ? EVP_sha384() : EVP_sha256();
}

// The signature parameters on a sign/verify context.
bool set_signature_params(EVP_PKEY_CTX* ctx, const SigningAlgorithm& alg) {
  const EVP_MD* md = sha_of(alg.digest_bytes);
  if (EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) {
    return false;
  }
  switch (alg.scheme) {
    case SigningAlgorithm::Scheme::kRsaPss:
      return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    case SigningAlgorithm::Scheme::kRsaPkcs1:
      return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
    case SigningAlgorithm::Scheme::kEcdsa:
      return true;
  }
  return false;
}

bool key_fits(const EVP_PKEY* key, const SigningAlgorithm& alg) {
  const int id = EVP_PKEY_base_id(key);
  return alg.scheme == SigningAlgorithm::Scheme::kEcdsa ? id == EVP_PKEY_EC : id == EVP_PKEY_RSA;
}

}  // namespace

Bytes message_digest(unsigned digest_bytes, ByteView message) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(message.data(), message.size(), out.data(), &len, sha_of(digest_bytes), nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  out.resize(len);
  return out;
}

Result<Bytes> sign_digest(ByteView pkcs8_der, const SigningAlgorithm& alg, ByteView digest) {
  PkeyPtr key = parse_private(pkcs8_der);
  if (!key || !key_fits(key.get(), alg) || digest.size() != alg.digest_bytes) {
    return fail(Errc::kInternal, "emulator: stored signing key does not fit the algorithm");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  const bool prepared = ctx && EVP_PKEY_sign_init(ctx.get()) > 0 && set_signature_params(ctx.get(), alg);
  return run_one_shot(prepared, EVP_PKEY_sign, ctx.get(), digest, "signing setup", "signing");
}

Result<bool> verify_digest(ByteView spki_der, const SigningAlgorithm& alg, ByteView digest, ByteView signature) {
  PkeyPtr key = parse_public(spki_der);
  if (!key || !key_fits(key.get(), alg) || digest.size() != alg.digest_bytes) {
    return fail(Errc::kInternal, "emulator: stored verification key does not fit the algorithm");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0 || !set_signature_params(ctx.get(), alg)) {
    return fail(Errc::kInternal, "emulator: verification setup failed: " + take_openssl_error());
  }
  const int ok = EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.data(), digest.size());
  ERR_clear_error();  // a bad signature (or one that is not DER) leaves errors behind
  return ok == 1;
}

Result<SpkiInfo> inspect_spki(ByteView der) {
  PkeyPtr key = parse_public(der);
  if (!key) {
    return fail(Errc::kValidation, "not a DER SubjectPublicKeyInfo");
  }
  SpkiInfo info;
  info.bits = static_cast<unsigned>(EVP_PKEY_get_bits(key.get()));
  const int id = EVP_PKEY_base_id(key.get());
  if (id == EVP_PKEY_RSA) {
    info.kind = SpkiInfo::Kind::kRsa;
  } else if (id == EVP_PKEY_EC) {
    info.kind = SpkiInfo::Kind::kEc;
    char name[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) == 1) {
      const std::string g(name, len);
      if (g == "prime256v1" || g == "P-256") {
        info.curve = "P-256";
      } else if (g == "secp384r1" || g == "P-384") {
        info.curve = "P-384";
      } else if (g == "secp521r1" || g == "P-521") {
        info.curve = "P-521";
      } else {
        info.curve = g;
      }
    }
  }
  ERR_clear_error();
  return info;
}

}  // namespace kp::emulator
