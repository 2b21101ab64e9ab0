// File: base/encoding.h
// Strict hex and base64 (RFC 4648, standard alphabet, padded) codecs, and the
// check for a plain decimal number.
// Decoders reject anything malformed (bad characters, wrong padding, non-zero
// trailing bits) instead of guessing. Secret-aware overloads decode straight
// into SecretBytes so plaintext never sits in an ordinary buffer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/secret.h"

namespace kp {

std::string hex_encode(ByteView in);          // lower-case
std::optional<Bytes> hex_decode(std::string_view in);  // accepts either case

std::size_t base64_encoded_size(std::size_t n) noexcept;
std::string base64_encode(ByteView in);
/// Appends the encoding of `in` to `out` (no intermediate allocation).
void base64_encode_append(ByteView in, std::string& out);
std::optional<Bytes> base64_decode(std::string_view in);
std::optional<SecretBytes> base64_decode_secret(std::string_view in);

/// Non-empty and ASCII digits only ("042"; not "", "+1", "1,2", " 1").
bool is_decimal_digits(std::string_view s) noexcept;

}  // namespace kp
