// Fuzz target: the HTTP server's request reading path, byte for byte as
// net/http_session.cc's session runs it: detail::RequestSink (Beast
// basic_parser into kp::HttpRequest) with the server's header/body limits and
// the fast path (detail::take_simple) that read_message offers the buffer to,
// detail::read_message over a detail::WipingBuffer sized like the server's
// (8 KiB initial, max_header_bytes + 16 KiB), header first, then eager body,
// then the next pipelined request from the leftover bytes. The socket is
// replaced by an in-memory stream that hands the bytes out in chunks, so
// message boundaries fall at fuzzer-chosen places.
// net exposes no parse function and no test-stream harness; this file uses
// its internal net/detail headers (read-only) and must follow them if the
// session loop changes.
//
// Input layout: byte 0 = chunk size (0: everything in one read), byte 1 bit
// 0 = tight limits (header 256 B, body 64 B) so limit paths are reached with
// small inputs; the rest is the wire.
// Properties checked: every request handed on has a method and a target, a
// version of 10 or 11, a body within the limit (equal to Content-Length when
// that was the framing); parsing consumes no more than what was received;
// whatever bytes the fast path is offered and accepts, Beast reads the same
// request from them (same fields, body, length consumed, keep-alive); and
// the whole wire read as an upstream response: the client's fast path
// (parse_simple_response) agrees with Beast's ResponseSink, and the client's
// read loop (read_message with the fast path, reads split as for requests)
// ends exactly as it does with Beast alone.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "base/http_message.h"
#include "fuzz_util.h"
#include "net/detail/http_parse.h"
#include "net/detail/http_wire.h"
#include "net/detail/simple_message_oracle.h"
#include "net/detail/wiping_buffer.h"
#include "net/http_server.h"
#include "net/upstream_client.h"

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using kp::net::detail::ErrorCode;

// The server's buffer constants (http_session.cc kInitialReadBuffer / kReadSlack).
constexpr std::size_t kInitialReadBuffer = 8 * 1024;
constexpr std::size_t kReadSlack = 16 * 1024;
// More pipelined requests than this in one input add no coverage.
constexpr int kMaxRequests = 32;

// A read-only in-memory stream with the async_read_some signature
// read_message() needs; completes through the executor like a socket.
class ChunkStream {
 public:
  using executor_type = asio::any_io_executor;

  ChunkStream(executor_type ex, std::string_view wire, std::size_t chunk)
      : ex_(std::move(ex)), wire_(wire), chunk_(chunk == 0 ? wire.size() + 1 : chunk) {}

  executor_type get_executor() const noexcept { return ex_; }
  std::size_t delivered() const noexcept { return pos_; }

  template <class MutableBuffer, class Token>
  auto async_read_some(const MutableBuffer& buffer, Token&& token) {
    return asio::async_initiate<Token, void(ErrorCode, std::size_t)>(
        [this](auto handler, asio::mutable_buffer b) {
          ErrorCode ec;
          std::size_t n = 0;
          if (pos_ >= wire_.size()) {
            ec = asio::error::eof;
          } else {
            n = std::min({b.size(), chunk_, wire_.size() - pos_});
            std::memcpy(b.data(), wire_.data() + pos_, n);
            pos_ += n;
          }
          asio::post(ex_, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
        },
        token, asio::mutable_buffer(buffer));
  }

 private:
  executor_type ex_;
  std::string_view wire_;
  std::size_t chunk_;
  std::size_t pos_ = 0;
};

void check_request(const kp::HttpRequest& req, const kp::net::ServerOptions& opt) {
  KP_FUZZ_CHECK(!req.method.empty());
  KP_FUZZ_CHECK(!req.target.empty());
  KP_FUZZ_CHECK(req.version == 10 || req.version == 11);
  KP_FUZZ_CHECK(req.body.size() <= opt.max_body_bytes);
  std::size_t header_bytes = 0;
  for (const auto& [name, value] : req.headers.fields()) {
    KP_FUZZ_CHECK(kp::net::detail::is_token(name));
    KP_FUZZ_CHECK(kp::is_safe_field_value(value));
    header_bytes += name.size() + value.size();
    (void)kp::net::detail::has_token(value, "100-continue");
    (void)kp::net::detail::listed_in_connection(value, "close");
    (void)kp::net::detail::is_hop_by_hop(name);
  }
  // The whole header block is bounded, also when fields arrive across reads
  // (detail::BudgetedParser; Beast 1.81 alone limits each put() only).
  KP_FUZZ_CHECK(header_bytes <= opt.max_header_bytes);
  const auto te = req.headers.get("transfer-encoding");
  const auto cl = req.headers.get("content-length");
  if (!te && cl) {
    // Beast accepted the framing, so the value is a plain decimal number.
    std::uint64_t n = 0;
    const auto [end, err] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    KP_FUZZ_CHECK(err == std::errc{} && end == cl->data() + cl->size());
    KP_FUZZ_CHECK(n == req.body.size());
  }
}

// The session loop of http_session.cc without the handler and the writes.
asio::awaitable<void> session(ChunkStream& stream, kp::net::ServerOptions opt) {
  kp::net::detail::WipingBuffer buf(kInitialReadBuffer, opt.max_header_bytes + kReadSlack);
  std::size_t total_received = 0;
  for (int i = 0; i < kMaxRequests; ++i) {
    if (buf.size() == 0) {
      auto [ec, n] = co_await stream.async_read_some(buf.prepare_at_least(4096),
                                                     asio::as_tuple(asio::use_awaitable));
      buf.commit(n);
      total_received += n;
      if (ec) {
        break;
      }
    }
    kp::HttpRequest req;
    const kp::net::detail::SimpleLimits limits{
        .header_limit = std::min<std::size_t>(opt.max_header_bytes, std::numeric_limits<std::uint32_t>::max()),
        .body_limit = static_cast<std::uint64_t>(opt.max_body_bytes)};
    kp::net::detail::RequestSink parser(req);
    parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
    parser.body_limit(limits.body_limit);
    // The session's fast path; whatever bytes it is offered, it must agree
    // with Beast on them (the oracle runs Beast on the same bytes).
    std::optional<kp::net::detail::SimpleMessage> simple;
    const auto fast = [&](kp::net::detail::WipingBuffer& b) {
      const auto in = b.data();
      const std::string disagreement = kp::net::detail::simple_request_disagreement(
          std::string_view(static_cast<const char*>(in.data()), in.size()), limits);
      if (!disagreement.empty()) {
        std::fprintf(stderr, "fast path vs Beast: %s\n", disagreement.c_str());
      }
      KP_FUZZ_CHECK(disagreement.empty());
      simple = kp::net::detail::take_simple(b, limits, req);
      return simple.has_value();
    };
    std::size_t received = 0;
    ErrorCode ec = co_await kp::net::detail::read_message(stream, buf, parser,
                                                          kp::net::detail::ReadUntil::kHeader, received, fast);
    if (!ec && !simple && !parser.is_done()) {
      parser.eager(true);
      ec = co_await kp::net::detail::read_message(stream, buf, parser, kp::net::detail::ReadUntil::kMessage,
                                                  received);
    }
    total_received += received;
    KP_FUZZ_CHECK(total_received == stream.delivered());
    KP_FUZZ_CHECK(buf.size() <= total_received);
    if (ec) {
      kp::net::detail::wipe_string(req.body);
      KP_FUZZ_CHECK(req.body.empty());
      break;
    }
    KP_FUZZ_CHECK(simple || parser.is_done());
    check_request(req, opt);
    (void)parser.expect_continue();
    if (!(simple ? simple->keep_alive : parser.keep_alive())) {
      break;
    }
  }
}

// What the upstream client's read of one response ends with.
struct ResponseRead {
  ErrorCode ec;
  kp::HttpResponse resp;
  bool keep = false;
  std::size_t left = 0;  // bytes left in the buffer
};

// upstream_client.cc exchange()'s read loop (interim 1xx responses skipped),
// with or without its fast path.
asio::awaitable<void> read_response(ChunkStream& stream, kp::net::detail::SimpleLimits limits, bool with_fast,
                                    ResponseRead& out) {
  namespace d = kp::net::detail;
  d::WipingBuffer buf(kInitialReadBuffer, limits.header_limit + kReadSlack);
  std::size_t received = 0;
  for (int i = 0; i < kMaxRequests; ++i) {
    out.resp = kp::HttpResponse{};
    d::ResponseSink parser(out.resp);
    parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
    parser.body_limit(limits.body_limit);
    parser.eager(true);
    std::optional<d::SimpleMessage> simple;
    const auto fast = [&](d::WipingBuffer& b) {
      simple = with_fast ? d::take_simple(b, limits, out.resp) : std::nullopt;
      return simple.has_value();
    };
    out.ec = co_await d::read_message(stream, buf, parser, d::ReadUntil::kMessage, received, fast);
    out.left = buf.size();
    if (out.ec) {
      co_return;
    }
    if (simple) {
      out.keep = simple->keep_alive;
      co_return;
    }
    out.keep = parser.keep_alive();
    if (out.resp.status / 100 != 1 || out.resp.status == 101) {
      co_return;
    }
  }
}

ResponseRead run_read_response(std::string_view wire, std::size_t chunk, const kp::net::detail::SimpleLimits& limits,
                               bool with_fast) {
  ResponseRead out;
  asio::io_context io;
  ChunkStream stream(io.get_executor(), wire, chunk);
  bool finished = false;
  asio::co_spawn(io, read_response(stream, limits, with_fast, out), [&finished](std::exception_ptr e) {
    KP_FUZZ_CHECK(!e);
    finished = true;
  });
  io.run();
  KP_FUZZ_CHECK(finished);
  return out;
}

std::string render(const kp::HttpResponse& r) {
  return std::to_string(r.status) + "\n" + kp::net::detail::render_fields(r.headers) + "\n" + r.body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::size_t chunk = data[0];
  kp::net::ServerOptions opt;  // the server's defaults: 16 KiB header, 1 MiB body
  if ((data[1] & 1) != 0) {
    opt.max_header_bytes = 256;
    opt.max_body_bytes = 64;
  }
  const std::string_view wire(reinterpret_cast<const char*>(data + 2), size - 2);

  // The same bytes read as an upstream response: the client's fast path must
  // agree with Beast (ResponseSink) too, with the client's default limits.
  const kp::net::UpstreamOptions upstream;
  const std::string response_disagreement = kp::net::detail::simple_response_disagreement(
      wire, {.header_limit = upstream.max_response_header, .body_limit = upstream.max_response_body});
  if (!response_disagreement.empty()) {
    std::fprintf(stderr, "response fast path vs Beast: %s\n", response_disagreement.c_str());
  }
  KP_FUZZ_CHECK(response_disagreement.empty());
  // And the client's whole read, with reads split as the first byte says:
  // with the fast path it ends exactly as with Beast alone.
  const kp::net::detail::SimpleLimits response_limits{.header_limit = (data[1] & 1) != 0 ? std::size_t{256} : std::size_t{8192},
                                                      .body_limit = (data[1] & 1) != 0 ? std::uint64_t{64} : std::uint64_t{1} << 20};
  const ResponseRead with_fast = run_read_response(wire, chunk, response_limits, true);
  const ResponseRead beast_only = run_read_response(wire, chunk, response_limits, false);
  KP_FUZZ_CHECK(with_fast.ec == beast_only.ec);
  if (!with_fast.ec) {
    KP_FUZZ_CHECK(render(with_fast.resp) == render(beast_only.resp));
    KP_FUZZ_CHECK(with_fast.keep == beast_only.keep);
    KP_FUZZ_CHECK(with_fast.left == beast_only.left);
  }

  asio::io_context io;
  ChunkStream stream(io.get_executor(), wire, chunk);
  bool finished = false;
  asio::co_spawn(io, session(stream, opt), [&finished](std::exception_ptr e) {
    KP_FUZZ_CHECK(!e);  // the read path must not throw
    finished = true;
  });
  io.run();
  KP_FUZZ_CHECK(finished);
  return 0;
}
