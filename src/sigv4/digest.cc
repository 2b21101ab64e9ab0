#include "sigv4/digest.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace kp::sigv4::detail {

namespace {

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "kp::sigv4: fatal OpenSSL failure: %s\n", what);
  std::abort();
}

// Fetched once per process, intentionally never freed (they must outlive
// every thread's contexts, and OpenSSL releases them at exit).
const EVP_MD* sha256_md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) {
      fatal("EVP_MD_fetch(SHA256)");
    }
    return m;
  }();
  return md;
}

EVP_MAC* hmac_alg() {
  static EVP_MAC* const mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) {
      fatal("EVP_MAC_fetch(HMAC)");
    }
    return m;
  }();
  return mac;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};

EVP_MD_CTX* thread_md_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx{EVP_MD_CTX_new()};
  if (!ctx) {
    fatal("EVP_MD_CTX_new");
  }
  return ctx.get();
}

// One HMAC context per thread with the digest parameter set once; each call
// only re-keys it (EVP_MAC_init with a key), which does not re-fetch SHA-256.
EVP_MAC_CTX* thread_mac_ctx() {
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx{[] {
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(hmac_alg());
    if (c == nullptr) {
      fatal("EVP_MAC_CTX_new");
    }
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(c, params) != 1) {
      fatal("EVP_MAC_CTX_set_params(digest=SHA256)");
    }
    return c;
  }()};
  return ctx.get();
}

}  // namespace

Digest sha256(ByteView data) {
  EVP_MD_CTX* ctx = thread_md_ctx();
  Digest out{};
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != kSha256Size) {
    fatal("SHA-256");
  }
  return out;
}

namespace {

// The key the thread's HMAC context was last keyed with. SigV4 signs every
// request with the same cached signing key, so re-keying (two SHA-256
// compressions and three digest set-ups) is skipped when the key is unchanged:
// EVP_MAC_init with a NULL key restarts from the context's keyed state. The
// copy is compared in constant time and wiped when the thread exits (the
// context itself holds the keyed state either way).
struct LastHmacKey {
  std::array<std::uint8_t, 64> bytes{};
  std::size_t size = 0;
  bool valid = false;
  ~LastHmacKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
  bool same(ByteView key) const noexcept {
    return valid && key.size() == size && CRYPTO_memcmp(bytes.data(), key.data(), size) == 0;
  }
  void remember(ByteView key) noexcept {
    valid = key.size() <= bytes.size();
    if (valid) {
      std::copy(key.begin(), key.end(), bytes.begin());
      size = key.size();
    }
  }
};

}  // namespace

Digest hmac_sha256(ByteView key, ByteView data) {
  EVP_MAC_CTX* ctx = thread_mac_ctx();
  thread_local LastHmacKey last;
  Digest out{};
  std::size_t len = 0;
  int init = 0;
  if (!key.empty() && last.same(key)) {
    init = EVP_MAC_init(ctx, nullptr, 0, nullptr);
  } else {
    // OpenSSL rejects a NULL key pointer even with length 0; HMAC allows an
    // empty key, so hand it a valid empty buffer.
    static const std::uint8_t kEmpty[1] = {0};
    const std::uint8_t* k = key.empty() ? kEmpty : key.data();
    last.valid = false;
    init = EVP_MAC_init(ctx, k, key.size(), nullptr);
    if (init == 1 && !key.empty()) {
      last.remember(key);
    }
  }
  if (init != 1 || EVP_MAC_update(ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != kSha256Size) {
    fatal("HMAC-SHA256");
  }
  return out;
}

HexDigest::HexDigest(const Digest& d) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < d.size(); ++i) {
    chars[2 * i] = kHex[d[i] >> 4];
    chars[2 * i + 1] = kHex[d[i] & 0xf];
  }
}

void append_hex(const Digest& d, std::string& out) { out += HexDigest(d).view(); }

}  // namespace kp::sigv4::detail
