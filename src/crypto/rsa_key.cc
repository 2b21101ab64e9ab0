#include "crypto/rsa_key.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "crypto/digest.h"
#include "crypto/openssl_util.h"
#include "crypto/rsa_keygen.h"

namespace kp::crypto {

using detail::PkeyCtxPtr;
using detail::PkeyPtr;

namespace {

constexpr unsigned kMinBits = 2048;
constexpr unsigned kMaxBits = 4096;
// Prepared decrypt contexts kept for reuse; more than the number of threads
// decrypting at once is never useful.
constexpr std::size_t kMaxPooledContexts = 8;

// Never prompt for a passphrase (OpenSSL's default would read the terminal).
int no_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

struct RsaKeyPair::Impl {
  PkeyPtr pkey;
  Bytes spki;
  std::array<std::uint8_t, 32> spki_digest{};
  unsigned bits = 0;
  std::size_t modulus_bytes = 0;
  mutable std::atomic<std::uint64_t> private_ops{0};

  // Pool of decrypt contexts already set up for OAEP/SHA-256: setting up a
  // context costs a provider lookup and parameter plumbing per request.
  mutable std::mutex pool_mu;
  mutable std::vector<PkeyCtxPtr> pool;

  PkeyCtxPtr acquire() const {
    {
      std::lock_guard lock(pool_mu);
      if (!pool.empty()) {
        PkeyCtxPtr c = std::move(pool.back());
        pool.pop_back();
        return c;
      }
    }
    PkeyCtxPtr c(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!c || EVP_PKEY_decrypt_init(c.get()) != 1 || !detail::set_rsa_oaep_sha256(c.get())) {
      ERR_clear_error();
      return nullptr;
    }
    return c;
  }

  void release(PkeyCtxPtr c) const {
    std::lock_guard lock(pool_mu);
    if (pool.size() < kMaxPooledContexts) {
      pool.push_back(std::move(c));
    }
  }
};

RsaKeyPair::RsaKeyPair(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
RsaKeyPair::RsaKeyPair(RsaKeyPair&&) noexcept = default;
RsaKeyPair& RsaKeyPair::operator=(RsaKeyPair&&) noexcept = default;
RsaKeyPair::~RsaKeyPair() = default;

namespace {

Result<std::unique_ptr<RsaKeyPair::Impl>> make_impl(PkeyPtr pkey, std::string_view origin) {
  if (EVP_PKEY_is_a(pkey.get(), "RSA") != 1) {
    return fail(Errc::kValidation, std::string(origin) + ": not an RSA (rsaEncryption) key");
  }
  const int bits = EVP_PKEY_get_bits(pkey.get());
  if (bits < static_cast<int>(kMinBits) || bits > static_cast<int>(kMaxBits)) {
    return fail(Errc::kValidation, std::string(origin) + ": RSA key has " + std::to_string(bits) +
                                       " bits; supported are 2048..4096");
  }
  auto impl = std::make_unique<RsaKeyPair::Impl>();
  auto spki = detail::spki_of(pkey.get());
  if (!spki) {
    return spki.error();
  }
  impl->spki = std::move(*spki);
  impl->spki_digest = sha256(impl->spki);
  impl->bits = static_cast<unsigned>(bits);
  impl->modulus_bytes = static_cast<std::size_t>(EVP_PKEY_get_size(pkey.get()));
  impl->pkey = std::move(pkey);
  return impl;
}

}  // namespace

Result<RsaKeyPair> RsaKeyPair::generate(unsigned bits) {
  if (bits < kMinBits || bits > kMaxBits || bits % 8 != 0) {
    return fail(Errc::kValidation, "RSA key generation: " + std::to_string(bits) +
                                       " bits is not supported (2048..4096, multiple of 8)");
  }
  // e = 65537; the prime search runs on up to two threads (startup time is
  // dominated by it, see rsa_keygen.cc).
  const unsigned threads = std::clamp(std::thread::hardware_concurrency(), 1u, 2u);
  auto pkey = detail::generate_rsa_parallel(bits, threads);
  if (!pkey) {
    return pkey.error();
  }
  auto impl = make_impl(std::move(*pkey), "RSA key generation");
  if (!impl) {
    return impl.error();
  }
  return RsaKeyPair(std::move(*impl));
}

Result<RsaKeyPair> RsaKeyPair::from_pem(std::string_view pem) {
  if (pem.empty() || pem.size() > INT_MAX) {
    return fail(Errc::kValidation, "RSA private key PEM: empty or too large");
  }
  detail::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return fail(Errc::kInternal, "RSA private key PEM: out of memory");
  }
  // Handles "PRIVATE KEY" (PKCS#8) and "RSA PRIVATE KEY" (PKCS#1).
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!pkey) {
    return fail(Errc::kValidation, "RSA private key PEM: cannot parse an unencrypted private key (" +
                                       detail::take_openssl_error() + ")");
  }
  auto impl = make_impl(std::move(pkey), "RSA private key PEM");
  if (!impl) {
    return impl.error();
  }
  return RsaKeyPair(std::move(*impl));
}

const Bytes& RsaKeyPair::spki_der() const noexcept {
  static const Bytes kEmpty;
  return impl_ ? impl_->spki : kEmpty;
}

const std::array<std::uint8_t, 32>& RsaKeyPair::spki_sha256() const noexcept {
  static const std::array<std::uint8_t, 32> kZero{};
  return impl_ ? impl_->spki_digest : kZero;
}

unsigned RsaKeyPair::bits() const noexcept { return impl_ ? impl_->bits : 0; }

std::uint64_t RsaKeyPair::private_operations() const noexcept {
  return impl_ ? impl_->private_ops.load(std::memory_order_relaxed) : 0;
}

Result<SecretBytes> RsaKeyPair::decrypt_oaep_sha256(ByteView ciphertext) const {
  if (!impl_) {
    return fail(Errc::kInternal, "RSA key: used after move");
  }
  impl_->private_ops.fetch_add(1, std::memory_order_relaxed);
  if (ciphertext.size() != impl_->modulus_bytes) {
    return fail(Errc::kCmsDecryptFailed, "RSA-OAEP: ciphertext is " + std::to_string(ciphertext.size()) +
                                             " bytes but the key's modulus is " +
                                             std::to_string(impl_->modulus_bytes) + " bytes");
  }
  PkeyCtxPtr ctx = impl_->acquire();
  if (!ctx) {
    return fail(Errc::kInternal, "RSA-OAEP: cannot set up a decryption context");
  }
  SecretBytes out(impl_->modulus_bytes);
  std::size_t out_len = out.size();
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &out_len, ciphertext.data(), ciphertext.size()) != 1) {
    // Do not distinguish OAEP failure causes (Manger-style oracles).
    ERR_clear_error();
    return fail(Errc::kCmsDecryptFailed,
                "RSA-OAEP (SHA-256/MGF1-SHA-256) decryption failed: wrong key or corrupted ciphertext");
  }
  out.truncate(out_len);
  impl_->release(std::move(ctx));
  return out;
}

}  // namespace kp::crypto
