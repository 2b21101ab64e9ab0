// File: net/detail/http_simple.h
//
// A fast path for reading the requests AWS SDKs send. Every SDK request to
// the proxy has the same plain shape: "POST / HTTP/1.1", a dozen fields, a
// Content-Length and a body of a few hundred bytes, all in one read. For that
// shape Beast's general parser (obs-fold, chunked framing, trailers, token
// lists, incremental input) costs about a tenth of the proxy's instructions
// per request.
//
// parse_simple_request() accepts only a strict subset of HTTP/1.1 that Beast
// (with the server's RequestSink rules) parses the same way, and only when
// the whole message is already buffered. Anything else -- Transfer-Encoding,
// Expect, Upgrade, Connection lists, obs-fold, bare LF, bytes outside
// visible ASCII, a second Content-Length, a header or body over its limit, a
// message not yet complete -- is declined, and the caller reads the request
// with Beast from the first byte, which then decides (accepts or answers with
// its error). So there is one parser for everything unusual and the fast
// path can only agree with it: fuzz/http_simple_request.cc and
// http_simple_test.cc check that every accepted input yields the message,
// the length consumed and the keep-alive decision Beast yields.
//
// Pure: no Asio, no Beast. Internal to net/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/http_message.h"

namespace kp::net::detail {

struct SimpleRequestLimits {
  std::size_t header_limit = 8192;  // bytes of the header block, final CRLF included
  std::uint64_t body_limit = 1 << 20;
};

struct SimpleRequest {
  std::size_t consumed = 0;  // head and body bytes taken from the input
  bool keep_alive = true;    // as Beast's basic_parser::keep_alive() would say
};

/// Parses one complete request at the start of `in` when it has the plain
/// shape (see above) and fills `req` (which must be default-constructed).
/// Returns nullopt for anything else, `req` reset to a default-constructed
/// request (no body byte has been copied into it).
std::optional<SimpleRequest> parse_simple_request(std::string_view in, const SimpleRequestLimits& limits,
                                                  kp::HttpRequest& req);

}  // namespace kp::net::detail
