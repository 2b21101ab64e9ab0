#include "cbor/writer.h"

#include <cmath>
#include <cstring>
#include <optional>

namespace kp::cbor {

namespace {

// Half-precision bits for `f` if the conversion is exact.
std::optional<std::uint16_t> exact_half(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  const auto sign = static_cast<std::uint16_t>((b >> 16) & 0x8000);
  const int exp = static_cast<int>((b >> 23) & 0xff);
  const std::uint32_t mant = b & 0x7fffff;
  if (exp == 0xff) {  // inf (NaN handled by the caller)
    if (mant != 0) {
      return std::nullopt;
    }
    return static_cast<std::uint16_t>(sign | 0x7c00);
  }
  if (exp == 0) {
    if (mant == 0) {
      return sign;  // +-0
    }
    return std::nullopt;  // float subnormals are far below half's range
  }
  const int e = exp - 127;
  if (e >= -14 && e <= 15) {
    if ((mant & 0x1fff) != 0) {
      return std::nullopt;
    }
    return static_cast<std::uint16_t>(sign | ((e + 15) << 10) | (mant >> 13));
  }
  if (e >= -24 && e < -14) {  // half subnormal: value = m * 2^-24
    const std::uint32_t full = mant | 0x800000;
    const int shift = -1 - e;  // 14..23
    if ((full & ((1u << shift) - 1)) != 0) {
      return std::nullopt;
    }
    return static_cast<std::uint16_t>(sign | (full >> shift));
  }
  return std::nullopt;
}

}  // namespace

void Writer::head(std::uint8_t major, std::uint64_t arg) {
  const auto m = static_cast<std::uint8_t>(major << 5);
  if (arg < 24) {
    out_.push_back(static_cast<std::uint8_t>(m | arg));
    return;
  }
  int len;
  std::uint8_t ai;
  if (arg <= 0xff) {
    len = 1;
    ai = 24;
  } else if (arg <= 0xffff) {
    len = 2;
    ai = 25;
  } else if (arg <= 0xffffffffULL) {
    len = 4;
    ai = 26;
  } else {
    len = 8;
    ai = 27;
  }
  out_.push_back(static_cast<std::uint8_t>(m | ai));
  for (int i = len - 1; i >= 0; --i) {
    out_.push_back(static_cast<std::uint8_t>(arg >> (8 * i)));
  }
}

Writer& Writer::uint(std::uint64_t v) {
  head(0, v);
  return *this;
}
Writer& Writer::negative_raw(std::uint64_t n) {
  head(1, n);
  return *this;
}
Writer& Writer::integer(std::int64_t v) {
  if (v >= 0) {
    return uint(static_cast<std::uint64_t>(v));
  }
  return negative_raw(static_cast<std::uint64_t>(-(v + 1)));
}
Writer& Writer::bstr(ByteView v) {
  head(2, v.size());
  out_.insert(out_.end(), v.begin(), v.end());
  return *this;
}
Writer& Writer::tstr(std::string_view v) {
  head(3, v.size());
  out_.insert(out_.end(), v.begin(), v.end());
  return *this;
}
Writer& Writer::array_header(std::uint64_t n) {
  head(4, n);
  return *this;
}
Writer& Writer::map_header(std::uint64_t n) {
  head(5, n);
  return *this;
}
Writer& Writer::tag(std::uint64_t t) {
  head(6, t);
  return *this;
}
Writer& Writer::boolean(bool v) {
  out_.push_back(v ? 0xf5 : 0xf4);
  return *this;
}
Writer& Writer::null() {
  out_.push_back(0xf6);
  return *this;
}
Writer& Writer::undefined() {
  out_.push_back(0xf7);
  return *this;
}
Writer& Writer::simple(std::uint8_t v) {
  if (v < 24) {
    out_.push_back(static_cast<std::uint8_t>(0xe0 | v));
  } else {
    out_.push_back(0xf8);
    out_.push_back(v);
  }
  return *this;
}

Writer& Writer::floating(double v) {
  if (std::isnan(v)) {
    out_.insert(out_.end(), {0xf9, 0x7e, 0x00});
    return *this;
  }
  const auto f = static_cast<float>(v);
  if (static_cast<double>(f) == v) {
    if (auto h = exact_half(f)) {
      out_.push_back(0xf9);
      out_.push_back(static_cast<std::uint8_t>(*h >> 8));
      out_.push_back(static_cast<std::uint8_t>(*h));
      return *this;
    }
    std::uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    out_.push_back(0xfa);
    for (int i = 3; i >= 0; --i) {
      out_.push_back(static_cast<std::uint8_t>(b >> (8 * i)));
    }
    return *this;
  }
  std::uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  out_.push_back(0xfb);
  for (int i = 7; i >= 0; --i) {
    out_.push_back(static_cast<std::uint8_t>(b >> (8 * i)));
  }
  return *this;
}

Writer& Writer::raw(ByteView encoded) {
  out_.insert(out_.end(), encoded.begin(), encoded.end());
  return *this;
}

Writer& Writer::item(const Item& v) {
  for (auto t : v.tags()) {
    tag(t);
  }
  switch (v.type()) {
    case Item::Type::kUnsigned: return uint(*v.as_uint());
    case Item::Type::kNegative: return negative_raw(*v.as_negative_raw());
    case Item::Type::kBytes: return bstr(*v.as_bytes());
    case Item::Type::kText: return tstr(*v.as_text());
    case Item::Type::kArray:
      array_header(v.as_array()->size());
      for (const auto& e : *v.as_array()) {
        item(e);
      }
      return *this;
    case Item::Type::kMap:
      map_header(v.as_map()->size());
      for (const auto& e : *v.as_map()) {
        item(e.key);
        item(e.value);
      }
      return *this;
    case Item::Type::kBool: return boolean(*v.as_bool());
    case Item::Type::kNull: return null();
    case Item::Type::kUndefined: return undefined();
    case Item::Type::kSimple: return simple(*v.as_simple());
    case Item::Type::kFloat: return floating(*v.as_float());
  }
  return *this;
}

Bytes encode(const Item& item) {
  Writer w;
  w.item(item);
  return std::move(w).take();
}

}  // namespace kp::cbor
