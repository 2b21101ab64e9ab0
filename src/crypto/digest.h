// File: crypto/digest.h
// One-shot SHA-256 / SHA-384 (OpenSSL EVP underneath; no OpenSSL types here).
// Pure: no Asio, no I/O.
#pragma once

#include <array>
#include <cstdint>

#include "base/bytes.h"

namespace kp::crypto {

using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha384Digest = std::array<std::uint8_t, 48>;

Sha256Digest sha256(ByteView data);
Sha384Digest sha384(ByteView data);

}  // namespace kp::crypto
