#include "crypto/ec.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <array>
#include <string>

#include "crypto/openssl_util.h"

namespace kp::crypto {

using detail::PkeyCtxPtr;
using detail::PkeyPtr;

namespace {

struct SpecRow {
  KeyPairSpec spec;
  std::string_view name;
  const char* curve;  // nullptr for RSA
  unsigned rsa_bits;
};

constexpr std::array<SpecRow, 7> kSpecs{{
    {KeyPairSpec::kEccNistP256, "ECC_NIST_P256", "P-256", 0},
    {KeyPairSpec::kEccNistP384, "ECC_NIST_P384", "P-384", 0},
    {KeyPairSpec::kEccNistP521, "ECC_NIST_P521", "P-521", 0},
    {KeyPairSpec::kEccSecgP256k1, "ECC_SECG_P256K1", "secp256k1", 0},
    {KeyPairSpec::kRsa2048, "RSA_2048", nullptr, 2048},
    {KeyPairSpec::kRsa3072, "RSA_3072", nullptr, 3072},
    {KeyPairSpec::kRsa4096, "RSA_4096", nullptr, 4096},
}};

const SpecRow& row(KeyPairSpec spec) {
  for (const auto& r : kSpecs) {
    if (r.spec == spec) {
      return r;
    }
  }
  return kSpecs[0];
}

Result<SecretBytes> pkcs8_of(EVP_PKEY* pkey) {
  CPtr<OSSL_ENCODER_CTX, OSSL_ENCODER_CTX_free> enc(
      OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "DER", "PrivateKeyInfo", nullptr));
  unsigned char* data = nullptr;
  std::size_t len = 0;
  if (!enc || OSSL_ENCODER_to_data(enc.get(), &data, &len) != 1 || data == nullptr) {
    return fail(Errc::kInternal, "key pair: cannot encode PKCS#8 (" + detail::take_openssl_error() + ")");
  }
  SecretBytes out = SecretBytes::copy_of(ByteView(data, len));
  OPENSSL_clear_free(data, len);
  return out;
}

std::string group_name(EVP_PKEY* pkey) {
  char name[64] = {0};
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(pkey, name, sizeof name, &len) != 1) {
    ERR_clear_error();
    return "unknown curve";
  }
  return std::string(name, len);
}

}  // namespace

std::string_view key_pair_spec_name(KeyPairSpec spec) noexcept { return row(spec).name; }

std::optional<KeyPairSpec> key_pair_spec_from_name(std::string_view name) noexcept {
  for (const auto& r : kSpecs) {
    if (r.name == name) {
      return r.spec;
    }
  }
  return std::nullopt;
}

bool is_ecc(KeyPairSpec spec) noexcept { return row(spec).curve != nullptr; }

Result<KeyPairDer> generate_key_pair(KeyPairSpec spec) {
  const SpecRow& r = row(spec);
  PkeyPtr pkey(r.curve != nullptr ? EVP_EC_gen(r.curve) : EVP_RSA_gen(r.rsa_bits));
  if (!pkey) {
    return fail(Errc::kInternal, "key pair: generating " + std::string(r.name) + " failed (" +
                                     detail::take_openssl_error() + ")");
  }
  auto spki = detail::spki_of(pkey.get());
  if (!spki) {
    return spki.error();
  }
  auto pkcs8 = pkcs8_of(pkey.get());
  if (!pkcs8) {
    return pkcs8.error();
  }
  return KeyPairDer{std::move(*spki), std::move(*pkcs8)};
}

Result<Bytes> public_key_of(ByteView private_key_pkcs8) {
  auto pkey = detail::parse_pkcs8(private_key_pkcs8, Errc::kValidation, "private key");
  if (!pkey) {
    return pkey.error();
  }
  return detail::spki_of(pkey->get());
}

Result<SecretBytes> ecdh_derive(ByteView private_key_pkcs8, ByteView peer_public_key_spki) {
  auto ours = detail::parse_pkcs8(private_key_pkcs8, Errc::kValidation, "ECDH private key");
  if (!ours) {
    return ours.error();
  }
  auto peer = detail::parse_spki(peer_public_key_spki, Errc::kValidation, "ECDH peer public key");
  if (!peer) {
    return peer.error();
  }
  if (EVP_PKEY_is_a(ours->get(), "EC") != 1) {
    return fail(Errc::kValidation, "ECDH: our key is not an EC key");
  }
  if (EVP_PKEY_is_a(peer->get(), "EC") != 1) {
    return fail(Errc::kValidation, "ECDH: the peer public key is not an EC key");
  }
  const std::string our_curve = group_name(ours->get());
  const std::string peer_curve = group_name(peer->get());
  if (our_curve != peer_curve) {
    return fail(Errc::kValidation, "ECDH: the peer public key is on " + peer_curve + ", the key pair on " + our_curve);
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ours->get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return fail(Errc::kInternal, "ECDH: cannot set up derivation (" + detail::take_openssl_error() + ")");
  }
  // validate_peer = 1: full public-key check of the peer point.
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer->get(), 1) != 1) {
    return fail(Errc::kValidation, "ECDH: invalid peer public key (" + detail::take_openssl_error() + ")");
  }
  std::size_t len = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1 || len == 0) {
    return fail(Errc::kInternal, "ECDH: derivation failed (" + detail::take_openssl_error() + ")");
  }
  SecretBytes secret(len);
  if (EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1) {
    return fail(Errc::kInternal, "ECDH: derivation failed (" + detail::take_openssl_error() + ")");
  }
  secret.truncate(len);
  return secret;
}

}  // namespace kp::crypto
