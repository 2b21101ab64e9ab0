#include "base/time_format.h"

#include <algorithm>
#include <cstdio>

namespace kp {

namespace {

// Howard Hinnant's civil-from-days / days-from-civil (public domain algorithms).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t y;
  unsigned m, d, hh, mm, ss;
};

Civil civil(SysTime t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t rem = secs - days * 86400;
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d, static_cast<unsigned>(rem / 3600),
          static_cast<unsigned>(rem % 3600 / 60), static_cast<unsigned>(rem % 60)};
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

constexpr std::string_view kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view kLongDayNames[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
constexpr std::string_view kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Index of `name` among `names`, or -1.
template <std::size_t N>
int index_of(std::string_view name, const std::string_view (&names)[N]) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// "HH:MM:SS" at pos.
bool time_of_day(std::string_view s, std::size_t pos, unsigned& h, unsigned& mi, unsigned& se) {
  return pos + 8 <= s.size() && s[pos + 2] == ':' && s[pos + 5] == ':' && digits(s, pos, 2, h) &&
         digits(s, pos + 3, 2, mi) && digits(s, pos + 6, 2, se);
}

}  // namespace

std::string format_rfc3339(SysTime t) {
  const Civil c = civil(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02uZ", static_cast<long long>(c.y), c.m,
                c.d, c.hh, c.mm, c.ss);
  return buf;
}

std::string format_amz_date(SysTime t) {
  const Civil c = civil(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02uT%02u%02u%02uZ", static_cast<long long>(c.y), c.m, c.d,
                c.hh, c.mm, c.ss);
  return buf;
}

std::string format_http_date(SysTime t) {
  const Civil c = civil(t);
  const auto days = std::chrono::floor<std::chrono::days>(t.time_since_epoch()).count();
  const auto wday = static_cast<std::size_t>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02u:%02u:%02u GMT", kDayNames[wday].data(), c.d,
                kMonthNames[c.m - 1].data(), static_cast<long long>(c.y), c.hh, c.mm, c.ss);
  return buf;
}

std::optional<SysTime> parse_http_date(std::string_view s, SysTime now) {
  unsigned y = 0, d = 0, h = 0, mi = 0, se = 0;
  int month = -1;
  if (s.size() == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' &&
      s.substr(25) == " GMT") {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (index_of(s.substr(0, 3), kDayNames) < 0 || !digits(s, 5, 2, d) || !digits(s, 12, 4, y) ||
        !time_of_day(s, 17, h, mi, se)) {
      return std::nullopt;
    }
    month = index_of(s.substr(8, 3), kMonthNames);
  } else if (const auto comma = s.find(", "); comma != std::string_view::npos && comma >= 6 &&
                                                 s.size() == comma + 24 && s.substr(comma + 20) == " GMT") {
    // rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT"
    const std::size_t p = comma + 2;
    unsigned yy = 0;
    if (index_of(s.substr(0, comma), kLongDayNames) < 0 || s[p + 2] != '-' || s[p + 6] != '-' ||
        s[p + 9] != ' ' || !digits(s, p, 2, d) || !digits(s, p + 7, 2, yy) || !time_of_day(s, p + 10, h, mi, se)) {
      return std::nullopt;
    }
    month = index_of(s.substr(p + 3, 3), kMonthNames);
    // RFC 9110 5.6.7: a year more than 50 years in the future is the most
    // recent past year with the same last two digits.
    const std::int64_t this_year = civil(now).y;
    std::int64_t full = this_year - this_year % 100 + yy;
    if (full > this_year + 50) {
      full -= 100;
    } else if (full <= this_year - 50) {
      full += 100;
    }
    if (full < 0) {
      return std::nullopt;
    }
    y = static_cast<unsigned>(full);
  } else if (s.size() == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
    // asctime-date: "Sun Nov  6 08:49:37 1994" (day padded with a space)
    if (index_of(s.substr(0, 3), kDayNames) < 0 || !time_of_day(s, 11, h, mi, se) || !digits(s, 20, 4, y)) {
      return std::nullopt;
    }
    if (s[8] == ' ') {
      if (!digits(s, 9, 1, d)) {
        return std::nullopt;
      }
    } else if (!digits(s, 8, 2, d)) {
      return std::nullopt;
    }
    month = index_of(s.substr(4, 3), kMonthNames);
  } else {
    return std::nullopt;
  }
  if (month < 0 || y < kMinParsedYear || y > kMaxParsedYear || h > 23 || mi > 59 || se > 60) {
    return std::nullopt;
  }
  const auto m = static_cast<unsigned>(month + 1);
  if (d < 1 || d > days_in_month(y, m)) {
    return std::nullopt;
  }
  // A leap second (":60") is read as the last second of its minute, as POSIX
  // time has no leap seconds (and 31 Dec 2199 23:59:60 stays in range).
  const std::int64_t secs = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + std::min(se, 59U);
  return SysTime(std::chrono::seconds(secs));
}

std::optional<SysTime> parse_time_utc(std::string_view s) {
  unsigned y, mo, d, h, mi, se;
  std::size_t pos;
  if (s.size() == 16 && s[8] == 'T' && s[15] == 'Z') {
    if (!digits(s, 0, 4, y) || !digits(s, 4, 2, mo) || !digits(s, 6, 2, d) || !digits(s, 9, 2, h) ||
        !digits(s, 11, 2, mi) || !digits(s, 13, 2, se)) {
      return std::nullopt;
    }
    pos = 16;
  } else {
    // RFC 3339 5.6 allows a space for the "T" (ISO 8601 does not).
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':') {
      return std::nullopt;
    }
    if (!digits(s, 0, 4, y) || !digits(s, 5, 2, mo) || !digits(s, 8, 2, d) || !digits(s, 11, 2, h) ||
        !digits(s, 14, 2, mi) || !digits(s, 17, 2, se)) {
      return std::nullopt;
    }
    pos = 19;
  }
  unsigned ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    unsigned scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += static_cast<unsigned>(s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  const std::string_view tz = s.substr(pos);
  std::int64_t offset_s = 0;  // local time - UTC
  const bool extended = s.size() >= 20 && s[4] == '-';  // not the compact YYYYMMDDTHHMMSSZ
  if (tz.size() == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' && extended) {
    unsigned oh = 0;
    unsigned om = 0;
    if (!digits(tz, 1, 2, oh) || !digits(tz, 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (tz[0] == '-' ? -1 : 1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
  } else if (!(tz.empty() && pos == 16) && tz != "Z" && tz != "z") {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) {
    return std::nullopt;
  }
  // SysTime counts nanoseconds in 64 bits (years ~1678..2261): a 4-digit
  // year outside that would overflow (UB) in the conversion, and times near
  // the edges would overflow in the callers' arithmetic (now + skew, expiry -
  // margin). Only years with decades of headroom are accepted.
  if (y < kMinParsedYear || y > kMaxParsedYear) {
    return std::nullopt;
  }
  if (d > days_in_month(y, mo)) {  // 2026-02-30 is not a date (not 2026-03-02)
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(y, mo, d);
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  return SysTime(std::chrono::seconds(secs) + std::chrono::milliseconds(ms));
}

}  // namespace kp
