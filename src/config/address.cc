#include "config/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace kp::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

IpAddress IpAddress::unmapped() const noexcept {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!v6 || std::memcmp(bytes.data(), kMappedPrefix, sizeof kMappedPrefix) != 0) {
    return *this;
  }
  IpAddress out;
  out.v6 = false;
  std::copy(bytes.begin() + 12, bytes.end(), out.bytes.begin());
  return out;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) {
    return {};
  }
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    if (text.find(':') == std::string_view::npos) {
      return std::nullopt;  // brackets are for IPv6 only
    }
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  // inet_pton needs a NUL-terminated string; bounded copy.
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress out;
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, out.bytes.data()) != 1) {
      return std::nullopt;
    }
    out.v6 = true;
    return out;
  }
  // inet_pton(AF_INET) accepts only the four-part dotted decimal form.
  if (inet_pton(AF_INET, buf, out.bytes.data()) != 1) {
    return std::nullopt;
  }
  return out;
}

bool is_valid_hostname(std::string_view text) {
  if (!text.empty() && text.back() == '.') {
    text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  std::string_view last;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!is_alnum(c) && c != '-') {
        return false;
      }
    }
    last = label;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  // A numeric last label would make "127.1" or "1.2.3.4.5" a host name that
  // some resolvers turn into an address: refuse it.
  return !std::all_of(last.begin(), last.end(), is_digit);
}

bool is_loopback_host(std::string_view host) {
  if (to_lower_ascii(host) == "localhost") {
    return true;
  }
  const auto ip = parse_ip(host);
  if (!ip) {
    return false;
  }
  const IpAddress a = ip->unmapped();
  if (!a.v6) {
    return a.bytes[0] == 127;
  }
  static constexpr std::uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a.bytes.data(), kLoop6, 16) == 0;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
    return std::nullopt;
  }
  unsigned v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

std::optional<Authority> parse_authority(std::string_view text) {
  Authority out;
  std::string_view host;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return std::nullopt;
      }
      out.port = parse_port(rest.substr(1));
      if (!out.port) {
        return std::nullopt;
      }
    }
    const auto ip = parse_ip(host);
    if (!ip || !ip->v6) {
      return std::nullopt;
    }
    out.host = std::string(host);
    return out;
  }
  const std::size_t colons = static_cast<std::size_t>(std::count(text.begin(), text.end(), ':'));
  if (colons > 1) {
    // Bare IPv6 literal, no port possible.
    const auto ip = parse_ip(text);
    if (!ip || !ip->v6) {
      return std::nullopt;
    }
    out.host = std::string(text);
    return out;
  }
  host = text;
  if (colons == 1) {
    const std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    out.port = parse_port(text.substr(colon + 1));
    if (!out.port) {
      return std::nullopt;
    }
  }
  if (!parse_ip(host) && !is_valid_hostname(host)) {
    return std::nullopt;
  }
  out.host = std::string(host);
  return out;
}

std::string format_authority(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out += '[';
    out += host;
    out += ']';
  } else {
    out += host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace kp::config
