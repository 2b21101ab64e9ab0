#include "crypto/random.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "base/encoding.h"

namespace kp::crypto {

bool random_fill(std::span<std::uint8_t> out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t chunk = std::min<std::size_t>(out.size() - done, INT_MAX);
    if (RAND_bytes(out.data() + done, static_cast<int>(chunk)) != 1) {
      ERR_clear_error();
      secure_wipe(out.data(), out.size());
      return false;
    }
    done += chunk;
  }
  return true;
}

Result<SecretBytes> try_random_bytes(std::size_t n) {
  SecretBytes s(n);
  if (!random_fill(s.mutable_view())) {
    return fail(Errc::kInternal, "crypto: random number generator failed (RAND_bytes)");
  }
  return s;
}

SecretBytes random_bytes(std::size_t n) {
  SecretBytes s(n);
  if (!random_fill(s.mutable_view())) {
    std::fputs("kms-proxy: fatal: RAND_bytes failed; refusing to continue without secure randomness\n",
               stderr);
    std::abort();
  }
  return s;
}

std::string random_uuid() {
  SecretBytes b = random_bytes(16);
  b.data()[6] = static_cast<std::uint8_t>((b.data()[6] & 0x0F) | 0x40);  // version 4
  b.data()[8] = static_cast<std::uint8_t>((b.data()[8] & 0x3F) | 0x80);  // RFC 4122 variant
  const std::string h = hex_encode(b.view());
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace kp::crypto
