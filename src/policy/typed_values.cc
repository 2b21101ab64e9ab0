#include "policy/typed_values.h"

#include <arpa/inet.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

#include "base/encoding.h"

namespace kp::policy {

TypedKind typed_kind(ConditionOp op) noexcept {
  switch (op) {
    case ConditionOp::kNumericEquals:
    case ConditionOp::kNumericNotEquals:
    case ConditionOp::kNumericLessThan:
    case ConditionOp::kNumericLessThanEquals:
    case ConditionOp::kNumericGreaterThan:
    case ConditionOp::kNumericGreaterThanEquals:
      return TypedKind::kNumber;
    case ConditionOp::kDateEquals:
    case ConditionOp::kDateNotEquals:
    case ConditionOp::kDateLessThan:
    case ConditionOp::kDateLessThanEquals:
    case ConditionOp::kDateGreaterThan:
    case ConditionOp::kDateGreaterThanEquals:
      return TypedKind::kDate;
    case ConditionOp::kIpAddress:
    case ConditionOp::kNotIpAddress:
      return TypedKind::kIpAddress;
    case ConditionOp::kBinaryEquals:
      return TypedKind::kBinary;
    case ConditionOp::kStringEquals:
    case ConditionOp::kStringNotEquals:
    case ConditionOp::kStringEqualsIgnoreCase:
    case ConditionOp::kStringNotEqualsIgnoreCase:
    case ConditionOp::kStringLike:
    case ConditionOp::kStringNotLike:
    case ConditionOp::kArnEquals:
    case ConditionOp::kArnNotEquals:
    case ConditionOp::kArnLike:
    case ConditionOp::kArnNotLike:
    case ConditionOp::kBool:
    case ConditionOp::kNull:
      return TypedKind::kNone;
  }
  return TypedKind::kNone;
}

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Exactly `n` digits at s[pos..]: their value.
bool fixed_digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) noexcept {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) {
      return false;
    }
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<double> parse_number(std::string_view s) noexcept {
  // from_chars would also take "inf", "nan" and a leading '+' no more than
  // once: the grammar is checked here first.
  std::string_view body = s;
  if (!body.empty() && (body.front() == '-' || body.front() == '+')) {
    body.remove_prefix(1);
  }
  if (body.empty() || !(is_digit(body.front()) || (body.front() == '.' && body.size() > 1 && is_digit(body[1])))) {
    return std::nullopt;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ec != std::errc{} || end != body.data() + body.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return s.front() == '-' ? -v : v;
}

std::optional<std::int64_t> parse_date_ms(std::string_view s) noexcept {
  using namespace std::chrono;
  if (s.empty()) {
    return std::nullopt;
  }
  // Epoch seconds: digits only (11 reach past the year 5000).
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    if (s.size() > 11) {
      return std::nullopt;
    }
    std::int64_t secs = 0;
    for (char c : s) {
      secs = secs * 10 + (c - '0');
    }
    return secs * 1000;
  }
  unsigned y = 0, mo = 0, d = 1, h = 0, mi = 0, se = 0;
  if (!fixed_digits(s, 0, 4, y) || s.size() < 7 || s[4] != '-' || !fixed_digits(s, 5, 2, mo)) {
    return std::nullopt;
  }
  std::size_t pos = 7;
  if (pos < s.size()) {
    if (s[pos] != '-' || !fixed_digits(s, pos + 1, 2, d)) {
      return std::nullopt;
    }
    pos += 3;
  }
  const year_month_day ymd{year{static_cast<int>(y)}, month{mo}, day{d}};
  if (y < 1 || !ymd.ok()) {
    return std::nullopt;
  }
  std::int64_t ms = duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
  if (pos == s.size()) {
    return ms;  // a date alone: its midnight, UTC
  }
  if (s[pos] != 'T' || !fixed_digits(s, pos + 1, 2, h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
      !fixed_digits(s, pos + 4, 2, mi)) {
    return std::nullopt;
  }
  pos += 6;
  std::int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == ':') {
    if (!fixed_digits(s, pos + 1, 2, se)) {
      return std::nullopt;
    }
    pos += 3;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      const std::size_t start = pos;
      std::int64_t scale = 100;
      while (pos < s.size() && is_digit(s[pos])) {
        frac_ms += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) {
        return std::nullopt;
      }
    }
  }
  if (h > 23 || mi > 59 || se > 59) {
    return std::nullopt;
  }
  // The time zone designator is required once a time is given.
  std::int64_t offset_min = 0;
  const std::string_view tz = s.substr(pos);
  if (tz != "Z") {
    unsigned oh = 0, om = 0;
    if (tz.size() != 6 || (tz[0] != '+' && tz[0] != '-') || !fixed_digits(tz, 1, 2, oh) || tz[3] != ':' ||
        !fixed_digits(tz, 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (tz[0] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 60 + om);
  }
  ms += ((static_cast<std::int64_t>(h) * 60 + mi - offset_min) * 60 + se) * 1000 + frac_ms;
  return ms;
}

std::optional<IpRange> parse_ip_range(std::string_view s) noexcept {
  IpRange r;
  std::string_view addr = s;
  std::optional<unsigned> prefix;
  if (const auto slash = s.find('/'); slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    const std::string_view p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    unsigned v = 0;
    std::from_chars(p.data(), p.data() + p.size(), v);
    prefix = v;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.empty() || addr.size() >= sizeof text) {
    return std::nullopt;
  }
  std::memcpy(text, addr.data(), addr.size());
  if (addr.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, text, r.addr.data()) != 1) {
      return std::nullopt;
    }
    r.prefix = prefix.value_or(32);
    if (r.prefix > 32) {
      return std::nullopt;
    }
  } else {
    if (inet_pton(AF_INET6, text, r.addr.data()) != 1) {
      return std::nullopt;
    }
    r.v6 = true;
    r.prefix = prefix.value_or(128);
    if (r.prefix > 128) {
      return std::nullopt;
    }
  }
  return r;
}

bool ip_in_range(const IpRange& range, std::string_view ip) noexcept {
  if (ip.find('/') != std::string_view::npos) {
    return false;
  }
  auto a = parse_ip_range(ip);
  if (!a) {
    return false;
  }
  static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a->v6 && !range.v6 && std::equal(kMapped.begin(), kMapped.end(), a->addr.begin())) {
    std::memmove(a->addr.data(), a->addr.data() + 12, 4);
    a->v6 = false;
  }
  if (a->v6 != range.v6) {
    return false;
  }
  const unsigned whole = range.prefix / 8;
  if (std::memcmp(a->addr.data(), range.addr.data(), whole) != 0) {
    return false;
  }
  if (const unsigned bits = range.prefix % 8; bits != 0) {
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    return (a->addr[whole] & mask) == (range.addr[whole] & mask);
  }
  return true;
}

std::optional<Bytes> parse_binary(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  return base64_decode(s);
}

}  // namespace kp::policy
