// File: crypto/random.h
// Cryptographically secure random bytes from OpenSSL's DRBG (RAND_bytes).
// Fails closed: predictable bytes are never returned. Pure: no Asio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"
#include "base/secret.h"

namespace kp::crypto {

/// `n` random bytes. If the DRBG fails (it cannot be seeded, allocation
/// fails) the process aborts: continuing with weak randomness would be worse.
/// Use try_random_bytes() where the caller can report the error instead.
SecretBytes random_bytes(std::size_t n);

/// Like random_bytes() but reports DRBG failure as Errc::kInternal.
Result<SecretBytes> try_random_bytes(std::size_t n);

/// Fills `out` with random bytes; false (and `out` wiped) if the DRBG failed.
[[nodiscard]] bool random_fill(std::span<std::uint8_t> out) noexcept;

/// A random (version 4) UUID, lower-case: "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
std::string random_uuid();

}  // namespace kp::crypto
