// TlsClientStream against a blocking OpenSSL peer (net_test_support's
// ScriptedServer): handshake, records larger and smaller than the reads, a
// full socket buffer, the inline-completion cap, deadlines, and how the peer
// ends the connection.
#include "net/detail/tls_client_stream.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/openssl.h"
#include "net/net_test_support.h"

namespace kp::net::detail {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace kp::net::testing;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

using SslCtxPtr = CPtr<SSL_CTX, SSL_CTX_free>;

// A client context trusting the test CA and checking the name "localhost".
SslCtxPtr client_ctx() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_load_verify_locations(ctx.get(), test_pki().ca_cert.c_str(), nullptr);
  return ctx;
}

// A TCP connection to 127.0.0.1:port as the generic socket the stream takes.
TlsClientStream::Lower::socket_type connect_to(asio::io_context& io, std::uint16_t port,
                                               int send_buffer = 0) {
  asio::ip::tcp::socket tcp(io);
  tcp.connect({asio::ip::address_v4::loopback(), port});
  if (send_buffer > 0) {
    tcp.set_option(asio::socket_base::send_buffer_size(send_buffer));
  }
  return TlsClientStream::Lower::socket_type(std::move(tcp));
}

struct Fixture {
  explicit Fixture(std::uint16_t port, int send_buffer = 0)
      : ctx(client_ctx()), stream(connect_to(io, port, send_buffer), ctx.get()) {
    SSL_set1_host(stream.native_handle(), "localhost");
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  }
  // Runs `body` as a coroutine on `io` with a hard limit.
  template <class F>
  void run(F body, std::chrono::milliseconds limit = 10s) {
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
          io.stop();  // the deadline sweeper would keep the context busy
        },
        asio::detached);
    io.run_for(limit);
    ASSERT_TRUE(done) << "coroutine did not finish";
  }

  asio::io_context io{1};
  SslCtxPtr ctx;
  TlsClientStream stream;
};

TEST(TlsClientStream, HandshakeRoundTripAndCloseNotifyAsEof) {
  ScriptedServer peer([](int, PeerConn& c) {
    std::string got;
    while (got.size() < 5 && c.read_some(got, 3s)) {
    }
    c.write("echo:" + got);
    c.close_notify();
    c.wait_eof(3s);
  }, &test_pki());
  Fixture f(peer.port());
  f.run([&]() -> asio::awaitable<void> {
    f.stream.next_layer().expires_after(5s);
    auto [hec] = co_await f.stream.async_handshake(kUseTuple);
    EXPECT_FALSE(hec) << hec.message();
    auto [wec, wn] = co_await asio::async_write(f.stream, asio::buffer(std::string_view("hello")), kUseTuple);
    EXPECT_FALSE(wec) << wec.message();
    EXPECT_EQ(wn, 5u);
    std::array<char, 10> buf{};
    auto [rec, rn] = co_await asio::async_read(f.stream, asio::buffer(buf), kUseTuple);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_EQ(std::string_view(buf.data(), rn), "echo:hello");
    auto [eec, en] = co_await f.stream.async_read_some(asio::buffer(buf), kUseTuple);
    EXPECT_EQ(eec, asio::error::eof) << eec.message();
    EXPECT_EQ(en, 0u);
  });
}

TEST(TlsClientStream, CloseWithoutCloseNotifyIsStreamTruncated) {
  ScriptedServer peer([](int, PeerConn& c) {
    std::string got;
    c.read_some(got, 3s);
    c.write("partial");
  }, &test_pki());  // returns: closed without close_notify
  Fixture f(peer.port());
  f.run([&]() -> asio::awaitable<void> {
    f.stream.next_layer().expires_after(5s);
    auto [hec] = co_await f.stream.async_handshake(kUseTuple);
    EXPECT_FALSE(hec) << hec.message();
    co_await asio::async_write(f.stream, asio::buffer(std::string_view("x")), kUseTuple);
    std::string all;
    for (;;) {
      std::array<char, 64> buf{};
      auto [ec, n] = co_await f.stream.async_read_some(asio::buffer(buf), kUseTuple);
      all.append(buf.data(), n);
      if (ec) {
        EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
        break;
      }
    }
    EXPECT_EQ(all, "partial");
  });
}

// Many small records arrive together: reads complete inline while data is
// staged, but never more than a bounded run in a row (the rest are posted),
// and every byte arrives in order. Callbacks, not co_await, so that an
// inline completion (the handler runs before async_read_some returns) is
// visible.
TEST(TlsClientStream, BufferedRecordsCompleteInlineInBoundedRuns) {
  constexpr int kRecords = 100;
  std::string want;
  for (int i = 0; i < kRecords; ++i) {
    want += "record-" + std::to_string(1000 + i) + ";";  // 12 bytes
  }
  ScriptedServer peer([](int, PeerConn& c) {
    std::string got;
    c.read_some(got, 3s);
    for (int i = 0; i < kRecords; ++i) {
      c.write("record-" + std::to_string(1000 + i) + ";");  // one record each
    }
    c.wait_eof(3s);
  }, &test_pki());
  Fixture f(peer.port());
  std::array<char, 12> buf{};
  std::string all;
  int inline_count = 0;
  int run = 0;
  int longest_inline_run = 0;
  bool in_call = false;
  boost::system::error_code failure;
  std::function<void()> read_next = [&] {
    if (all.size() >= want.size()) {
      f.io.stop();
      return;
    }
    in_call = true;
    f.stream.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, std::size_t n) {
      if (in_call) {
        ++inline_count;
        longest_inline_run = std::max(longest_inline_run, ++run);
      } else {
        run = 0;
      }
      in_call = false;
      if (ec) {
        failure = ec;
        f.io.stop();
        return;
      }
      all.append(buf.data(), n);
      read_next();
    });
    in_call = false;
  };
  asio::steady_timer settle(f.io);
  f.stream.next_layer().expires_after(5s);
  f.stream.async_handshake([&](boost::system::error_code ec) {
    ASSERT_FALSE(ec) << ec.message();
    asio::async_write(f.stream, asio::buffer(std::string_view("go")), [&](boost::system::error_code wec, std::size_t) {
      ASSERT_FALSE(wec) << wec.message();
      // The first byte, then time for the peer to send everything.
      f.stream.async_read_some(asio::buffer(buf, 1), [&](boost::system::error_code rec, std::size_t n) {
        ASSERT_FALSE(rec) << rec.message();
        all.append(buf.data(), n);
        settle.expires_after(300ms);
        settle.async_wait([&](boost::system::error_code) { read_next(); });
      });
    });
  });
  f.io.run_for(10s);
  EXPECT_FALSE(failure) << failure.message();
  EXPECT_EQ(all, want);
  EXPECT_GT(inline_count, 16) << "staged records should complete without a trip through the scheduler";
  EXPECT_LE(longest_inline_run, 16) << "inline completions must be capped";
}

// A write larger than the socket buffer waits for the peer to drain it
// (SSL_ERROR_WANT_WRITE) and delivers every byte in order. The peer compares
// and answers "same" (no state shared between threads).
TEST(TlsClientStream, WriteBiggerThanTheSocketBufferWaitsAndDeliversEverything) {
  const std::string big = patterned(1 << 20);
  ScriptedServer peer([&big](int, PeerConn& c) {
    std::this_thread::sleep_for(200ms);  // let the client fill its buffer first
    std::string received;
    while (received.size() < big.size() && c.read_some(received, 3s)) {
    }
    c.write(received == big ? "same" : "diff");
    c.wait_eof(3s);
  }, &test_pki());
  Fixture f(peer.port(), 4096);
  f.run([&]() -> asio::awaitable<void> {
    f.stream.next_layer().expires_after(10s);
    co_await f.stream.async_handshake(kUseTuple);
    auto [wec, wn] = co_await asio::async_write(f.stream, asio::buffer(big), kUseTuple);
    EXPECT_FALSE(wec) << wec.message();
    EXPECT_EQ(wn, big.size());
    std::array<char, 4> buf{};
    auto [rec, rn] = co_await asio::async_read(f.stream, asio::buffer(buf), kUseTuple);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_EQ(std::string_view(buf.data(), rn), "same");
  });
}

TEST(TlsClientStream, ReadPastTheDeadlineIsATimeout) {
  ScriptedServer peer([](int, PeerConn& c) { c.wait_eof(5s); }, &test_pki());
  Fixture f(peer.port());
  f.run([&]() -> asio::awaitable<void> {
    f.stream.next_layer().expires_after(5s);
    auto [hec] = co_await f.stream.async_handshake(kUseTuple);
    EXPECT_FALSE(hec) << hec.message();
    f.stream.next_layer().expires_after(200ms);
    const auto t0 = std::chrono::steady_clock::now();
    std::array<char, 8> buf{};
    auto [ec, n] = co_await f.stream.async_read_some(asio::buffer(buf), kUseTuple);
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
    EXPECT_EQ(n, 0u);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 190ms);
  });
}

TEST(TlsClientStream, UntrustedCertificateFailsTheHandshakeWithAVerifyError) {
  ScriptedServer peer([](int, PeerConn& c) { c.wait_eof(2s); }, &test_pki());
  asio::io_context io(1);
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);  // no trust anchors
  TlsClientStream stream(connect_to(io, peer.port()), ctx.get());
  std::optional<boost::system::error_code> got;
  stream.next_layer().expires_after(5s);
  stream.async_handshake([&](boost::system::error_code ec) {
    got = ec;
    io.stop();
  });
  io.run_for(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->category(), asio::error::get_ssl_category()) << got->message();
  EXPECT_NE(SSL_get_verify_result(stream.native_handle()), X509_V_OK);
}

}  // namespace
}  // namespace kp::net::detail
