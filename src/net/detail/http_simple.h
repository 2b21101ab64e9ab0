// File: net/detail/http_simple.h
//
// A fast path for reading the requests AWS SDKs send and the responses KMS
// sends. Every SDK request to the proxy has the same plain shape: "POST /
// HTTP/1.1", a dozen fields, a Content-Length and a body of a few hundred
// bytes, all in one read; KMS answers in kind. For that shape Beast's general
// parser (obs-fold, chunked framing, trailers, token lists, incremental
// input) cost about a seventh of the proxy's instructions per request.
//
// parse_simple_request() and parse_simple_response() accept only a strict
// subset of HTTP/1.1 that Beast (with the RequestSink / ResponseSink rules)
// parses the same way, and only when the whole message is already buffered.
// Anything else -- Transfer-Encoding, Expect, Upgrade, Connection lists,
// obs-fold, bare LF, bytes outside visible ASCII, a second Content-Length, a
// header or body over its limit, a message not yet complete -- is declined,
// and the caller reads the message with Beast from its first byte, which
// then decides (accepts or answers with its error). Responses besides: a
// status outside 200-599, 204 and 304 (no body whatever the fields say) and
// a missing Content-Length (a body that runs to the end of the connection)
// go to Beast. So there is one parser for everything unusual and the fast
// path can only agree with it: simple_message_oracle.h runs Beast on the
// same bytes, and http_simple_test.cc and fuzz/http_request.cc check that
// every accepted input yields the message, the length consumed and the
// keep-alive decision Beast yields.
//
// Pure: no Asio, no Beast. Internal to net/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/http_message.h"

namespace kp::net::detail {

struct SimpleLimits {
  std::size_t header_limit = 8192;  // bytes of the header block (start line to final CRLF)
  std::uint64_t body_limit = 1 << 20;
};

struct SimpleMessage {
  std::size_t consumed = 0;  // head and body bytes taken from the input
  bool keep_alive = true;    // as Beast's basic_parser::keep_alive() would say
};

/// Parses one complete request at the start of `in` when it has the plain
/// shape (see above) and fills `req` (which must be default-constructed).
/// Returns nullopt for anything else, `req` reset to a default-constructed
/// request (no body byte has been copied into it).
std::optional<SimpleMessage> parse_simple_request(std::string_view in, const SimpleLimits& limits,
                                                  kp::HttpRequest& req);

/// The same for a response to a request other than HEAD, into `resp`.
std::optional<SimpleMessage> parse_simple_response(std::string_view in, const SimpleLimits& limits,
                                                   kp::HttpResponse& resp);

}  // namespace kp::net::detail
