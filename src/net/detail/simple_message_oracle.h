// File: net/detail/simple_message_oracle.h
//
// The oracle for parse_simple_request() and parse_simple_response(): Beast,
// run on the same bytes the way the server's session and the upstream
// client run it (RequestSink / ResponseSink with the same header and body
// limits, the header with its budget, then the body eagerly), and a
// comparison of the two results. For tests and the differential fuzz target
// only: pulls in Beast's parser.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "net/detail/http_parse.h"
#include "net/detail/http_simple.h"

namespace kp::net::detail {

/// The fields one per line ("name: value"), in order: for comparisons.
inline std::string render_fields(const kp::Headers& h) {
  std::string out;
  for (const auto& [name, value] : h.fields()) {
    out.append(name).append(": ").append(value).append("\n");
  }
  return out;
}

template <class Message>
struct OracleParse {
  bool ok = false;  // Beast parsed one complete message without error
  Message msg;
  std::size_t consumed = 0;
  bool keep_alive = false;
};

/// Beast's reading of `in`: RequestSink for a kp::HttpRequest, ResponseSink
/// for a kp::HttpResponse.
template <class Message>
OracleParse<Message> beast_parse(std::string_view in, const SimpleLimits& limits) {
  using Sink = std::conditional_t<std::is_same_v<Message, kp::HttpRequest>, RequestSink, ResponseSink>;
  OracleParse<Message> r;
  Sink parser(r.msg);
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits.header_limit, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(limits.body_limit);
  ErrorCode ec;
  // The header, at most the budget's bytes (read_message's rule).
  const std::size_t left = parser.header_left();
  std::size_t used = parser.put(boost::asio::buffer(in.data(), std::min(in.size(), left)), ec);
  if (ec || !parser.is_header_done()) {
    return r;
  }
  std::size_t at = used;
  parser.eager(true);
  while (!parser.is_done()) {
    used = parser.put(boost::asio::buffer(in.data() + at, in.size() - at), ec);
    at += used;
    if (ec || used == 0) {
      return r;
    }
  }
  r.ok = true;
  r.consumed = at;
  r.keep_alive = parser.keep_alive();
  return r;
}

/// Empty when the fast path declines `in` or agrees with Beast on it;
/// otherwise what differs. `Message`: kp::HttpRequest or kp::HttpResponse.
template <class Message>
std::string simple_disagreement(std::string_view in, const SimpleLimits& limits) {
  Message fast_msg;
  std::optional<SimpleMessage> fast;
  if constexpr (std::is_same_v<Message, kp::HttpRequest>) {
    fast = parse_simple_request(in, limits, fast_msg);
  } else {
    fast = parse_simple_response(in, limits, fast_msg);
  }
  if (!fast) {
    return {};
  }
  const auto beast = beast_parse<Message>(in, limits);
  if (!beast.ok) {
    return "fast path accepted a message Beast refuses";
  }
  if (fast->consumed != beast.consumed) {
    return "consumed " + std::to_string(fast->consumed) + " vs Beast's " + std::to_string(beast.consumed);
  }
  if (fast->keep_alive != beast.keep_alive) {
    return "keep-alive differs";
  }
  if constexpr (std::is_same_v<Message, kp::HttpRequest>) {
    if (fast_msg.method != beast.msg.method || fast_msg.target != beast.msg.target ||
        fast_msg.version != beast.msg.version) {
      return "request line differs";
    }
  } else if (fast_msg.status != beast.msg.status) {
    return "status differs";
  }
  if (fast_msg.body != beast.msg.body) {
    return "body differs";
  }
  const std::string mine = render_fields(fast_msg.headers);
  const std::string theirs = render_fields(beast.msg.headers);
  if (mine != theirs) {
    return "fields differ:\n" + mine + "-- Beast:\n" + theirs;
  }
  return {};
}

inline std::string simple_request_disagreement(std::string_view in, const SimpleLimits& limits) {
  return simple_disagreement<kp::HttpRequest>(in, limits);
}

inline std::string simple_response_disagreement(std::string_view in, const SimpleLimits& limits) {
  return simple_disagreement<kp::HttpResponse>(in, limits);
}

}  // namespace kp::net::detail
