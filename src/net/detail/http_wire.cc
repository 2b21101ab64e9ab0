#include "net/detail/http_wire.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <chrono>
#include <ctime>

#include "base/secret.h"
#include "base/time_format.h"

namespace kp::net::detail {

std::string_view reason_phrase(unsigned status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

bool is_token(std::string_view s) noexcept {
  bool ok = !s.empty();
  for (const char ch : s) {
    ok &= kTchar[static_cast<unsigned char>(ch)];
  }
  return ok;
}

bool is_hop_by_hop(std::string_view name) noexcept {
  // Called for every field of every message: dispatch on length first.
  switch (name.size()) {
    case 2: return kp::iequals(name, "te");
    case 7: return kp::iequals(name, "trailer") || kp::iequals(name, "upgrade");
    case 10: return kp::iequals(name, "connection") || kp::iequals(name, "keep-alive");
    case 14: return kp::iequals(name, "content-length");
    case 16: return kp::iequals(name, "proxy-connection");
    case 17: return kp::iequals(name, "transfer-encoding");
    case 18: return kp::iequals(name, "proxy-authenticate");
    case 19: return kp::iequals(name, "proxy-authorization");
    default: return false;
  }
}

namespace {

// Calls f(element) for each element of a comma-separated field value, OWS
// trimmed (empty ones included), until f returns false. Returns whether every
// call returned true.
template <class F>
bool each_list_element(std::string_view value, F&& f) {
  for (;;) {
    const auto comma = value.find(',');
    auto item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (!f(item)) {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool has_token(std::string_view value, std::string_view token) noexcept {
  return !each_list_element(value, [&](std::string_view item) { return !kp::iequals(item, token); });
}

bool only_token(std::string_view value, std::string_view token) noexcept {
  bool any = false;
  return each_list_element(value, [&](std::string_view item) {
           any = any || !item.empty();
           return item.empty() || kp::iequals(item, token);
         }) &&
         any;
}

namespace {

// RFC 3986 uri-host [":" port]: unreserved, pct-encoded, sub-delims, ':' and
// the brackets of an IP-literal. Not a full grammar check: enough to refuse
// spaces, '/', '@', '?', '#', '"' and controls, which no authority contains.
constexpr std::array<bool, 256> kHostChar = alnum_and("-._~%!$&'()*+,;=:[]");

}  // namespace

std::string_view host_field_problem(const kp::HttpRequest& req) noexcept {
  std::size_t hosts = 0;
  for (const auto& [name, value] : req.headers.fields()) {
    if (!kp::iequals(name, "Host")) {
      continue;
    }
    if (++hosts > 1) {
      return "more than one Host field";
    }
    for (const char c : value) {
      if (!kHostChar[static_cast<unsigned char>(c)]) {
        return "the Host field is not a host[:port]";
      }
    }
  }
  if (hosts == 0 && req.version >= 11) {
    return "an HTTP/1.1 request without a Host field";
  }
  return {};
}

bool listed_in_connection(std::string_view connection_value, std::string_view name) noexcept {
  return has_token(connection_value, name);
}

void append_decimal(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_date_field(std::string& out) {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached = "Date: " + kp::format_http_date(std::chrono::system_clock::from_time_t(now)) + "\r\n";
    cached_second = now;
  }
  out.append(cached);
}

void reserve_wiping(std::string& s, std::size_t n) {
  if (n <= s.capacity()) {
    return;
  }
  std::string fresh;
  fresh.reserve(n);
  fresh.append(s);
  wipe_string(s);
  s = std::move(fresh);
}

void append_wiping(std::string& s, std::string_view add) {
  const std::size_t need = s.size() + add.size();
  if (need > s.capacity()) {
    reserve_wiping(s, std::max(need, s.capacity() * 2));
  }
  s.append(add);
}

void wipe_string(std::string& s) noexcept {
  kp::secure_wipe(s.data(), s.size());
  s.clear();
}

bool build_response_head(std::string& out, const kp::HttpResponse& r, bool keep_alive, unsigned req_version,
                         bool head_request) {
  out += "HTTP/1.1 ";
  append_decimal(out, r.status);
  out += ' ';
  out += reason_phrase(r.status);
  out += "\r\n";
  bool has_date = false;
  for (const auto& [name, value] : r.headers.fields()) {
    if (is_hop_by_hop(name) || !is_token(name) || !kp::is_safe_field_value(value)) {
      continue;
    }
    has_date = has_date || kp::iequals(name, "date");
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!has_date) {
    append_date_field(out);
  }
  const bool bodiless_status = r.status == 204 || r.status == 304;
  if (!bodiless_status) {
    out += "Content-Length: ";
    append_decimal(out, r.body.size());
    out += "\r\n";
  }
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (req_version < 11) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return !bodiless_status && !head_request;
}

std::size_t leading_empty_lines(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == '\r' || s[i] == '\n')) {
    ++i;
  }
  return i;
}

}  // namespace kp::net::detail
