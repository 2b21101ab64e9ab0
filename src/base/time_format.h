// File: base/time_format.h
// RFC 3339 / ISO 8601 formatting and parsing in UTC (no locale, no TZ env).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace kp {

/// "2015-08-30T12:36:00Z" (seconds precision).
std::string format_rfc3339(SysTime t);
/// "20150830T123600Z" (SigV4 X-Amz-Date).
std::string format_amz_date(SysTime t);
/// Years parse_time_utc() accepts: well inside SysTime's range (~1678..2261),
/// so callers can add skews and margins without overflow.
inline constexpr unsigned kMinParsedYear = 1900;
inline constexpr unsigned kMaxParsedYear = 2199;

/// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" or with "+00:00"; also "YYYYMMDDTHHMMSSZ".
/// nullopt for malformed text and for years outside
/// [kMinParsedYear, kMaxParsedYear].
std::optional<SysTime> parse_time_utc(std::string_view s);

}  // namespace kp
