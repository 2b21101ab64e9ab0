// File: cbor/decoder.h
//
// A strict, bounded CBOR decoder (RFC 8949) for untrusted input (NSM
// responses, attestation documents from the network). Unlike general-purpose
// libraries it never allocates from a declared length: every string, array
// and map length is checked against the bytes actually remaining before any
// memory is reserved, and depth, item count, string size and container size
// are capped by Limits. A 6-byte input cannot make it allocate gigabytes.
//
//   auto item = kp::cbor::decode(bytes);          // Result<Item>
//   if (!item) return item.error();               // Errc::kMalformedRequest
//   const Item* id = item->find("module_id");
//
// Accepts definite and indefinite lengths, tags, full 64-bit integers,
// false/true/null/undefined/other simple values and half/single/double floats.
// Rejects: trailing bytes, reserved additional info (28..30), a break outside
// an indefinite-length item, indefinite strings with chunks of another type or
// nested indefinite chunks, invalid UTF-8 in text strings, two-byte simple
// values below 32, and duplicate map keys.
// Depends on base/ only; no Asio, no OpenSSL.
#pragma once

#include <cstddef>

#include "base/bytes.h"
#include "base/result.h"
#include "cbor/item.h"

namespace kp::cbor {

struct Limits {
  /// Maximum nesting of arrays, maps and tags (the top-level container is 1).
  std::size_t max_depth = 16;
  /// Maximum number of data items in the whole input (string chunks count).
  std::size_t max_items = 4096;
  /// Maximum length of one byte/text string (sum of chunks if indefinite).
  std::size_t max_string_bytes = 1u << 20;
  /// Maximum number of elements of one array or entries of one map.
  std::size_t max_entries = 4096;
};

/// Decodes exactly one data item that spans all of `input`.
/// Errors: Errc::kMalformedRequest, message "cbor: <reason> at offset <n>".
Result<Item> decode(ByteView input, const Limits& limits = {});

/// Decodes one data item at the start of `input` and reports how many bytes it
/// used (trailing bytes allowed). Same limits and errors as decode().
struct Prefix {
  Item item;
  std::size_t consumed = 0;
};
Result<Prefix> decode_prefix(ByteView input, const Limits& limits = {});

/// The bytes of `item` exactly as received, given the `input` it was decoded
/// from (e.g. a COSE protected header bstr including its head). Empty if the
/// item was not decoded from `input`.
ByteView raw_bytes(ByteView input, const Item& item) noexcept;

/// For a definite-length byte string item decoded from `input`: the content
/// bytes as received (without the head). Empty for any other item.
ByteView raw_bstr_content(ByteView input, const Item& item) noexcept;

}  // namespace kp::cbor
