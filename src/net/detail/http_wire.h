// File: net/detail/http_wire.h
//
// Small helpers for writing HTTP/1.1 on the wire (RFC 9112) without Beast:
// status lines, header validation, hop-by-hop filtering, the Date header, and
// append_wiping() for buffers that may hold plaintexts. Internal to net/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/http_message.h"

namespace kp::net::detail {

/// Reason phrase for a status code ("OK", "Bad Request", ... or "Unknown").
std::string_view reason_phrase(unsigned status) noexcept;

/// A character class as a table: letters, digits and `extra`. The checks
/// that use one run for every field of every message, so they are written
/// without per-character branches.
constexpr std::array<bool, 256> alnum_and(std::string_view extra) {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : extra) t[static_cast<unsigned char>(c)] = true;
  return t;
}
/// RFC 9110 5.6.2 tchar.
inline constexpr std::array<bool, 256> kTchar = alnum_and("!#$%&'*+-.^_`|~");

/// RFC 9110 5.1: field-name = token.
bool is_token(std::string_view s) noexcept;

/// Connection-specific fields (RFC 9110 7.6.1) plus the framing fields we
/// always compute ourselves (Content-Length, Transfer-Encoding).
bool is_hop_by_hop(std::string_view name) noexcept;

/// Whether `name` is listed in a Connection header value ("close, X-Foo").
bool listed_in_connection(std::string_view connection_value, std::string_view name) noexcept;

/// Whether the comma-separated header value contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) noexcept;

/// Whether every element of the comma-separated list `value` is `token`
/// (case-insensitive; empty elements skipped, RFC 9110 5.6.1) and there is at
/// least one: "chunked" and "chunked, chunked" are, "identity, chunked" and
/// "chunked;x=1" are not.
bool only_token(std::string_view value, std::string_view token) noexcept;

/// The Host rules of RFC 9112 3.2 for a parsed request: an HTTP/1.1 request
/// has exactly one Host field, and any Host value is uri-host [":" port]
/// (RFC 3986 characters only; empty is allowed). Returns what is wrong, or
/// an empty view.
std::string_view host_field_problem(const kp::HttpRequest& req) noexcept;

void append_decimal(std::string& out, std::uint64_t v);

/// Appends "Date: <IMF-fixdate>\r\n"; the formatted value is cached per
/// thread and per second.
void append_date_field(std::string& out);

/// Serialises a response's status line and fields into `out`: Content-Length,
/// Connection and framing fields are ours; fields that could split the header
/// (CR/LF) or are not tokens are dropped rather than sent; a Date is added if
/// missing. Returns whether a body follows.
bool build_response_head(std::string& out, const kp::HttpResponse& r, bool keep_alive, unsigned req_version,
                         bool head_request);

/// The CR and LF bytes at the start of `s` (RFC 9112 2.2: empty lines before
/// a request line are ignored).
std::size_t leading_empty_lines(std::string_view s) noexcept;

/// Appends `add` to `s`; when `s` must grow, the old block is wiped first.
void append_wiping(std::string& s, std::string_view add);
/// Reserves capacity `n` (bounded by the caller); wipes the old block.
void reserve_wiping(std::string& s, std::size_t n);
/// Wipes the contents and clears.
void wipe_string(std::string& s) noexcept;

}  // namespace kp::net::detail
