#include "base/encoding.h"

#include <array>

namespace kp {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_b64_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  for (int i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(kB64[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}
constexpr auto kB64Table = make_b64_table();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes into `out` (size already base64_decoded_size); returns bytes written or -1.
template <class Out>
bool b64_decode_into(std::string_view in, Out& out) {
  if (in.size() % 4 != 0) {
    return false;
  }
  std::size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad = 1;
  if (in.size() >= 2 && in[in.size() - 2] == '=') pad = 2;
  const std::size_t n = in.size() / 4 * 3 - pad;
  out.resize_to(n);
  std::size_t o = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    std::uint32_t v = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = in[i + j];
      std::int8_t d;
      if (c == '=') {
        if (!last || j < 4 - pad) return false;
        d = 0;
      } else {
        d = kB64Table[static_cast<unsigned char>(c)];
        if (d < 0) return false;
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    const std::uint8_t b0 = static_cast<std::uint8_t>(v >> 16);
    const std::uint8_t b1 = static_cast<std::uint8_t>(v >> 8);
    const std::uint8_t b2 = static_cast<std::uint8_t>(v);
    if (last && pad == 2) {
      if (b1 != 0 || b2 != 0) return false;  // non-canonical trailing bits
      out.at(o++) = b0;
    } else if (last && pad == 1) {
      if (b2 != 0) return false;
      out.at(o++) = b0;
      out.at(o++) = b1;
    } else {
      out.at(o++) = b0;
      out.at(o++) = b1;
      out.at(o++) = b2;
    }
  }
  return true;
}

struct BytesSink {
  Bytes& b;
  void resize_to(std::size_t n) { b.resize(n); }
  std::uint8_t& at(std::size_t i) { return b[i]; }
};
struct SecretSink {
  SecretBytes& s;
  void resize_to(std::size_t n) { s = SecretBytes(n); }
  std::uint8_t& at(std::size_t i) { return s.data()[i]; }
};

}  // namespace

std::string hex_encode(ByteView in) {
  std::string out(in.size() * 2, '\0');
  for (std::size_t i = 0; i < in.size(); ++i) {
    out[2 * i] = kHexDigits[in[i] >> 4];
    out[2 * i + 1] = kHexDigits[in[i] & 0xf];
  }
  return out;
}

std::optional<Bytes> hex_decode(std::string_view in) {
  if (in.size() % 2 != 0) {
    return std::nullopt;
  }
  Bytes out(in.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(in[2 * i]);
    const int lo = hex_value(in[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

void base64_encode_append(ByteView in, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + base64_encoded_size(in.size()));
  char* p = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
    *p++ = kB64[v >> 18];
    *p++ = kB64[(v >> 12) & 63];
    *p++ = kB64[(v >> 6) & 63];
    *p++ = kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    *p++ = kB64[v >> 18];
    *p++ = kB64[(v >> 12) & 63];
    *p++ = '=';
    *p++ = '=';
  } else if (i + 2 == in.size()) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8;
    *p++ = kB64[v >> 18];
    *p++ = kB64[(v >> 12) & 63];
    *p++ = kB64[(v >> 6) & 63];
    *p++ = '=';
  }
}

std::string base64_encode(ByteView in) {
  std::string out;
  base64_encode_append(in, out);
  return out;
}

std::optional<Bytes> base64_decode(std::string_view in) {
  Bytes b;
  BytesSink sink{b};
  if (!b64_decode_into(in, sink)) {
    return std::nullopt;
  }
  return b;
}

std::optional<SecretBytes> base64_decode_secret(std::string_view in) {
  SecretBytes s;
  SecretSink sink{s};
  if (!b64_decode_into(in, sink)) {
    return std::nullopt;
  }
  return s;
}

bool is_decimal_digits(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace kp
