// File: cbor/writer.h
//
// A streaming CBOR encoder producing canonical (RFC 8949 section 4.2.1
// "preferred", definite-length, shortest-argument) encodings. The caller is
// responsible for writing exactly as many items as the array/map headers
// announce; the writer does not track structure.
//
//   kp::cbor::Writer w;
//   w.map_header(1).tstr("Attestation").map_header(3) ... ;
//   kp::Bytes out = std::move(w).take();
//
// Depends on base/ only.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "cbor/item.h"

namespace kp::cbor {

class Writer {
 public:
  Writer() = default;
  explicit Writer(std::size_t reserve) { out_.reserve(reserve); }

  Writer& uint(std::uint64_t v);
  /// Any int64_t (negative values use major type 1).
  Writer& integer(std::int64_t v);
  /// Major type 1 with raw argument n (value -1 - n), for the full range.
  Writer& negative_raw(std::uint64_t n);
  Writer& bstr(ByteView v);
  Writer& tstr(std::string_view v);
  Writer& array_header(std::uint64_t n);
  Writer& map_header(std::uint64_t n);
  Writer& tag(std::uint64_t t);
  Writer& null();
  Writer& undefined();
  Writer& boolean(bool v);
  Writer& simple(std::uint8_t v);
  /// Shortest of half/single/double that represents `v` exactly (NaN as f97e00).
  Writer& floating(double v);
  /// Appends bytes that already are a CBOR encoding.
  Writer& raw(ByteView encoded);
  /// Encodes a whole item (tags, then value; containers with definite lengths).
  Writer& item(const Item& v);

  const Bytes& bytes() const noexcept { return out_; }
  Bytes take() && { return std::move(out_); }
  std::size_t size() const noexcept { return out_.size(); }

 private:
  void head(std::uint8_t major, std::uint64_t arg);
  Bytes out_;
};

/// Canonical encoding of `item` (see Writer::item).
Bytes encode(const Item& item);

}  // namespace kp::cbor
