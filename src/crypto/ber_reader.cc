#include "crypto/ber_reader.h"

#include <string>

namespace kp::crypto::ber {

namespace {

struct Header {
  std::uint8_t tag = 0;
  bool indefinite = false;
  std::size_t header_len = 0;
  std::size_t length = 0;  // definite lengths only
};

Error ber_error(std::string what, std::size_t offset) {
  return Error(Errc::kCmsInvalid, "BER: " + what + " at offset " + std::to_string(offset));
}

// Reads identifier and length octets at data[pos]. `base` is the absolute
// offset of data[0] (for messages).
Result<Header> read_header(ByteView data, std::size_t pos, std::size_t base) {
  const std::size_t at = base + pos;
  if (pos >= data.size()) {
    return ber_error("truncated input: expected an element", at);
  }
  Header h;
  h.tag = data[pos];
  if ((h.tag & 0x1f) == 0x1f) {
    return ber_error("high-tag-number identifier (not used by CMS)", at);
  }
  if (pos + 1 >= data.size()) {
    return ber_error("truncated input: missing length octets", at);
  }
  const std::uint8_t l = data[pos + 1];
  if (l < 0x80) {
    h.length = l;
    h.header_len = 2;
  } else if (l == 0x80) {
    if ((h.tag & kConstructedBit) == 0) {
      return ber_error("indefinite length on a primitive element", at);
    }
    h.indefinite = true;
    h.header_len = 2;
  } else {
    const std::size_t n = l & 0x7f;
    if (n > 4) {  // 0xff is reserved; > 4 GiB is never legitimate here
      return ber_error("length field of " + std::to_string(n) + " octets is too large", at);
    }
    if (pos + 2 + n > data.size()) {
      return ber_error("truncated input: incomplete length octets", at);
    }
    std::size_t len = 0;
    for (std::size_t i = 0; i < n; ++i) {
      len = (len << 8) | data[pos + 2 + i];
    }
    h.length = len;
    h.header_len = 2 + n;
  }
  if (!h.indefinite && h.length > data.size() - pos - h.header_len) {
    return ber_error("element claims " + std::to_string(h.length) + " content bytes but only " +
                         std::to_string(data.size() - pos - h.header_len) + " remain",
                     at);
  }
  return h;
}

// Position just past the element that starts at data[pos], walking the
// children of indefinite-length elements to find their end-of-contents.
Result<std::size_t> element_end(ByteView data, std::size_t pos, std::size_t base, unsigned depth) {
  auto h = read_header(data, pos, base);
  if (!h) {
    return h.error();
  }
  if (!h->indefinite) {
    return pos + h->header_len + h->length;
  }
  if (depth >= kMaxDepth) {
    return ber_error("nesting deeper than " + std::to_string(kMaxDepth) + " levels", base + pos);
  }
  std::size_t p = pos + h->header_len;
  for (;;) {
    if (p >= data.size()) {
      return ber_error("truncated input: missing end-of-contents for the indefinite-length element",
                       base + pos);
    }
    if (data[p] == 0x00) {
      if (p + 1 < data.size() && data[p + 1] == 0x00) {
        return p + 2;
      }
      return ber_error("malformed end-of-contents octets", base + p);
    }
    auto end = element_end(data, p, base, depth + 1);
    if (!end) {
      return end.error();
    }
    p = *end;
  }
}

}  // namespace

Result<Element> Reader::next() {
  const std::size_t base = static_cast<std::size_t>(data_.data() - origin_);
  if (depth_ > kMaxDepth) {
    return ber_error("nesting deeper than " + std::to_string(kMaxDepth) + " levels", base + pos_);
  }
  auto h = read_header(data_, pos_, base);
  if (!h) {
    return h.error();
  }
  if (h->tag == 0x00) {
    return ber_error("unexpected end-of-contents octets", base + pos_);
  }
  Element e;
  e.tag = h->tag;
  e.indefinite = h->indefinite;
  e.offset = base + pos_;
  const std::size_t content_start = pos_ + h->header_len;
  if (h->indefinite) {
    auto end = element_end(data_, pos_, base, depth_);
    if (!end) {
      return end.error();
    }
    e.content = data_.subspan(content_start, *end - 2 - content_start);
    pos_ = *end;
  } else {
    e.content = data_.subspan(content_start, h->length);
    pos_ = content_start + h->length;
  }
  return e;
}

}  // namespace kp::crypto::ber
