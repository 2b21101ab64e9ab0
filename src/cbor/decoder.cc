#include "cbor/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

namespace kp::cbor {

namespace {

constexpr std::uint8_t kBreak = 0xff;
constexpr std::uint8_t kIndefinite = 31;

// RFC 3629 well-formed UTF-8: no overlong forms, no surrogates, <= U+10FFFF.
bool valid_utf8(ByteView s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const std::uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint8_t lo = 0x80;
    std::uint8_t hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) {
        lo = 0xa0;
      } else if (c == 0xed) {
        hi = 0x9f;
      }
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) {
        lo = 0x90;
      } else if (c == 0xf4) {
        hi = 0x8f;
      }
    } else {
      return false;
    }
    if (n - i < len) {
      return false;
    }
    if (s[i + 1] < lo || s[i + 1] > hi) {
      return false;
    }
    for (std::size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
        return false;
      }
    }
    i += len;
  }
  return true;
}

double half_to_double(std::uint16_t h) noexcept {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else if (exp != 31) {
    v = std::ldexp(mant + 1024, exp - 25);
  } else {
    v = mant == 0 ? INFINITY : NAN;
  }
  return (h & 0x8000) != 0 ? -v : v;
}

class Parser {
 public:
  Parser(ByteView in, const Limits& limits) : in_(in), limits_(limits) {}

  Result<Item> item(std::size_t depth) {
    const std::size_t start = pos_;
    auto r = item_inner(depth);
    if (r) {
      r->set_source(start, pos_ - start);
    }
    return r;
  }

  std::size_t pos() const noexcept { return pos_; }

 private:
  struct Head {
    std::uint8_t major;
    std::uint8_t ai;
    std::uint64_t arg;  // meaningless when ai == 31
  };

  Error err(std::string what) const { return err_at(std::move(what), pos_); }
  static Error err_at(std::string what, std::size_t at) {
    return Error{Errc::kMalformedRequest, "cbor: " + what + " at offset " + std::to_string(at)};
  }

  std::size_t remaining() const noexcept { return in_.size() - pos_; }

  Result<Head> head() {
    if (pos_ >= in_.size()) {
      return err("unexpected end of input");
    }
    const std::size_t at = pos_;
    const std::uint8_t ib = in_[pos_++];
    Head h{static_cast<std::uint8_t>(ib >> 5), static_cast<std::uint8_t>(ib & 0x1f), 0};
    if (++items_ > limits_.max_items) {
      return err_at("more than " + std::to_string(limits_.max_items) + " items", at);
    }
    if (h.ai < 24) {
      h.arg = h.ai;
      return h;
    }
    if (h.ai >= 28 && h.ai <= 30) {
      return err_at("reserved additional information " + std::to_string(h.ai), at);
    }
    if (h.ai == kIndefinite) {
      return h;
    }
    const std::size_t len = std::size_t{1} << (h.ai - 24);  // 1, 2, 4, 8
    if (remaining() < len) {
      return err("unexpected end of input in argument");
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < len; ++i) {
      v = (v << 8) | in_[pos_ + i];
    }
    pos_ += len;
    h.arg = v;
    return h;
  }

  bool at_break() const noexcept { return pos_ < in_.size() && in_[pos_] == kBreak; }

  Result<Item> item_inner(std::size_t depth) {
    const std::size_t at = pos_;
    auto h = head();
    if (!h) {
      return h.error();
    }
    switch (h->major) {
      case 0:
        if (h->ai == kIndefinite) {
          return err_at("indefinite length on an integer", at);
        }
        return Item::uint(h->arg);
      case 1:
        if (h->ai == kIndefinite) {
          return err_at("indefinite length on an integer", at);
        }
        return Item::negative_raw(h->arg);
      case 2:
      case 3:
        return string(*h, at);
      case 4:
        return array(*h, at, depth);
      case 5:
        return map(*h, at, depth);
      case 6:
        return tag(*h, at, depth);
      default:
        return simple_or_float(*h, at);
    }
  }

  // Reads `n` content bytes of a definite string after checking the bound
  // against the input actually present (never against the declared length).
  Result<ByteView> take(std::uint64_t n, std::size_t already, std::size_t at) {
    if (n > remaining()) {
      return err_at("string length " + std::to_string(n) + " exceeds remaining input", at);
    }
    if (n > limits_.max_string_bytes || already + n > limits_.max_string_bytes) {
      return err_at("string longer than " + std::to_string(limits_.max_string_bytes) + " bytes", at);
    }
    ByteView v = in_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return v;
  }

  Result<Item> string(const Head& h, std::size_t at) {
    const bool is_text = h.major == 3;
    if (h.ai != kIndefinite) {
      auto v = take(h.arg, 0, at);
      if (!v) {
        return v.error();
      }
      if (is_text) {
        if (!valid_utf8(*v)) {
          return err_at("invalid UTF-8 in text string", at);
        }
        return Item::text(std::string(as_chars(*v)));
      }
      return Item::bytes(*v);
    }
    Bytes acc;
    while (true) {
      if (pos_ >= in_.size()) {
        return err("unterminated indefinite-length string");
      }
      if (at_break()) {
        ++pos_;
        break;
      }
      const std::size_t chunk_at = pos_;
      auto c = head();
      if (!c) {
        return c.error();
      }
      if (c->major != h.major) {
        return err_at("indefinite-length string chunk of another type", chunk_at);
      }
      if (c->ai == kIndefinite) {
        return err_at("nested indefinite-length string chunk", chunk_at);
      }
      auto v = take(c->arg, acc.size(), chunk_at);
      if (!v) {
        return v.error();
      }
      if (is_text && !valid_utf8(*v)) {
        return err_at("invalid UTF-8 in text string chunk", chunk_at);
      }
      acc.insert(acc.end(), v->begin(), v->end());
    }
    if (is_text) {
      return Item::text(std::string(as_chars(acc)));
    }
    return Item::bytes(std::move(acc));
  }

  Result<void> enter(std::size_t depth, std::size_t at) const {
    if (depth + 1 > limits_.max_depth) {
      return err_at("nesting deeper than " + std::to_string(limits_.max_depth), at);
    }
    return {};
  }

  Result<void> check_count(std::uint64_t n, std::uint64_t min_bytes_each, std::size_t at) const {
    if (n > limits_.max_entries) {
      return err_at("container with " + std::to_string(n) + " entries exceeds limit " +
                        std::to_string(limits_.max_entries),
                    at);
    }
    // Every entry needs at least one byte per item: a declared count larger
    // than the input can be rejected before anything is allocated.
    if (n > remaining() / min_bytes_each) {
      return err_at("container with " + std::to_string(n) + " entries exceeds remaining input", at);
    }
    return {};
  }

  Result<Item> array(const Head& h, std::size_t at, std::size_t depth) {
    if (auto e = enter(depth, at); !e) {
      return e.error();
    }
    Item::Array out;
    if (h.ai != kIndefinite) {
      if (auto c = check_count(h.arg, 1, at); !c) {
        return c.error();
      }
      out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(h.arg, 256)));
      for (std::uint64_t i = 0; i < h.arg; ++i) {
        auto v = item(depth + 1);
        if (!v) {
          return v.error();
        }
        out.push_back(std::move(*v));
      }
      return Item::array(std::move(out));
    }
    while (true) {
      if (pos_ >= in_.size()) {
        return err("unterminated indefinite-length array");
      }
      if (at_break()) {
        ++pos_;
        break;
      }
      if (out.size() >= limits_.max_entries) {
        return err_at("array exceeds " + std::to_string(limits_.max_entries) + " entries", at);
      }
      auto v = item(depth + 1);
      if (!v) {
        return v.error();
      }
      out.push_back(std::move(*v));
    }
    return Item::array(std::move(out));
  }

  Result<void> add_entry(Item::Map& out, std::size_t depth) {
    const std::size_t key_at = pos_;
    auto k = item(depth + 1);
    if (!k) {
      return k.error();
    }
    for (const auto& e : out) {
      if (e.key == *k) {
        return err_at("duplicate map key", key_at);
      }
    }
    if (at_break()) {
      return err("break where a map value was expected");
    }
    auto v = item(depth + 1);
    if (!v) {
      return v.error();
    }
    out.push_back(MapEntry{std::move(*k), std::move(*v)});
    return {};
  }

  Result<Item> map(const Head& h, std::size_t at, std::size_t depth) {
    if (auto e = enter(depth, at); !e) {
      return e.error();
    }
    Item::Map out;
    if (h.ai != kIndefinite) {
      if (auto c = check_count(h.arg, 2, at); !c) {
        return c.error();
      }
      out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(h.arg, 256)));
      for (std::uint64_t i = 0; i < h.arg; ++i) {
        if (auto r = add_entry(out, depth); !r) {
          return r.error();
        }
      }
      return Item::map(std::move(out));
    }
    while (true) {
      if (pos_ >= in_.size()) {
        return err("unterminated indefinite-length map");
      }
      if (at_break()) {
        ++pos_;
        break;
      }
      if (out.size() >= limits_.max_entries) {
        return err_at("map exceeds " + std::to_string(limits_.max_entries) + " entries", at);
      }
      if (auto r = add_entry(out, depth); !r) {
        return r.error();
      }
    }
    return Item::map(std::move(out));
  }

  Result<Item> tag(const Head& h, std::size_t at, std::size_t depth) {
    if (h.ai == kIndefinite) {
      return err_at("indefinite length on a tag", at);
    }
    if (auto e = enter(depth, at); !e) {
      return e.error();
    }
    if (at_break()) {
      return err("break where a tagged item was expected");
    }
    // The enclosed item is decoded without recording its own source span:
    // the tagged item's span (set by the caller) covers tag and content.
    auto v = item_inner(depth + 1);
    if (!v) {
      return v.error();
    }
    return std::move(*v).tagged(h.arg);
  }

  Result<Item> simple_or_float(const Head& h, std::size_t at) {
    switch (h.ai) {
      case 20: return Item::boolean(false);
      case 21: return Item::boolean(true);
      case 22: return Item::null();
      case 23: return Item::undefined();
      case 24:
        if (h.arg < 32) {
          return err_at("two-byte simple value below 32", at);
        }
        return Item::simple(static_cast<std::uint8_t>(h.arg));
      case 25: return Item::floating(half_to_double(static_cast<std::uint16_t>(h.arg)));
      case 26: {
        float f;
        const auto bits = static_cast<std::uint32_t>(h.arg);
        std::memcpy(&f, &bits, sizeof f);
        return Item::floating(static_cast<double>(f));
      }
      case 27: {
        double d;
        const std::uint64_t bits = h.arg;
        std::memcpy(&d, &bits, sizeof d);
        return Item::floating(d);
      }
      case kIndefinite: return err_at("break outside an indefinite-length item", at);
      default: return Item::simple(h.ai);  // 0..19 (unassigned simple values)
    }
  }

  ByteView in_;
  const Limits& limits_;
  std::size_t pos_ = 0;
  std::size_t items_ = 0;
};

}  // namespace

Result<Prefix> decode_prefix(ByteView input, const Limits& limits) {
  Parser p(input, limits);
  auto item = p.item(0);
  if (!item) {
    return item.error();
  }
  return Prefix{std::move(*item), p.pos()};
}

Result<Item> decode(ByteView input, const Limits& limits) {
  auto r = decode_prefix(input, limits);
  if (!r) {
    return r.error();
  }
  if (r->consumed != input.size()) {
    return Error{Errc::kMalformedRequest,
                 "cbor: " + std::to_string(input.size() - r->consumed) + " trailing bytes at offset " +
                     std::to_string(r->consumed)};
  }
  return std::move(r->item);
}

ByteView raw_bytes(ByteView input, const Item& item) noexcept {
  const std::size_t off = item.source_offset();
  const std::size_t len = item.source_size();
  if (len == 0 || off > input.size() || len > input.size() - off) {
    return {};
  }
  return input.subspan(off, len);
}

ByteView raw_bstr_content(ByteView input, const Item& item) noexcept {
  const Bytes* b = item.as_bytes();
  if (b == nullptr) {
    return {};
  }
  const ByteView raw = raw_bytes(input, item);
  if (raw.size() <= b->size()) {
    return {};
  }
  const ByteView tail = raw.subspan(raw.size() - b->size());
  // For an indefinite-length string the content is not contiguous; the tail
  // then differs from the concatenated value (or equals it byte for byte,
  // which is just as good).
  if (!b->empty() && std::memcmp(tail.data(), b->data(), b->size()) != 0) {
    return {};
  }
  return tail;
}

}  // namespace kp::cbor
