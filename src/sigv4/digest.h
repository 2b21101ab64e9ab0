// File: sigv4/digest.h
// SHA-256 and HMAC-SHA256 for SigV4 on OpenSSL's SHA-256 (the low-level
// SHA256_* functions; digest.cc says why not EVP). Hashing on the request
// path performs no allocation; HMAC keeps its keyed state per thread for the
// last key used. Internal helper of the sigv4 module (also used by its
// tests); pure, no Asio.
//
// An OpenSSL failure while hashing valid in-memory input cannot be caused by
// a request; it means the crypto library is broken. Following the project's
// error policy for "cannot happen after initialisation" states, these
// functions then terminate the process rather than return a wrong digest
// (a zero HMAC would make forged signatures verify).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace kp::sigv4::detail {

inline constexpr std::size_t kSha256Size = 32;
using Digest = std::array<std::uint8_t, kSha256Size>;

Digest sha256(ByteView data);
Digest hmac_sha256(ByteView key, ByteView data);

/// The 64 lower-case hex characters of a digest, on the stack.
struct HexDigest {
  explicit HexDigest(const Digest& d) noexcept;
  std::string_view view() const noexcept { return {chars, sizeof chars}; }
  char chars[2 * kSha256Size];
};

/// Appends the 64 lower-case hex characters of `d` to `out`.
void append_hex(const Digest& d, std::string& out);

}  // namespace kp::sigv4::detail
