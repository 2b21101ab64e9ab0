// TLS between the upstream client and its peer (detail::TlsClientStream):
// verification, records, deadlines, and the plain-TCP scenarios over TLS.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "net/upstream_test_support.h"

namespace kp::net {
namespace {

using namespace kp::net::testing;

TEST_F(UpstreamClientTest, TlsStrayResponseOnAPooledConnectionIsNotDelivered) {
  expect_stray_response_not_delivered(pool, tls_options(), &test_pki());
}

TEST_F(UpstreamClientTest, TlsWithTestCaSucceedsAndReuses) {
  const auto& pki = test_pki();
  EchoPeer peer(&pki);
  UpstreamClient client(pool, tls_options());
  ASSERT_TRUE(client.ready()) << client.ready().error().message;
  const Endpoint ep{"https", "localhost", peer.port()};
  for (const char* body : {"tls-1", "tls-2"}) {
    auto r = send_on(pool, client, ep, kms_request(body));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, body);
  }
  EXPECT_EQ(client.stats().opened, 1u);
  EXPECT_EQ(client.stats().reused, 1u);
  // IP literal: verified against the IP SAN, no SNI.
  auto ip = send_on(pool, client, {"https", "127.0.0.1", peer.port()}, kms_request("ip"));
  ASSERT_TRUE(ip) << ip.error().message;
}

TEST_F(UpstreamClientTest, TlsWrongHostNameIsRejected) {
  const auto& pki = test_pki();
  EchoPeer peer(&pki);
  auto opt = tls_options();
  opt.transport = std::make_shared<FixedTransport>(peer.port());
  UpstreamClient client(pool, opt);
  auto r = send_on(pool, client, {"https", "kms.us-east-1.amazonaws.com", 443}, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTls);
  EXPECT_NE(r.error().message.find("hostname mismatch"), std::string::npos) << r.error().message;
  EXPECT_TRUE(peer.requests().empty());
}

TEST_F(UpstreamClientTest, TlsUnknownCaIsRejected) {
  const auto& pki = test_pki();
  EchoPeer peer(&pki);
  UpstreamClient client(pool, fast());  // system roots only
  auto r = send_on(pool, client, {"https", "localhost", peer.port()}, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTls);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos) << r.error().message;
}

TEST_F(UpstreamClientTest, UnreadableCaFileReportedByReady) {
  auto opt = fast();
  opt.extra_ca_files = {"/nonexistent/ca.pem"};
  UpstreamClient client(pool, opt);
  auto ready = client.ready();
  ASSERT_FALSE(ready);
  EXPECT_EQ(ready.error().code, Errc::kUpstreamTls);
  EXPECT_NE(ready.error().message.find("/nonexistent/ca.pem': No such file or directory"), std::string::npos)
      << ready.error().message;
  auto r = send_on(pool, client, {"https", "localhost", 1}, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTls);
}

// Startup errors are reported all at once: every CA file that cannot be
// loaded gets its own line, with its reason and where the list was set.
TEST_F(UpstreamClientTest, EveryBadCaFileIsNamed) {
  const auto dir = std::filesystem::temp_directory_path() / ("kp-ca-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto not_pem = (dir / "not.pem").string();
  std::ofstream(not_pem) << "hello\n";
  auto opt = fast();
  opt.extra_ca_files = {"/nonexistent/a.pem", not_pem, dir.string(), "/nonexistent/b.pem"};
  opt.ca_files_source = "proxy.yaml:7";
  UpstreamClient client(pool, opt);
  auto ready = client.ready();
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(ready);
  const std::string& m = ready.error().message;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 3) << m;
  EXPECT_NE(m.find("proxy.yaml:7: upstream: cannot load CA file '/nonexistent/a.pem': No such file"),
            std::string::npos) << m;
  EXPECT_NE(m.find("'" + not_pem + "': no PEM certificate"), std::string::npos) << m;
  EXPECT_NE(m.find("'" + dir.string() + "': not a regular file"), std::string::npos) << m;
  EXPECT_NE(m.find("proxy.yaml:7: upstream: cannot load CA file '/nonexistent/b.pem'"), std::string::npos) << m;
  // Without a source: the same lines, unprefixed.
  opt.ca_files_source.clear();
  opt.extra_ca_files = {"/nonexistent/a.pem", "/nonexistent/b.pem"};
  UpstreamClient plain(pool, opt);
  ASSERT_FALSE(plain.ready());
  EXPECT_EQ(plain.ready().error().message,
            "upstream: cannot load CA file '/nonexistent/a.pem': No such file or directory\n"
            "upstream: cannot load CA file '/nonexistent/b.pem': No such file or directory");
}

TEST_F(UpstreamClientTest, PlainTcpPeerForHttpsGivesTlsError) {
  ScriptedServer peer([&](int, PeerConn& c) {
    c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    c.wait_eof(2s);
  });
  UpstreamClient client(pool, tls_options());
  auto r = send_on(pool, client, {"https", "localhost", peer.port()}, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTls) << r.error().message;
  EXPECT_NE(r.error().message.find("TLS handshake"), std::string::npos) << r.error().message;
}

// The client's TLS stream (detail::TlsClientStream) drives OpenSSL on the
// socket itself; these cover what asio::ssl::stream used to: records larger
// than a socket write, buffered records, deadlines while waiting for
// readiness, and the three ways a peer can end a connection.

TEST_F(UpstreamClientTest, TlsCancellationStopsAWaitingSend) {
  // The cancellation reaches the socket read through TlsClientStream's
  // operation, which forwards the awaiting coroutine's cancellation slot.
  EXPECT_TRUE(cancellation_stops_a_waiting_send(pool, tls_options(), &test_pki()));
}

TEST_F(UpstreamClientTest, TlsRequestHeadAndBodyLeaveInOneRecord) {
  const auto& pki = test_pki();
  std::string first_read;
  ScriptedServer peer([&](int, PeerConn& c) {
    // One SSL_read returns the data of one record.
    if (!c.read_some(first_read, 3s)) {
      return;
    }
    c.write(http_response(200, "ok"));
    c.wait_eof(3s);
  }, &pki);
  UpstreamClient client(pool, tls_options());
  auto r = send_on(pool, client, {"https", "localhost", peer.port()}, kms_request("{\"Marker\":\"tail\"}"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(first_read.find("POST / HTTP/1.1\r\n"), 0u) << first_read;
  EXPECT_NE(first_read.find("{\"Marker\":\"tail\"}"), std::string::npos) << "head and body in separate records";
}

TEST_F(UpstreamClientTest, TlsLargeRequestAndResponseSpanManyRecords) {
  const auto& pki = test_pki();
  EchoPeer peer(&pki);
  UpstreamClient client(pool, tls_options());
  const Endpoint ep{"https", "localhost", peer.port()};
  // 600 KB each way: ~37 records, more than a loopback socket buffer takes
  // at once, and more buffered records than the stream completes inline.
  const std::string big = patterned(600 * 1024);
  for (int round = 0; round < 2; ++round) {
    auto r = send_on(pool, client, ep, kms_request(big));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->body.size(), big.size());
    EXPECT_TRUE(r->body == big) << "response body differs";
  }
  EXPECT_EQ(client.stats().opened, 1u);
}

TEST_F(UpstreamClientTest, TlsStalledUpstreamTimesOut) {
  // Handshake done, request read, no answer: the wait is TlsClientStream's.
  expect_stalled_upstream_times_out(pool, tls_options(), &test_pki());
}

TEST_F(UpstreamClientTest, TlsPeerSilentDuringHandshakeTimesOut) {
  ScriptedServer peer([&](int, PeerConn& c) { c.wait_eof(5s); });  // TCP only: never answers the ClientHello
  auto opt = tls_options();
  opt.tls_handshake_timeout = 300ms;
  UpstreamClient client(pool, opt);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = send_on(pool, client, {"https", "localhost", peer.port()}, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTimeout) << r.error().message;
  EXPECT_NE(r.error().message.find("TLS handshake"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(UpstreamClientTest, TlsStaleReusedConnectionIsRetriedOnAFreshOne) {
  expect_stale_connection_retried(pool, tls_options(), &test_pki());
}

TEST_F(UpstreamClientTest, TlsCloseMidResponseIsProtocolError) {
  const auto& pki = test_pki();
  for (const bool notify : {false, true}) {
    ScriptedServer peer([&](int, PeerConn& c) {
      if (c.read_request()) {
        c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        std::this_thread::sleep_for(50ms);
        if (notify) {
          c.close_notify();
        }
      }
    }, &pki);
    UpstreamClient client(pool, tls_options());
    auto r = send_on(pool, client, {"https", "localhost", peer.port()}, kms_request());
    ASSERT_FALSE(r) << "close_notify " << notify;
    EXPECT_EQ(r.error().code, Errc::kUpstreamProtocol) << r.error().message;
    EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
    EXPECT_EQ(client.stats().retries, 0u);
  }
}

TEST_F(UpstreamClientTest, TlsConnectionCloseWithCloseNotifyIsHonoured) {
  expect_connection_close_honoured(pool, tls_options(), &test_pki());
}

}  // namespace
}  // namespace kp::net
