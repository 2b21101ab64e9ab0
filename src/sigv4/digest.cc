#include "sigv4/digest.h"

#include "sigv4/payload_hash.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, and
// used here on purpose: EVP_DigestInit allocates a provider context on every
// call, and EVP HMAC copies two digest contexts (two more allocations) per
// message. SigV4 hashes twice and MACs once per request, so that was four
// allocation/free pairs and a provider dispatch per step. The low-level
// functions run the same SHA-256 code (SHA-NI where the CPU has it) on a
// plain struct that can be copied, which also makes HMAC's keyed state a
// struct copy and PrefixedSha256's resume a copy of the state after its
// prefix (sigv4/payload_hash.h). They remain part of OpenSSL 3's API.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/secret.h"

namespace kp::sigv4::detail {

namespace {

// See digest.h: a failure here means the crypto library is broken.
void check(int openssl_result, const char* what) {
  if (openssl_result != 1) {
    std::fprintf(stderr, "kp::sigv4: fatal OpenSSL failure: %s\n", what);
    std::abort();
  }
}

}  // namespace

Digest sha256(ByteView data) {
  SHA256_CTX c;
  check(SHA256_Init(&c), "SHA256_Init");
  check(SHA256_Update(&c, data.data(), data.size()), "SHA256_Update");
  Digest out{};
  check(SHA256_Final(out.data(), &c), "SHA256_Final");
  return out;
}

namespace {

constexpr std::size_t kBlock = 64;  // SHA-256 block size (HMAC's B)

// HMAC-SHA256 (RFC 2104) keyed state: SHA-256 after absorbing K^ipad and
// after absorbing K^opad. SigV4 signs every request with the same cached
// signing key, so the state is kept per thread with the key it was made
// from (compared in constant time) and rebuilt only when the key changes.
// Both are wiped when the thread exits.
struct HmacKeyState {
  SHA256_CTX inner{};
  SHA256_CTX outer{};
  std::array<std::uint8_t, kBlock> key{};
  std::size_t key_size = 0;
  bool valid = false;

  ~HmacKeyState() { kp::secure_wipe(this, sizeof(*this)); }

  bool same(ByteView k) const noexcept {
    return valid && k.size() == key_size && CRYPTO_memcmp(key.data(), k.data(), key_size) == 0;
  }

  void rekey(ByteView k) noexcept {
    std::array<std::uint8_t, kBlock> k0{};
    if (k.size() > kBlock) {
      const Digest d = sha256(k);
      std::copy(d.begin(), d.end(), k0.begin());
    } else {
      std::copy(k.begin(), k.end(), k0.begin());
    }
    std::array<std::uint8_t, kBlock> pad{};
    for (std::size_t i = 0; i < kBlock; ++i) {
      pad[i] = static_cast<std::uint8_t>(k0[i] ^ 0x36);
    }
    check(SHA256_Init(&inner), "SHA256_Init");
    check(SHA256_Update(&inner, pad.data(), pad.size()), "SHA256_Update");
    for (std::size_t i = 0; i < kBlock; ++i) {
      pad[i] = static_cast<std::uint8_t>(k0[i] ^ 0x5c);
    }
    check(SHA256_Init(&outer), "SHA256_Init");
    check(SHA256_Update(&outer, pad.data(), pad.size()), "SHA256_Update");
    kp::secure_wipe(pad.data(), pad.size());
    kp::secure_wipe(k0.data(), k0.size());
    valid = k.size() <= key.size();  // longer keys are hashed, not remembered
    if (valid) {
      std::copy(k.begin(), k.end(), key.begin());
      key_size = k.size();
    }
  }
};

}  // namespace

Digest hmac_sha256(ByteView key, ByteView data) {
  thread_local HmacKeyState st;
  if (!st.same(key)) {
    st.rekey(key);
  }
  SHA256_CTX c = st.inner;
  check(SHA256_Update(&c, data.data(), data.size()), "SHA256_Update");
  std::uint8_t inner_hash[kSha256Size];
  check(SHA256_Final(inner_hash, &c), "SHA256_Final");
  c = st.outer;
  check(SHA256_Update(&c, inner_hash, sizeof inner_hash), "SHA256_Update");
  Digest out{};
  check(SHA256_Final(out.data(), &c), "SHA256_Final");
  kp::secure_wipe(inner_hash, sizeof inner_hash);
  kp::secure_wipe(&c, sizeof c);
  return out;
}

namespace {
// "000102...ff": the two hex digits of every byte value, one lookup per byte.
constexpr std::array<char, 512> make_hex_pairs() {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (std::size_t v = 0; v < 256; ++v) {
    t[2 * v] = kHex[v >> 4];
    t[2 * v + 1] = kHex[v & 0xf];
  }
  return t;
}
constexpr std::array<char, 512> kHexPairs = make_hex_pairs();
}  // namespace

HexDigest::HexDigest(const Digest& d) noexcept {
  for (std::size_t i = 0; i < d.size(); ++i) {
    std::memcpy(chars + 2 * i, kHexPairs.data() + 2 * static_cast<std::size_t>(d[i]), 2);
  }
}

void append_hex(const Digest& d, std::string& out) { out += HexDigest(d).view(); }

}  // namespace kp::sigv4::detail

namespace kp::sigv4 {

struct PrefixedSha256::State {
  SHA256_CTX ctx{};
};

PrefixedSha256::PrefixedSha256(std::string_view prefix) : prefix_(prefix), state_(std::make_unique<State>()) {
  detail::check(SHA256_Init(&state_->ctx), "SHA256_Init");
  detail::check(SHA256_Update(&state_->ctx, prefix_.data(), prefix_.size()), "SHA256_Update");
}

PrefixedSha256::~PrefixedSha256() = default;
PrefixedSha256::PrefixedSha256(PrefixedSha256&&) noexcept = default;
PrefixedSha256& PrefixedSha256::operator=(PrefixedSha256&&) noexcept = default;

std::optional<PayloadHash> PrefixedSha256::hash(std::string_view body) const {
  if (!state_ || !body.starts_with(prefix_)) {
    return std::nullopt;
  }
  SHA256_CTX c = state_->ctx;
  const std::string_view rest = body.substr(prefix_.size());
  detail::check(SHA256_Update(&c, rest.data(), rest.size()), "SHA256_Update");
  PayloadHash out{};
  detail::check(SHA256_Final(out.data(), &c), "SHA256_Final");
  return out;
}

}  // namespace kp::sigv4
