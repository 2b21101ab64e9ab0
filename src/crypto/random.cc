#include "crypto/random.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

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

}  // namespace kp::crypto
