#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "net/detail/http_parse.h"
#include "net/detail/http_wire.h"
#include "net/detail/wiping_buffer.h"
#include "net/http_server.h"

namespace kp::net::detail {
namespace {

std::string_view view(const boost::asio::const_buffer& b) {
  return {static_cast<const char*>(b.data()), b.size()};
}

void put(WipingBuffer& b, std::string_view s) {
  auto m = b.prepare(s.size());
  ASSERT_EQ(m.size(), s.size());
  std::memcpy(m.data(), s.data(), s.size());
  b.commit(s.size());
}

TEST(WipingBuffer, ConsumeWipesTheConsumedBytes) {
  WipingBuffer b(64, 1024);
  put(b, "secret-plaintext|rest");
  const char* base = static_cast<const char*>(b.data().data());
  b.consume(17);
  EXPECT_EQ(view(b.data()), "rest");
  // The consumed region of the (still allocated) block is zeroed.
  for (int i = 0; i < 17; ++i) {
    EXPECT_EQ(base[i], 0) << i;
  }
}

TEST(WipingBuffer, CompactionWipesTheVacatedTail) {
  WipingBuffer b(32, 32);
  put(b, std::string(20, 'a'));
  b.consume(10);  // 10 'a' left at offset 10..19
  const char* base = static_cast<const char*>(b.data().data()) - 10;
  put(b, std::string(15, 'b'));  // needs compaction: 10 + 15 <= 32
  EXPECT_EQ(view(b.data()), std::string(10, 'a') + std::string(15, 'b'));
  EXPECT_EQ(static_cast<const char*>(b.data().data()), base);
  EXPECT_EQ(b.capacity(), 32u);
}

TEST(WipingBuffer, GrowsUpToMaxThenReportsFull) {
  WipingBuffer b(16, 40);
  put(b, std::string(16, 'x'));
  put(b, std::string(20, 'y'));
  EXPECT_EQ(b.size(), 36u);
  EXPECT_LE(b.capacity(), 40u);
  EXPECT_EQ(b.prepare(100).size(), 4u);
  put(b, "zzzz");
  EXPECT_EQ(b.prepare(1).size(), 0u);
  b.clear();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.prepare(40).size(), 40u);
}

TEST(HttpWire, AppendWipingKeepsContent) {
  std::string s;
  for (int i = 0; i < 1000; ++i) {
    append_wiping(s, "0123456789");
  }
  EXPECT_EQ(s.size(), 10000u);
  EXPECT_EQ(s.substr(9990), "0123456789");
  wipe_string(s);
  EXPECT_TRUE(s.empty());
}

TEST(HttpWire, TokensHopByHopAndValues) {
  EXPECT_TRUE(is_token("X-Amz-Target"));
  EXPECT_FALSE(is_token("Bad Header"));
  EXPECT_FALSE(is_token(""));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09azAZ"));
  for (const char c : std::string_view("\"(),/:;<=>?@[\\]{} \t\x7f\x80", 21)) {
    const char name[] = {'a', c};
    EXPECT_FALSE(is_token(std::string_view(name, 2))) << static_cast<int>(static_cast<unsigned char>(c));
  }
  EXPECT_TRUE(is_hop_by_hop("Connection"));
  EXPECT_TRUE(is_hop_by_hop("transfer-encoding"));
  EXPECT_TRUE(is_hop_by_hop("Content-Length"));
  EXPECT_FALSE(is_hop_by_hop("x-amzn-RequestId"));
  EXPECT_TRUE(has_token("close, X-Foo", "x-foo"));
  EXPECT_TRUE(has_token(" keep-alive ", "Keep-Alive"));
  EXPECT_FALSE(has_token("keep-alive-ish", "keep-alive"));
  EXPECT_FALSE(has_token("", "close"));
  EXPECT_TRUE(has_token("a,,close", "close"));
  EXPECT_TRUE(only_token("chunked", "chunked"));
  EXPECT_TRUE(only_token(" Chunked ,, chunked", "chunked"));
  EXPECT_FALSE(only_token("", "chunked"));
  EXPECT_FALSE(only_token(" , ", "chunked"));
  EXPECT_FALSE(only_token("identity, chunked", "chunked"));
  EXPECT_FALSE(only_token("chunked;q=1", "chunked"));
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  std::string d;
  append_date_field(d);
  EXPECT_EQ(d.rfind("Date: ", 0), 0u);
  EXPECT_EQ(d.substr(d.size() - 6), " GMT\r\n");
}

TEST(ScopedWipe, ClearsTheString) {
  std::string body = "plaintext that must not linger";
  {
    kp::net::ScopedWipe w(body);
  }
  EXPECT_TRUE(body.empty());
}

// An in-memory stream handing out one scripted chunk per async_read_some
// (then EOF), so the reads the parser sees are fixed by the test.
class ScriptStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  ScriptStream(executor_type ex, std::deque<std::string> chunks) : ex_(std::move(ex)), chunks_(std::move(chunks)) {}
  executor_type get_executor() const noexcept { return ex_; }

  template <class MutableBuffer, class Token>
  auto async_read_some(const MutableBuffer& buffer, Token&& token) {
    return boost::asio::async_initiate<Token, void(ErrorCode, std::size_t)>(
        [this](auto handler, boost::asio::mutable_buffer b) {
          ErrorCode ec;
          std::size_t n = 0;
          if (chunks_.empty()) {
            ec = boost::asio::error::eof;
          } else {
            std::string& c = chunks_.front();
            n = std::min(b.size(), c.size());
            std::memcpy(b.data(), c.data(), n);
            c.erase(0, n);
            if (c.empty()) {
              chunks_.pop_front();
            }
          }
          boost::asio::post(ex_, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
        },
        token, boost::asio::mutable_buffer(buffer));
  }

 private:
  executor_type ex_;
  std::deque<std::string> chunks_;
};

template <class Sink, class Message>
ErrorCode parse_chunks(Message& msg, std::deque<std::string> chunks, std::uint32_t header_limit) {
  boost::asio::io_context io;
  ScriptStream stream(io.get_executor(), std::move(chunks));
  WipingBuffer buf(4096, 64 * 1024);
  Sink parser(msg);
  parser.header_limit(header_limit);
  parser.body_limit(1024);
  ErrorCode result = boost::asio::error::operation_aborted;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::size_t received = 0;
        result = co_await read_message(stream, buf, parser, ReadUntil::kMessage, received);
      },
      boost::asio::detached);
  io.run();
  return result;
}

// Splits `wire` one byte after every CRLF: each read then ends with the
// first byte of the next line. Beast 1.81 parses every complete field of
// such a read and leaves fewer than 3 bytes, so its per-put() header_limit
// check never sees more than one line.
std::deque<std::string> split_after_line_ends(std::string_view wire) {
  std::deque<std::string> chunks;
  std::size_t from = 0;
  for (std::size_t pos = wire.find("\r\n"); pos != std::string_view::npos; pos = wire.find("\r\n", pos + 2)) {
    const std::size_t cut = std::min(pos + 3, wire.size());
    chunks.emplace_back(wire.substr(from, cut - from));
    from = cut;
  }
  if (from < wire.size()) {
    chunks.emplace_back(wire.substr(from));
  }
  return chunks;
}

// A head with `fields` fields of 20 bytes each ("X-Fnn: vvvvvvvvvvv\r\n")
// after `start_line` and "Content-Length: 0\r\n".
std::string head(std::string_view start_line, int fields) {
  std::string h = std::string(start_line) + "Content-Length: 0\r\n";
  for (int i = 0; i < fields; ++i) {
    h += "X-F" + std::to_string(10 + i % 90) + ": vvvvvvvvvvv\r\n";
  }
  return h + "\r\n";
}

std::deque<std::string> trickled_request(int fields) {
  return split_after_line_ends(head("POST / HTTP/1.1\r\n", fields));
}

std::size_t total_size(const std::deque<std::string>& chunks) {
  std::size_t n = 0;
  for (const auto& c : chunks) {
    n += c.size();
  }
  return n;
}

TEST(HeaderLimit, FieldsTrickledOnePerReadCountTowardsTheLimit) {
  // 17 + 19 + 40 * 20 + 2 = 838 header bytes, each read far below 256.
  ASSERT_GT(trickled_request(40).size(), 40u);
  kp::HttpRequest req;
  EXPECT_EQ(parse_chunks<RequestSink>(req, trickled_request(40), 256), bhttp::error::header_limit);
  EXPECT_LE(req.headers.fields().size(), 12u);  // parsing stopped near the limit
}

TEST(HeaderLimit, TrickledHeaderWithinTheLimitIsAccepted) {
  kp::HttpRequest req;
  EXPECT_EQ(parse_chunks<RequestSink>(req, trickled_request(10), 256), ErrorCode{});
  EXPECT_EQ(req.headers.fields().size(), 11u);
}

TEST(HeaderLimit, BoundaryIsTheSameInOneReadAndTrickled) {
  const auto chunks = trickled_request(10);
  const auto header_bytes = static_cast<std::uint32_t>(total_size(chunks));  // 238
  std::string whole;
  for (const auto& c : chunks) {
    whole += c;
  }
  for (const bool trickle : {false, true}) {
    SCOPED_TRACE(trickle ? "trickled" : "one read");
    const std::deque<std::string> input = trickle ? chunks : std::deque<std::string>{whole};
    kp::HttpRequest exact;
    EXPECT_EQ(parse_chunks<RequestSink>(exact, input, header_bytes), ErrorCode{});
    kp::HttpRequest over;
    EXPECT_EQ(parse_chunks<RequestSink>(over, input, header_bytes - 1), bhttp::error::header_limit);
  }
}

TEST(HeaderLimit, StartLineAndFieldsShareOneLimit) {
  // Beast alone applies the limit to the start line and to the fields
  // separately, so 2 x 200 bytes in one read passed a 256-byte limit.
  const std::string wire = "GET /" + std::string(180, 'a') + " HTTP/1.1\r\nX-Pad: " + std::string(200, 'b') +
                           "\r\nContent-Length: 0\r\n\r\n";
  kp::HttpRequest req;
  EXPECT_EQ(parse_chunks<RequestSink>(req, {wire}, 256), bhttp::error::header_limit);
}

TEST(HeaderLimit, ResponseFieldsTrickledCountTowardsTheLimit) {
  kp::HttpResponse resp;
  EXPECT_EQ(parse_chunks<ResponseSink>(resp, split_after_line_ends(head("HTTP/1.1 200 OK\r\n", 40)), 256),
            bhttp::error::header_limit);
  kp::HttpResponse small;
  EXPECT_EQ(parse_chunks<ResponseSink>(small, split_after_line_ends(head("HTTP/1.1 200 OK\r\n", 10)), 256),
            ErrorCode{});
  EXPECT_EQ(small.status, 200u);
  EXPECT_EQ(small.headers.fields().size(), 11u);
}

// A chunked message whose trailer section carries `trailer` fields of 20
// bytes each, read in chunks of `chunk` bytes (0: one read).
std::deque<std::string> chunked_with_trailer(std::string_view start_line, int trailer, std::size_t chunk) {
  std::string wire = std::string(start_line) + "X-Amz-Target: A\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     "5\r\nhello\r\n0\r\nX-Amz-Target: B\r\n";
  for (int i = 0; i < trailer; ++i) {
    wire += "X-T" + std::to_string(10 + i % 90) + ": vvvvvvvvvvv\r\n";
  }
  wire += "\r\n";
  std::deque<std::string> chunks;
  for (std::size_t at = 0; at < wire.size(); at += (chunk == 0 ? wire.size() : chunk)) {
    chunks.push_back(wire.substr(at, chunk == 0 ? std::string::npos : chunk));
  }
  return chunks;
}

TEST(Trailers, AreReadButNotMergedIntoTheHeaderFields) {
  for (const std::size_t chunk : {std::size_t{0}, std::size_t{7}}) {
    SCOPED_TRACE(chunk);
    kp::HttpRequest req;
    EXPECT_EQ(parse_chunks<RequestSink>(req, chunked_with_trailer("POST / HTTP/1.1\r\n", 3, chunk), 256),
              ErrorCode{});
    EXPECT_EQ(req.body, "hello");
    EXPECT_EQ(req.headers.get_all("X-Amz-Target"), std::vector<std::string_view>{"A"});
    EXPECT_EQ(req.headers.fields().size(), 2u);  // X-Amz-Target, Transfer-Encoding
    kp::HttpResponse resp;
    EXPECT_EQ(parse_chunks<ResponseSink>(resp, chunked_with_trailer("HTTP/1.1 200 OK\r\n", 3, chunk), 256),
              ErrorCode{});
    EXPECT_EQ(resp.body, "hello");
    EXPECT_EQ(resp.headers.fields().size(), 2u);
  }
}

TEST(Trailers, TrickledTrailerSectionIsBoundedLikeTheHeader) {
  // 40 trailer fields of 20 bytes, 7 bytes per read: each put() is small, the
  // section (~820 bytes) is over the 256-byte limit.
  kp::HttpRequest req;
  EXPECT_EQ(parse_chunks<RequestSink>(req, chunked_with_trailer("POST / HTTP/1.1\r\n", 40, 7), 256),
            bhttp::error::header_limit);
  kp::HttpResponse resp;
  EXPECT_EQ(parse_chunks<ResponseSink>(resp, chunked_with_trailer("HTTP/1.1 200 OK\r\n", 40, 7), 256),
            bhttp::error::header_limit);
  // Within the limit: fine.
  kp::HttpRequest ok;
  EXPECT_EQ(parse_chunks<RequestSink>(ok, chunked_with_trailer("POST / HTTP/1.1\r\n", 5, 7), 256), ErrorCode{});
}

}  // namespace
}  // namespace kp::net::detail
