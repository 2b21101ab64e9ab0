// File: policy/typed_values.h
// The typed values behind IAM's Numeric*, Date*, IpAddress / NotIpAddress and
// BinaryEquals condition operators: parsing a policy's or a request's value
// and comparing two of them. Pure (inet_pton reads addresses; no sockets).
//
// Formats (IAM User Guide, "IAM JSON policy elements: Condition operators"):
//  * numbers: an integer or decimal, optionally signed, optionally with an
//    exponent ("30", "-1.5", "2e3"); never inf / nan / hex.
//  * dates: the W3C profile of ISO 8601 -- YYYY, YYYY-MM, YYYY-MM-DD,
//    YYYY-MM-DDThh:mm[:ss[.s...]] followed by Z or +hh:mm / -hh:mm -- or epoch
//    (UNIX) seconds as decimal digits (aws:EpochTime's form).
//  * addresses: an IPv4 or IPv6 address, alone (one host) or in CIDR
//    notation ("203.0.113.0/24", "2001:db8::/32"); host bits in a CIDR are
//    ignored, as IAM does.
//  * binary: base64.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/bytes.h"
#include "policy/policy.h"

namespace kp::policy {

/// The typed comparison an operator makes: how the parser checks its policy
/// values and how the evaluator compares. kNone: the string, ARN, Bool and
/// Null operators.
enum class TypedKind { kNone, kNumber, kDate, kIpAddress, kBinary };
TypedKind typed_kind(ConditionOp op) noexcept;

std::optional<double> parse_number(std::string_view s) noexcept;

/// Milliseconds since the UNIX epoch (UTC). nullopt for anything malformed,
/// impossible dates (2026-02-30) and years outside 0001..9999.
std::optional<std::int64_t> parse_date_ms(std::string_view s) noexcept;

struct IpRange {
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};  // network order; IPv4 uses the first 4
  unsigned prefix = 0;                  // significant leading bits
};

std::optional<IpRange> parse_ip_range(std::string_view s) noexcept;

/// `ip` is a single address (no prefix) inside `range`. An IPv4-mapped IPv6
/// address (::ffff:a.b.c.d) counts as the IPv4 address it maps.
bool ip_in_range(const IpRange& range, std::string_view ip) noexcept;

std::optional<Bytes> parse_binary(std::string_view s);

}  // namespace kp::policy
