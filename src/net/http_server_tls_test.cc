// HttpServer with ServerOptions::tls: kp::net::UpstreamClient (verifying
// against a test CA) as the client, a blocking OpenSSL client for protocol
// details (versions, suites, ALPN, close_notify), raw TCP for misbehaving
// peers, and ServerTls::load's startup errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "base/error.h"
#include "net/http_server.h"
#include "net/net_test_support.h"
#include "net/server_tls.h"
#include "net/upstream_client.h"

namespace kp::net {
namespace {

using namespace kp::net::testing;
namespace asio = boost::asio;

asio::awaitable<kp::HttpResponse> echo(kp::HttpRequest req) {
  kp::HttpResponse r;
  r.headers.set("Content-Type", "text/plain");
  r.headers.set("X-Target", req.target);
  r.body = std::move(req.body);
  co_return r;
}

std::shared_ptr<const ServerTls> test_tls() {
  auto tls = ServerTls::load(test_pki().leaf_cert, test_pki().leaf_key);
  if (!tls) {
    throw std::runtime_error(tls.error().message);
  }
  return *tls;
}

class HttpServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { pool.run(); }
  void TearDown() override {
    pool.stop();
    pool.join();
  }

  static ServerOptions tls_options() {
    ServerOptions o;
    o.port = 0;
    o.tls = test_tls();
    o.tls_handshake_timeout = 300ms;
    o.header_read_timeout = 1s;
    o.body_read_timeout = 1s;
    o.idle_keepalive_timeout = 5s;
    o.write_timeout = 1s;
    o.shutdown_grace = 2s;
    return o;
  }

  static UpstreamOptions client_options() {
    UpstreamOptions o;
    o.connect_timeout = 1s;
    o.tls_handshake_timeout = 1s;
    o.response_timeout = 3s;
    o.use_system_roots = false;
    o.extra_ca_files = {test_pki().ca_cert};
    return o;
  }

  kp::Result<kp::HttpResponse> send(UpstreamClient& client, std::uint16_t port, std::string target,
                                    std::string body) {
    kp::HttpRequest req;
    req.method = "POST";
    req.target = std::move(target);
    req.body = std::move(body);
    return run_on(pool.context(0), client.send({"https", "localhost", port}, std::move(req)));
  }

  IoPool pool{2};
};

// A blocking OpenSSL client with 3 s socket timeouts, for what UpstreamClient
// does not expose (protocol version, suite, ALPN, how the server closes).
class TlsClient {
 public:
  explicit TlsClient(std::uint16_t port, const std::function<void(SSL_CTX*)>& configure = {}) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, test_pki().ca_cert.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (configure) {
      configure(ctx_);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{3, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // True on success; otherwise `error()` holds OpenSSL's reason.
  bool handshake() {
    ERR_clear_error();
    if (!connected_ || SSL_connect(ssl_) != 1) {
      const unsigned long e = ERR_get_error();
      error_ = e != 0 ? ERR_reason_error_string(e) : "connect/handshake failed";
      ERR_clear_error();
      return false;
    }
    return true;
  }
  const std::string& error() const { return error_; }
  SSL* ssl() { return ssl_; }

  bool write(std::string_view data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
  }
  // One Content-Length framed response: the body, or nullopt.
  std::optional<std::string> read_body() {
    for (;;) {
      const auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto cl = buf_.find("Content-Length: ");
        const std::size_t len = cl < end ? std::strtoul(buf_.c_str() + cl + 16, nullptr, 10) : 0;
        if (buf_.size() >= end + 4 + len) {
          std::string body = buf_.substr(end + 4, len);
          head_ = buf_.substr(0, end);
          buf_.erase(0, end + 4 + len);
          return body;
        }
      }
      char b[4096];
      const int n = SSL_read(ssl_, b, sizeof(b));
      if (n <= 0) {
        return std::nullopt;
      }
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }
  const std::string& last_head() const { return head_; }
  // Reads until the connection ends; returns SSL_get_error of the final read
  // (SSL_ERROR_ZERO_RETURN = the server sent close_notify).
  int read_until_closed() {
    for (;;) {
      char b[4096];
      const int n = SSL_read(ssl_, b, sizeof(b));
      if (n <= 0) {
        const int e = SSL_get_error(ssl_, n);
        ERR_clear_error();
        return e;
      }
    }
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  std::string error_;
  std::string buf_;
  std::string head_;
};

std::string post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

TEST_F(HttpServerTlsTest, UpstreamClientVerifiesAndKeepsTheConnection) {
  HttpServer server(pool, tls_options(), echo);
  auto port = server.start();
  ASSERT_TRUE(port) << port.error().message;
  UpstreamClient client(pool, client_options());
  ASSERT_TRUE(client.ready()) << client.ready().error().message;
  for (int i = 0; i < 3; ++i) {
    auto r = send(client, *port, "/" + std::to_string(i), "body-" + std::to_string(i));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, "body-" + std::to_string(i));
    EXPECT_EQ(r->headers.get("X-Target").value_or(""), "/" + std::to_string(i));
  }
  // Bodies larger than one TLS record, both ways (not coalesced on write).
  const std::string big = patterned(200 * 1024);
  auto r = send(client, *port, "/big", big);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, big);
  EXPECT_EQ(client.stats().opened, 1u);
  EXPECT_EQ(client.stats().reused, 3u);
  const auto st = server.stats();
  EXPECT_EQ(st.accepted_connections, 1u);
  EXPECT_EQ(st.requests, 4u);
  EXPECT_EQ(st.tls_handshake_failures, 0u);
}

TEST_F(HttpServerTlsTest, ClientWithoutTheCaRefusesTheServer) {
  HttpServer server(pool, tls_options(), echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  auto opt = client_options();
  opt.use_system_roots = true;
  opt.extra_ca_files.clear();
  UpstreamClient client(pool, opt);
  auto r = send(client, *port, "/", "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTls);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos) << r.error().message;
  EXPECT_TRUE(eventually([&] { return server.stats().tls_handshake_failures == 1u; }));
}

TEST_F(HttpServerTlsTest, PlainHttpClientFailsCleanlyAndServerCarriesOn) {
  HttpServer server(pool, tls_options(), echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  {
    RawConn c(*port);
    ASSERT_TRUE(c.ok());
    c.send(post("/plain", "hello"));
    EXPECT_FALSE(c.read_response(2s)) << "a plaintext answer on a TLS port";
    EXPECT_TRUE(c.wait_closed(2s));
  }
  EXPECT_TRUE(eventually([&] { return server.stats().tls_handshake_failures == 1u; }));
  EXPECT_EQ(server.stats().requests, 0u);
  EXPECT_TRUE(eventually([&] { return server.stats().active_connections == 0u; }));
  UpstreamClient client(pool, client_options());
  auto r = send(client, *port, "/after", "still serving");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "still serving");
}

TEST_F(HttpServerTlsTest, SilentClientIsCutAtTheHandshakeDeadline) {
  auto opt = tls_options();
  opt.tls_handshake_timeout = 200ms;
  opt.header_read_timeout = 5s;  // must not be the deadline that fires
  HttpServer server(pool, opt, echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  RawConn c(*port);
  ASSERT_TRUE(c.ok());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.wait_closed(3s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2s);
  EXPECT_TRUE(eventually([&] { return server.stats().tls_handshake_failures == 1u; }));
  EXPECT_EQ(server.stats().timeouts, 1u);
}

TEST_F(HttpServerTlsTest, OnlyTls12AndUpWithAeadSuites) {
  HttpServer server(pool, tls_options(), echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  {
    // TLS 1.1 offered (the client's security level lowered so it can):
    // the server answers with a protocol_version alert.
    TlsClient c(*port, [](SSL_CTX* ctx) {
      SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
      SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    });
    EXPECT_FALSE(c.handshake());
    EXPECT_NE(c.error().find("protocol version"), std::string::npos) << c.error();
  }
  {
    // TLS 1.2 with only a CBC suite: no shared cipher.
    TlsClient c(*port, [](SSL_CTX* ctx) {
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
      SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-SHA");
    });
    EXPECT_FALSE(c.handshake());
    EXPECT_NE(c.error().find("handshake failure"), std::string::npos) << c.error();
  }
  {
    TlsClient c(*port, [](SSL_CTX* ctx) { SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION); });
    ASSERT_TRUE(c.handshake()) << c.error();
    EXPECT_EQ(SSL_version(c.ssl()), TLS1_2_VERSION);
    EXPECT_NE(std::string(SSL_get_cipher_name(c.ssl())).find("GCM"), std::string::npos)
        << SSL_get_cipher_name(c.ssl());
    ASSERT_TRUE(c.write(post("/v12", "twelve")));
    EXPECT_EQ(c.read_body().value_or("<none>"), "twelve");
  }
  {
    // ALPN: h2 is not spoken; http/1.1 is chosen.
    TlsClient c(*port, [](SSL_CTX* ctx) {
      static const unsigned char protos[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
      SSL_CTX_set_alpn_protos(ctx, protos, sizeof(protos));
    });
    ASSERT_TRUE(c.handshake()) << c.error();
    EXPECT_EQ(SSL_version(c.ssl()), TLS1_3_VERSION);
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c.ssl(), &alpn, &alpn_len);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(alpn), alpn_len), "http/1.1");
  }
}

TEST_F(HttpServerTlsTest, ConnectionCloseAndShutdownEndWithCloseNotify) {
  HttpServer server(pool, tls_options(), echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  {
    // The client asks to close: answer, then close_notify.
    TlsClient c(*port);
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(c.write("GET /bye HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    ASSERT_TRUE(c.read_body());
    EXPECT_NE(c.last_head().find("Connection: close"), std::string::npos) << c.last_head();
    EXPECT_EQ(c.read_until_closed(), SSL_ERROR_ZERO_RETURN);
  }
  // An idle keep-alive connection at shutdown: closed with close_notify, and
  // the server drains promptly (it does not wait for the client's).
  TlsClient idle(*port);
  ASSERT_TRUE(idle.handshake()) << idle.error();
  ASSERT_TRUE(idle.write(post("/ka", "keep")));
  EXPECT_EQ(idle.read_body().value_or("<none>"), "keep");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(server.shutdown());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_EQ(idle.read_until_closed(), SSL_ERROR_ZERO_RETURN);
}

TEST_F(HttpServerTlsTest, StalledRequestIsAnswered408OverTls) {
  // The timed-out read is cancelled mid-record; the answer still goes out
  // through the same TLS session, followed by close_notify.
  HttpServer server(pool, tls_options(), echo);  // header and body deadlines 1 s
  auto port = server.start();
  ASSERT_TRUE(port);
  TlsClient c(*port);
  ASSERT_TRUE(c.handshake()) << c.error();
  ASSERT_TRUE(c.write("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc"));
  const auto body = c.read_body();
  ASSERT_TRUE(body);
  EXPECT_NE(c.last_head().find("HTTP/1.1 408"), std::string::npos) << c.last_head();
  EXPECT_NE(body->find("RequestTimeoutException"), std::string::npos) << *body;
  EXPECT_EQ(c.read_until_closed(), SSL_ERROR_ZERO_RETURN);
}

TEST_F(HttpServerTlsTest, ErrorAnswerReachesAClientStillSendingItsBody) {
  // 413 is answered after the header; the client keeps writing its body. The
  // answer must survive the close (close_notify, then drain: no RST first).
  auto opt = tls_options();
  opt.max_body_bytes = 1024;
  HttpServer server(pool, opt, echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  TlsClient c(*port);
  ASSERT_TRUE(c.handshake()) << c.error();
  ASSERT_TRUE(c.write(post("/too-big", std::string(64 * 1024, 'b'))));
  ASSERT_TRUE(c.read_body());
  EXPECT_NE(c.last_head().find("HTTP/1.1 413"), std::string::npos) << c.last_head();
  EXPECT_NE(c.last_head().find("Connection: close"), std::string::npos) << c.last_head();
  EXPECT_EQ(server.stats().local_errors, 1u);
}

TEST_F(HttpServerTlsTest, OverTheConnectionLimitTlsIsClosedWithoutAnswer) {
  auto opt = tls_options();
  opt.max_connections = 1;
  HttpServer server(pool, opt, echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  TlsClient first(*port);
  ASSERT_TRUE(first.handshake()) << first.error();
  ASSERT_TRUE(eventually([&] { return server.stats().active_connections == 1u; }));
  RawConn second(*port);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second.wait_closed(2s));
  EXPECT_EQ(server.stats().rejected_connections, 1u);
  ASSERT_TRUE(first.write(post("/first", "fine")));
  EXPECT_EQ(first.read_body().value_or("<none>"), "fine");
}

// ------------------------------------------------------ ServerTls::load ---

TEST(ServerTlsLoad, LoadsTheTestCertificate) {
  auto tls = ServerTls::load(test_pki().leaf_cert, test_pki().leaf_key);
  ASSERT_TRUE(tls) << tls.error().message;
  EXPECT_EQ((*tls)->subject(), "CN=localhost");
}

TEST(ServerTlsLoad, ReportsCertificateAndKeyProblemsTogether) {
  auto tls = ServerTls::load("/nonexistent/server.crt", "/nonexistent/server.key");
  ASSERT_FALSE(tls);
  EXPECT_EQ(tls.error().code, Errc::kValidation);
  const auto& m = tls.error().message;
  EXPECT_NE(m.find("certificate file '/nonexistent/server.crt': cannot read: No such file"), std::string::npos) << m;
  EXPECT_NE(m.find("key file '/nonexistent/server.key': cannot read: No such file"), std::string::npos) << m;
}

TEST(ServerTlsLoad, RejectsSwappedFilesMismatchedAndEncryptedKeys) {
  const auto& pki = test_pki();
  {
    auto tls = ServerTls::load(pki.leaf_key, pki.leaf_cert);  // swapped
    ASSERT_FALSE(tls);
    EXPECT_NE(tls.error().message.find("no PEM CERTIFICATE"), std::string::npos) << tls.error().message;
    EXPECT_NE(tls.error().message.find("no PEM PRIVATE KEY"), std::string::npos) << tls.error().message;
  }
  {
    auto tls = ServerTls::load(pki.leaf_cert, pki.ca_key);  // a valid key, but not the leaf's
    ASSERT_FALSE(tls);
    EXPECT_NE(tls.error().message.find("does not match the certificate"), std::string::npos)
        << tls.error().message;
  }
  {
    const std::string enc = pki.dir + "/leaf-encrypted.key";
    const std::string cmd = "openssl pkey -in " + pki.leaf_key + " -aes256 -passout pass:secret -out " + enc +
                            " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto tls = ServerTls::load(pki.leaf_cert, enc);
    ASSERT_FALSE(tls);
    EXPECT_NE(tls.error().message.find("the key is encrypted"), std::string::npos) << tls.error().message;
  }
}

TEST_F(HttpServerTlsTest, ServesTheWholeChainFromTheCertificateFile) {
  // leaf + CA in one file: both are sent (a real deployment's intermediates).
  const auto& pki = test_pki();
  const std::string chain = pki.dir + "/chain.pem";
  {
    std::ofstream out(chain);
    out << std::ifstream(pki.leaf_cert).rdbuf() << std::ifstream(pki.ca_cert).rdbuf();
  }
  auto tls = ServerTls::load(chain, pki.leaf_key);
  ASSERT_TRUE(tls) << tls.error().message;
  auto opt = tls_options();
  opt.tls = *tls;
  HttpServer server(pool, opt, echo);
  auto port = server.start();
  ASSERT_TRUE(port);
  TlsClient c(*port);
  ASSERT_TRUE(c.handshake()) << c.error();
  STACK_OF(X509)* sent = SSL_get_peer_cert_chain(c.ssl());
  ASSERT_NE(sent, nullptr);
  EXPECT_EQ(sk_X509_num(sent), 2);
}

}  // namespace
}  // namespace kp::net
