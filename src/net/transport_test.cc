#include "net/transport.h"

#include <gtest/gtest.h>

// clang-format off
#include <sys/socket.h>
#include <linux/vm_sockets.h>
// clang-format on
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

#include <boost/asio/ip/tcp.hpp>

#include "base/error.h"
#include "net/net_test_support.h"
#include "net/upstream_client.h"

namespace kp::net {
namespace {

using namespace kp::net::testing;
namespace asio = boost::asio;

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override { pool.run(); }
  void TearDown() override {
    pool.stop();
    pool.join();
  }
  kp::Result<Socket> connect(Transport& t, std::string host, std::uint16_t port,
                             std::chrono::milliseconds budget = 2s) {
    return run_on(pool.context(0), t.connect(std::move(host), port, std::chrono::steady_clock::now() + budget));
  }
  IoPool pool{1};
};

// A tiny CONNECT proxy: checks the request line, then either refuses with
// `deny_status` or connects to 127.0.0.1:<port> and relays bytes both ways.
class ConnectProxy {
 public:
  explicit ConnectProxy(unsigned deny_status = 0, std::string reply_override = "")
      : deny_status_(deny_status),
        reply_override_(std::move(reply_override)),
        server_([this](int, PeerConn& c) { serve(c); }) {}
  std::uint16_t port() const { return server_.port(); }
  std::vector<std::string> requests() const { return server_.requests(); }

 private:
  void serve(PeerConn& c) {
    auto head = c.read_request();
    if (!head) {
      return;
    }
    server_.record(*head);
    if (!reply_override_.empty()) {
      c.write(reply_override_);
      c.wait_eof(2s);
      return;
    }
    if (deny_status_ != 0) {
      c.write("HTTP/1.1 " + std::to_string(deny_status_) + " Forbidden\r\nContent-Length: 0\r\n\r\n");
      c.wait_eof(2s);
      return;
    }
    // "CONNECT host:port HTTP/1.1"
    const auto colon = head->rfind(':', head->find(" HTTP/1.1"));
    const int port = std::atoi(head->c_str() + colon + 1);
    const int up = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      c.write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      ::close(up);
      return;
    }
    c.write("HTTP/1.1 200 Connection established\r\n\r\n");
    pollfd fds[2] = {{c.fd(), POLLIN, 0}, {up, POLLIN, 0}};
    char buf[16384];
    for (;;) {
      if (::poll(fds, 2, 5000) <= 0) {
        break;
      }
      const int from = (fds[0].revents != 0) ? c.fd() : up;
      const int to = from == up ? c.fd() : up;
      const ssize_t n = ::recv(from, buf, sizeof(buf), 0);
      if (n <= 0 || ::send(to, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
        break;
      }
    }
    ::close(up);
  }

  unsigned deny_status_;
  std::string reply_override_;
  ScriptedServer server_;  // last: its threads use the members above
};

TEST(TransportHelpers, LoopbackHosts) {
  for (const char* h : {"localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_host(h)) << h;
  }
  for (const char* h : {"10.0.0.1", "169.254.169.254", "kms.us-east-1.amazonaws.com", "localhost.evil.com",
                        "::", "0.0.0.0", ""}) {
    EXPECT_FALSE(is_loopback_host(h)) << h;
  }
  EXPECT_EQ(host_port("::1", 443), "[::1]:443");
  EXPECT_EQ(host_port("[::1]", 443), "[::1]:443");
  EXPECT_EQ(host_port("kms.eu-west-1.amazonaws.com", 443), "kms.eu-west-1.amazonaws.com:443");
}

TEST(TransportHelpers, HostFieldBracketsIpv6AndOmitsTheDefaultPort) {
  EXPECT_EQ(host_field("kms.eu-west-1.amazonaws.com", 443, true), "kms.eu-west-1.amazonaws.com");
  EXPECT_EQ(host_field("kms.eu-west-1.amazonaws.com", 8443, true), "kms.eu-west-1.amazonaws.com:8443");
  EXPECT_EQ(host_field("127.0.0.1", 80, false), "127.0.0.1");
  EXPECT_EQ(host_field("127.0.0.1", 443, false), "127.0.0.1:443");  // 443 is not http's default
  EXPECT_EQ(host_field("localhost", 80, true), "localhost:80");      // nor 80 https's
  EXPECT_EQ(host_field("::1", 4566, false), "[::1]:4566");
  EXPECT_EQ(host_field("::1", 80, false), "[::1]");
  EXPECT_EQ(host_field("[::1]", 443, true), "[::1]");
  EXPECT_EQ(host_field("[fd00::5]", 4566, false), "[fd00::5]:4566");
}

TEST(TransportHelpers, VsockEndpointLayout) {
  const auto ep = make_vsock_endpoint(3, 8000);
  ASSERT_EQ(ep.size(), sizeof(sockaddr_vm));
  sockaddr_vm vm{};
  std::memcpy(&vm, ep.data(), sizeof(vm));
  EXPECT_EQ(vm.svm_family, AF_VSOCK);
  EXPECT_EQ(vm.svm_cid, 3u);
  EXPECT_EQ(vm.svm_port, 8000u);
  EXPECT_EQ(vsock_protocol().family(), AF_VSOCK);
}

TEST(TransportHelpers, VsockSocketOpens) {
  const int fd = ::socket(AF_VSOCK, SOCK_STREAM, 0);
  if (fd < 0 && (errno == EAFNOSUPPORT || errno == EPERM)) {
    GTEST_SKIP() << "AF_VSOCK not available on this machine";
  }
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
}

TEST_F(TransportTest, VsockConnectWithoutAPeerFailsWithinTheDeadline) {
  const int probe = ::socket(AF_VSOCK, SOCK_STREAM, 0);
  if (probe < 0) {
    GTEST_SKIP() << "AF_VSOCK not available";
  }
  ::close(probe);
  VsockTransport t(VMADDR_CID_LOCAL, 5005);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = connect(t, "kms.us-east-1.amazonaws.com", 443, 300ms);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code == Errc::kUpstreamTimeout || r.error().code == Errc::kUpstreamUnreachable)
      << r.error().message;
  EXPECT_NE(r.error().message.find("vsock cid 1 port 5005"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(TransportTest, DirectTcpConnectsWithNoDelayAndResolvesLocalhost) {
  ScriptedServer peer([](int, PeerConn& c) { c.wait_eof(2s); });
  DirectTcpTransport t;
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto s = connect(t, host, peer.port());
    ASSERT_TRUE(s) << s.error().message;
    int nodelay = 0;
    socklen_t len = sizeof(nodelay);
    ASSERT_EQ(::getsockopt(s->native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    EXPECT_EQ(nodelay, 1) << host;
    boost::system::error_code ec;
    s->close(ec);
  }
}

TEST_F(TransportTest, DirectTcpUnknownHostIsUnreachable) {
  DirectTcpTransport t;
  auto r = connect(t, "no-such-host.invalid", 443);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().code == Errc::kUpstreamUnreachable || r.error().code == Errc::kUpstreamTimeout);
  EXPECT_NE(r.error().message.find("no-such-host.invalid"), std::string::npos) << r.error().message;
}

TEST_F(TransportTest, ConnectTunnelCarriesTls) {
  const auto& pki = test_pki();
  ScriptedServer* self = nullptr;
  ScriptedServer tls_peer(
      [&](int, PeerConn& c) {
        while (auto req = c.read_request(3s)) {
          self->record(*req);
          c.write(http_response(200, "through-the-tunnel"));
        }
      },
      &pki);
  self = &tls_peer;
  ConnectProxy proxy;
  UpstreamOptions opt;
  opt.extra_ca_files = {pki.ca_cert};
  opt.transport = std::make_shared<HttpConnectTransport>("127.0.0.1", proxy.port());
  UpstreamClient client(pool, opt);
  kp::HttpRequest req;
  req.body = "{}";
  auto r = run_on(pool.context(0), client.send({"https", "localhost", tls_peer.port()}, std::move(req)));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "through-the-tunnel");
  ASSERT_EQ(proxy.requests().size(), 1u);
  const std::string expected = "CONNECT localhost:" + std::to_string(tls_peer.port()) + " HTTP/1.1\r\n";
  EXPECT_EQ(proxy.requests()[0].rfind(expected, 0), 0u) << proxy.requests()[0];
  EXPECT_NE(proxy.requests()[0].find("Host: localhost:"), std::string::npos);
}

TEST_F(TransportTest, ConnectRefusedByProxyIsEgressDenied) {
  ConnectProxy proxy(403);
  HttpConnectTransport t("127.0.0.1", proxy.port());
  auto r = connect(t, "kms.us-east-1.amazonaws.com", 443);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kEgressDenied);
  EXPECT_NE(r.error().message.find("HTTP/1.1 403 Forbidden"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("kms.us-east-1.amazonaws.com:443"), std::string::npos);
}

TEST_F(TransportTest, ConnectProxyFailuresAreUnreachableNamingTheProxy) {
  {
    ConnectProxy proxy(502);
    HttpConnectTransport t("127.0.0.1", proxy.port());
    auto r = connect(t, "example.com", 443);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUpstreamUnreachable);
    EXPECT_NE(r.error().message.find("proxy 127.0.0.1:" + std::to_string(proxy.port())), std::string::npos)
        << r.error().message;
  }
  {
    ConnectProxy proxy(0, "garbage without a status line\r\n\r\n");
    HttpConnectTransport t("127.0.0.1", proxy.port());
    auto r = connect(t, "example.com", 443);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUpstreamUnreachable);
    EXPECT_NE(r.error().message.find("malformed"), std::string::npos) << r.error().message;
  }
  {
    ConnectProxy proxy(0, "HTTP/1.1 200 OK\r\n\r\nunexpected");
    HttpConnectTransport t("127.0.0.1", proxy.port());
    auto r = connect(t, "example.com", 443);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("data after"), std::string::npos) << r.error().message;
  }
  {
    ConnectProxy proxy(0, "HTTP/1.1 204 No Content\r\n\r\n");
    HttpConnectTransport t("127.0.0.1", proxy.port());
    auto r = connect(t, "example.com", 443);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUpstreamUnreachable);
    EXPECT_NE(r.error().message.find("204"), std::string::npos) << r.error().message;
  }
  {
    const auto port = closed_port();
    HttpConnectTransport t("127.0.0.1", port);
    auto r = connect(t, "example.com", 443);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUpstreamUnreachable);
    EXPECT_NE(r.error().message.find("proxy 127.0.0.1:" + std::to_string(port)), std::string::npos)
        << r.error().message;
  }
}

TEST_F(TransportTest, ConnectProxyThatNeverAnswersTimesOut) {
  ScriptedServer silent([](int, PeerConn& c) { c.wait_eof(3s); });
  HttpConnectTransport t("127.0.0.1", silent.port());
  auto r = connect(t, "example.com", 443, 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTimeout) << r.error().message;
}

}  // namespace
}  // namespace kp::net
