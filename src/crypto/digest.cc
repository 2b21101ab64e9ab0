#include "crypto/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "crypto/openssl_util.h"

namespace kp::crypto {

namespace {

const EVP_MD* sha384_md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA384", nullptr);
    return m != nullptr ? m : EVP_sha384();
  }();
  return md;
}

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, ByteView data) {
  std::array<std::uint8_t, N> out{};
  unsigned int n = 0;
  // EVP_Digest only fails on allocation failure or a broken provider; a wrong
  // digest must never be returned, so fail closed.
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1 || n != N) {
    std::abort();
  }
  return out;
}

}  // namespace

Sha256Digest sha256(ByteView data) { return digest<32>(detail::sha256_md(), data); }
Sha384Digest sha384(ByteView data) { return digest<48>(sha384_md(), data); }

}  // namespace kp::crypto
