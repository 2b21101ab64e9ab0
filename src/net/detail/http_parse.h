// File: net/detail/http_parse.h
//
// Beast basic_parser sinks that parse straight into kp::HttpRequest and
// kp::HttpResponse (no intermediate beast::http::fields, one allocation per
// header string at most), and the coroutine read loop shared by the server
// and the upstream client. Bodies grow with append_wiping() so no unwiped copy
// of a plaintext is left behind by a reallocation.
//
// Internal to net/: include only from .cc files (pulls in Beast's parser).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "base/encoding.h"
#include "base/http_message.h"
#include "net/detail/http_simple.h"
#include "net/detail/http_wire.h"
#include "net/detail/wiping_buffer.h"

namespace kp::net::detail {

namespace bhttp = boost::beast::http;
using BeastStringView = boost::beast::string_view;
using ErrorCode = boost::system::error_code;

inline std::string_view sv(BeastStringView s) noexcept { return {s.data(), s.size()}; }

/// A basic_parser whose header_limit bounds the whole header block (start
/// line, fields, separators, final CRLF), not the bytes of one put() call.
///
/// Why: Beast 1.81 compares header_limit with the bytes a put() has not yet
/// parsed (separately for the start line and for the fields); what earlier
/// put() calls consumed no longer counts. A peer sending one field per read
/// (each read ending on a line end) could grow the header without bound
/// until the read timeout. read_message() therefore hands the parser at most
/// header_left() bytes while the header is incomplete and reports what each
/// put() consumed; a header still incomplete after header_left() bytes fails
/// with bhttp::error::header_limit, as one that arrived in a single read.
template <bool IsRequest>
class BudgetedParser : public bhttp::basic_parser<IsRequest> {
 public:
  /// Hides basic_parser::header_limit: the limit for the whole header block.
  void header_limit(std::uint32_t v) {
    header_max_ = v;
    bhttp::basic_parser<IsRequest>::header_limit(v);
  }

  /// Header bytes that may still be parsed.
  std::size_t header_left() const noexcept {
    return header_used_ >= header_max_ ? 0 : static_cast<std::size_t>(header_max_ - header_used_);
  }

  /// One put() consumed `n` bytes that were all header bytes.
  void header_consumed(std::size_t n) noexcept { header_used_ += n; }

 protected:
  /// For on_field_impl: true when the field comes after the header block,
  /// in the trailer section of a chunked body (RFC 9112 7.1.2); the caller
  /// then drops it. RFC 9110 6.5.1 forbids merging trailer fields into the
  /// header fields unless their definitions allow it, and a field arriving
  /// after the body (X-Amz-Target, Authorization, ...) must not change how
  /// the message is read. Its bytes still count, against a budget as large
  /// as the header block's, so that a trailer section trickled in over many
  /// reads cannot run on until the body timeout. Sets `ec` to header_limit
  /// when it is spent.
  bool drop_trailer_field(BeastStringView name, BeastStringView value, ErrorCode& ec) noexcept {
    if (!this->is_header_done()) {
      return false;
    }
    trailer_used_ += name.size() + value.size() + 4;  // ": " and CRLF
    if (trailer_used_ > header_max_) {
      ec = bhttp::error::header_limit;
    }
    return true;
  }

 private:
  std::uint64_t header_max_ = 8192;  // Beast's default
  std::uint64_t header_used_ = 0;
  std::uint64_t trailer_used_ = 0;
};

/// Parses one request into a kp::HttpRequest.
class RequestSink final : public BudgetedParser<true> {
 public:
  explicit RequestSink(kp::HttpRequest& req) : req_(req) {}

  /// The request carried "Expect: 100-continue" (RFC 9110 10.1.1).
  bool expect_continue() const noexcept { return expect_continue_; }

 private:
  void on_request_impl(bhttp::verb, BeastStringView method, BeastStringView target, int version,
                       ErrorCode&) override {
    req_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
    req_.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, BeastStringView, int, ErrorCode& ec) override {
    ec = bhttp::error::bad_version;  // never called for requests
  }
  void on_field_impl(bhttp::field f, BeastStringView name, BeastStringView value, ErrorCode& ec) override {
    if (this->drop_trailer_field(name, value, ec)) {
      return;
    }
    if (f == bhttp::field::expect && has_token(sv(value), "100-continue")) {
      expect_continue_ = true;
    }
    if (f == bhttp::field::transfer_encoding) {
      saw_transfer_encoding_ = true;
      // Only chunked is understood: "identity, chunked" or "gzip, chunked"
      // would end in chunked and pass Beast's check below, with the other
      // coding silently ignored.
      if (!only_token(sv(value), "chunked")) {
        ec = bhttp::error::bad_transfer_encoding;
        return;
      }
    }
    // RFC 9112 6.3 lets a recipient accept "Content-Length: 42, 42" (a list
    // of identical values, as Beast 1.81 does) or reject it. Requests are
    // rejected: no SDK sends one, and a length only this parser reads the
    // same way is how request smuggling starts.
    // Two Content-Length fields with one value are the same list spelled
    // twice: rejected too.
    if (f == bhttp::field::content_length && (!kp::is_decimal_digits(sv(value)) || saw_content_length_)) {
      ec = bhttp::error::bad_content_length;
      return;
    }
    saw_content_length_ = saw_content_length_ || f == bhttp::field::content_length;
    req_.headers.add(sv(name), sv(value));
  }

  void on_header_impl(ErrorCode& ec) override {
    // RFC 9112 6.1/6.3: a request whose Transfer-Encoding does not end in
    // chunked has no reliable length (Beast would read it as empty and parse
    // the body as the next request). Only plain "chunked" is understood
    // (Beast rejects a second chunked and chunked with Content-Length).
    if (saw_transfer_encoding_ && !this->chunked()) {
      ec = bhttp::error::bad_transfer_encoding;
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, ErrorCode&) override {
    // Beast has already checked the length against body_limit.
    if (length) {
      reserve_wiping(req_.body, static_cast<std::size_t>(*length));
    }
  }
  std::size_t on_body_impl(BeastStringView s, ErrorCode&) override {
    append_wiping(req_.body, sv(s));
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, BeastStringView, ErrorCode&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, BeastStringView s, ErrorCode&) override {
    append_wiping(req_.body, sv(s));
    return s.size();
  }
  void on_finish_impl(ErrorCode&) override {}

  kp::HttpRequest& req_;
  bool expect_continue_ = false;
  bool saw_transfer_encoding_ = false;
  bool saw_content_length_ = false;
};

/// Parses one response into a kp::HttpResponse (all fields kept; the caller
/// filters hop-by-hop fields).
class ResponseSink final : public BudgetedParser<false> {
 public:
  explicit ResponseSink(kp::HttpResponse& resp) : resp_(resp) {}

 private:
  void on_request_impl(bhttp::verb, BeastStringView, BeastStringView, int, ErrorCode& ec) override {
    ec = bhttp::error::bad_version;  // never called for responses
  }
  void on_response_impl(int code, BeastStringView, int, ErrorCode&) override {
    resp_.status = static_cast<unsigned>(code);
  }
  void on_field_impl(bhttp::field, BeastStringView name, BeastStringView value, ErrorCode& ec) override {
    if (this->drop_trailer_field(name, value, ec)) {
      return;
    }
    resp_.headers.add(sv(name), sv(value));
  }
  void on_header_impl(ErrorCode&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, ErrorCode&) override {
    if (length) {
      reserve_wiping(resp_.body, static_cast<std::size_t>(*length));
    }
  }
  std::size_t on_body_impl(BeastStringView s, ErrorCode&) override {
    append_wiping(resp_.body, sv(s));
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, BeastStringView, ErrorCode&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, BeastStringView s, ErrorCode&) override {
    append_wiping(resp_.body, sv(s));
    return s.size();
  }
  void on_finish_impl(ErrorCode&) override {}

  kp::HttpResponse& resp_;
};

/// The fast path of read_message() (http_simple.h): a whole plain message at
/// the front of `buf`, read into `msg` (a kp::HttpRequest or kp::HttpResponse)
/// and consumed from `buf`; otherwise nullopt, `buf` untouched and `msg` reset.
template <class Message>
std::optional<SimpleMessage> take_simple(WipingBuffer& buf, const SimpleLimits& limits, Message& msg) {
  const auto in = buf.data();
  const std::string_view bytes(static_cast<const char*>(in.data()), in.size());
  std::optional<SimpleMessage> taken;
  if constexpr (std::is_same_v<Message, kp::HttpRequest>) {
    taken = parse_simple_request(bytes, limits, msg);
  } else {
    taken = parse_simple_response(bytes, limits, msg);
  }
  if (taken) {
    buf.consume(taken->consumed);
  }
  return taken;
}

/// What read_message() stops at.
enum class ReadUntil { kHeader, kMessage };

/// read_message() without a fast path.
struct NoFastPath {
  bool operator()(WipingBuffer&) const noexcept { return false; }
};

/// Feeds `buf` to `parser`, reading from `stream` as needed, until the header
/// or the whole message is parsed. `fast(buf)`, tried while Beast has not yet
/// consumed a byte of the message, may instead take a complete message off
/// the front of the buffer (see http_simple.h) and return true; read_message
/// then returns success with `parser` unused. The stream's own deadline (TimedStream or
/// beast::basic_stream expires_*) bounds the wait. `received` counts the bytes read
/// from the socket by this call (the client's retry rule needs it).
///
/// Returns: {} on success; bhttp::error::end_of_stream when the peer closed
/// before sending anything; partial_message on EOF mid-message; parser errors
/// (header_limit, body_limit, bad_*); buffer_overflow when the buffer is full;
/// socket errors as they come (timeouts as beast::error::timeout).
template <class Stream, bool IsRequest, class FastPath = NoFastPath>
boost::asio::awaitable<ErrorCode> read_message(Stream& stream, WipingBuffer& buf,
                                               BudgetedParser<IsRequest>& parser, ReadUntil until,
                                               std::size_t& received, FastPath fast = {}) {
  const auto done = [&] {
    return until == ReadUntil::kHeader ? parser.is_header_done() : parser.is_done();
  };
  // Until Beast consumes a byte (it takes the start line and each complete
  // field as they arrive, calling the sink) the buffer still starts with the
  // message and the sink's message is untouched: only then may the fast path
  // take it. A few tries: a message trickling in goes to Beast, which does not
  // rescan what it has seen.
  int fast_tries = 3;
  bool beast_started = false;
  for (;;) {
    if (done()) {
      co_return ErrorCode{};
    }
    if (buf.size() != 0) {
      if (fast_tries > 0 && !beast_started) {
        --fast_tries;
        if (fast(buf)) {
          co_return ErrorCode{};  // the fast path read the whole message
        }
      }
      ErrorCode ec;
      auto in = buf.data();
      // While the header is incomplete, Beast sees no more than the header
      // budget left (see BudgetedParser).
      const bool in_header = !parser.is_header_done();
      const std::size_t left = in_header ? parser.header_left() : in.size();
      const bool capped = in_header && in.size() >= left;
      if (capped) {
        if (left == 0) {
          co_return ErrorCode(bhttp::error::header_limit);
        }
        in = boost::asio::buffer(in, left);
      }
      const std::size_t used = parser.put(in, ec);
      buf.consume(used);
      beast_started = beast_started || used != 0;
      if (in_header && !parser.is_header_done()) {
        parser.header_consumed(used);
        if (capped && ec == bhttp::error::need_more) {
          co_return ErrorCode(bhttp::error::header_limit);  // not complete within the budget
        }
      }
      if (ec && ec != bhttp::error::need_more) {
        co_return ec;
      }
      if (done()) {
        co_return ErrorCode{};
      }
      if (!ec && used != 0) {
        continue;
      }
    }
    auto space = buf.prepare_at_least(4096);
    if (space.size() == 0) {
      co_return ErrorCode(bhttp::error::buffer_overflow);
    }
    auto [ec, n] = co_await stream.async_read_some(space, boost::asio::as_tuple(boost::asio::use_awaitable));
    buf.commit(n);
    received += n;
    // A TLS peer that closes without close_notify reports stream_truncated;
    // HTTP framing tells us whether anything is actually missing.
    if (ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated ||
        (n == 0 && !ec)) {
      if (!parser.got_some() && buf.size() == 0) {
        co_return ErrorCode(bhttp::error::end_of_stream);
      }
      ErrorCode eof_ec;
      if (buf.size() == 0) {
        parser.put_eof(eof_ec);
      } else {
        eof_ec = bhttp::error::partial_message;
      }
      if (eof_ec) {
        co_return eof_ec;
      }
      co_return done() ? ErrorCode{} : ErrorCode(bhttp::error::partial_message);
    }
    if (ec) {
      co_return ec;
    }
  }
}

}  // namespace kp::net::detail
