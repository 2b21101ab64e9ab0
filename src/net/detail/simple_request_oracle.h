// File: net/detail/simple_request_oracle.h
//
// The oracle for parse_simple_request(): Beast, run on the same bytes the way
// the server's session runs it (RequestSink with the same header and body
// limits, the header with its budget, then the body eagerly), and a
// comparison of the two results. For tests and the differential fuzz target
// only: pulls in Beast's parser.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "net/detail/http_parse.h"
#include "net/detail/http_simple.h"

namespace kp::net::detail {

struct OracleParse {
  bool ok = false;  // Beast parsed one complete request without error
  kp::HttpRequest req;
  std::size_t consumed = 0;
  bool keep_alive = false;
};

inline OracleParse beast_parse_request(std::string_view in, const SimpleRequestLimits& limits) {
  OracleParse r;
  RequestSink parser(r.req);
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

/// Empty when parse_simple_request() declines `in` or agrees with Beast on
/// it; otherwise what differs.
inline std::string simple_request_disagreement(std::string_view in, const SimpleRequestLimits& limits) {
  kp::HttpRequest fast_req;
  const auto fast = parse_simple_request(in, limits, fast_req);
  if (!fast) {
    return {};
  }
  const OracleParse beast = beast_parse_request(in, limits);
  if (!beast.ok) {
    return "fast path accepted a request Beast refuses";
  }
  if (fast->consumed != beast.consumed) {
    return "consumed " + std::to_string(fast->consumed) + " vs Beast's " + std::to_string(beast.consumed);
  }
  if (fast->keep_alive != beast.keep_alive) {
    return "keep-alive differs";
  }
  if (fast_req.method != beast.req.method || fast_req.target != beast.req.target ||
      fast_req.version != beast.req.version) {
    return "request line differs";
  }
  if (fast_req.body != beast.req.body) {
    return "body differs";
  }
  const auto render = [](const kp::Headers& h) {
    std::string out;
    for (const auto& [name, value] : h.fields()) {
      out.append(name).append(": ").append(value).append("\n");
    }
    return out;
  };
  const std::string mine = render(fast_req.headers);
  const std::string theirs = render(beast.req.headers);
  if (mine != theirs) {
    return "fields differ:\n" + mine + "-- Beast:\n" + theirs;
  }
  return {};
}

}  // namespace kp::net::detail
