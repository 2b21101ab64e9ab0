// File: crypto/ber_reader.h
// A small, bounded reader for ASN.1 BER (X.690) as used by CMS: definite and
// indefinite lengths, low tag numbers only. It never allocates, never reads
// past its input, limits nesting depth, and reports errors with the byte
// offset. Used by cms.cc to parse CiphertextForRecipient; fuzzable on its own.
// Pure: no OpenSSL, no Asio.
//
//   ber::Reader r(input);
//   auto seq = r.next();              // one element (TLV)
//   ber::Reader inner = r.enter(*seq); // iterate its children
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/bytes.h"
#include "base/result.h"

namespace kp::crypto::ber {

/// Maximum nesting of constructed elements (CMS as KMS emits it uses 11).
inline constexpr unsigned kMaxDepth = 24;

// Identifier octets used by CMS (class | constructed | number).
inline constexpr std::uint8_t kInteger = 0x02;
inline constexpr std::uint8_t kOctetString = 0x04;
inline constexpr std::uint8_t kNull = 0x05;
inline constexpr std::uint8_t kOid = 0x06;
inline constexpr std::uint8_t kSequence = 0x30;
inline constexpr std::uint8_t kSet = 0x31;
inline constexpr std::uint8_t kConstructedBit = 0x20;
/// [n] context-specific, primitive / constructed.
constexpr std::uint8_t context(unsigned n) { return static_cast<std::uint8_t>(0x80 | n); }
constexpr std::uint8_t context_constructed(unsigned n) { return static_cast<std::uint8_t>(0xa0 | n); }

struct Element {
  std::uint8_t tag = 0;       // the identifier octet
  bool indefinite = false;    // encoded with length octet 0x80
  std::size_t offset = 0;     // of the identifier octet, from the start of the whole input
  ByteView content;           // content octets (indefinite: without the end-of-contents octets)

  bool constructed() const noexcept { return (tag & kConstructedBit) != 0; }
};

class Reader {
 public:
  /// Reads the top level of `input`; offsets in errors count from its start.
  explicit Reader(ByteView input) noexcept : Reader(input, input.data(), 0) {}

  /// True when every element of this level has been read.
  bool at_end() const noexcept { return pos_ == data_.size(); }

  /// Reads the next element of this level. Errors (Errc::kCmsInvalid) name
  /// the problem and its offset: truncation, bad length, indefinite length on
  /// a primitive, unexpected end-of-contents, nesting too deep, high tag numbers.
  Result<Element> next();

  /// A reader over the children of constructed element `e` (from next()).
  Reader enter(const Element& e) const noexcept { return Reader(e.content, origin_, depth_ + 1); }

  unsigned depth() const noexcept { return depth_; }
  /// Offset (from the start of the whole input) of the next unread byte.
  std::size_t offset() const noexcept {
    return static_cast<std::size_t>(data_.data() - origin_) + pos_;
  }

 private:
  Reader(ByteView data, const std::uint8_t* origin, unsigned depth) noexcept
      : data_(data), origin_(origin), depth_(depth) {}

  ByteView data_;
  const std::uint8_t* origin_;
  unsigned depth_;
  std::size_t pos_ = 0;
};

}  // namespace kp::crypto::ber
