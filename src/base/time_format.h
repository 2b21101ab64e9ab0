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
/// "Sun, 30 Aug 2015 12:36:00 GMT" (RFC 9110 5.6.7 IMF-fixdate: the HTTP
/// Date header; day and month names spelled out, no locale).
std::string format_http_date(SysTime t);
/// Years parse_time_utc() accepts: well inside SysTime's range (~1678..2261),
/// so callers can add skews and margins without overflow.
inline constexpr unsigned kMinParsedYear = 1900;
inline constexpr unsigned kMaxParsedYear = 2199;

/// Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z" or with a "+HH:MM" / "-HH:MM"
/// offset (converted to UTC; a space may stand for the "T"); also
/// "YYYYMMDDTHHMMSSZ". A time without a zone is refused (ambiguous).
/// nullopt for malformed text (a day past its month's end included) and for
/// years outside [kMinParsedYear, kMaxParsedYear].
std::optional<SysTime> parse_time_utc(std::string_view s);

/// Parses an HTTP-date (RFC 9110 5.6.7) in any of the three forms a
/// recipient must accept: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", the
/// obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" (a two-digit year more
/// than 50 years after `now` is the most recent such year in the past) and
/// asctime "Sun Nov  6 08:49:37 1994". Case-sensitive, as the grammar is.
/// The day name must be one, but is not checked against the date; a leap
/// second (":60") reads as ":59". nullopt
/// for anything else, impossible dates (30 Feb) and years outside
/// [kMinParsedYear, kMaxParsedYear].
std::optional<SysTime> parse_http_date(std::string_view s, SysTime now);

}  // namespace kp
