// File: config/address.h
//
// Syntax of the addresses that appear in configuration: IP literals (v4/v6,
// no zone ids), DNS host names, "host[:port]" authorities and loopback checks.
// Purely textual: nothing here resolves names or touches the network.
//
//   auto hp = kp::config::parse_authority("[::1]:9999");   // host "::1", port 9999
//   kp::config::is_loopback_host("127.0.0.2");               // true
//
// Pure: standard library + POSIX inet_pton only (no Asio).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kp::config {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  std::size_t size() const noexcept { return v6 ? 16 : 4; }
  /// ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged.
  IpAddress unmapped() const noexcept;
  /// Canonical text (inet_ntop), without brackets.
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

/// A strict IP literal: dotted-quad IPv4 or RFC 4291 IPv6, optionally in
/// brackets. Rejects zone ids ("fe80::1%eth0") and shortened IPv4 ("127.1").
std::optional<IpAddress> parse_ip(std::string_view text);

/// A DNS host name: 1..253 characters, labels 1..63 of [A-Za-z0-9-] not
/// starting or ending with '-', and a last label that is not all digits (so
/// "127.1" is neither an IP nor a host name). One trailing dot is allowed.
bool is_valid_hostname(std::string_view text);

/// 127.0.0.0/8, ::1, ::ffff:127.x.y.z, or "localhost" (case-insensitive).
bool is_loopback_host(std::string_view host);

struct Authority {
  std::string host;  // IPv6 without brackets
  std::optional<std::uint16_t> port;
};

/// "host", "host:port", "[v6]" or "[v6]:port". The host must be an IP literal
/// or a valid host name; an unbracketed IPv6 literal is accepted only without
/// a port. Returns nullopt on anything else (paths, user info, bad ports).
std::optional<Authority> parse_authority(std::string_view text);

/// Decimal 0..65535, no sign, no leading '+', at most 5 digits.
std::optional<std::uint16_t> parse_port(std::string_view text);

/// "host:port" with brackets around IPv6 literals.
std::string format_authority(std::string_view host, std::uint16_t port);

/// ASCII lower-case copy.
std::string to_lower_ascii(std::string_view s);

}  // namespace kp::config
