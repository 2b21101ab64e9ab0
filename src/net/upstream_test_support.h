// File: net/upstream_test_support.h
// Test-only: what upstream_client_test.cc and upstream_client_tls_test.cc
// share: a KMS-shaped request, the fixture, option sets, peers, and the
// scenarios each file runs once over plain TCP and once over TLS.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "net/io_pool.h"
#include "net/net_test_support.h"
#include "net/transport.h"
#include "net/upstream_client.h"

namespace kp::net::testing {

// POST / TrentService.ListKeys with `body`.
kp::HttpRequest kms_request(std::string body = "{}");

// Sends from a coroutine on pool context `ctx_index` and waits for the result.
kp::Result<kp::HttpResponse> send_on(IoPool& pool, UpstreamClient& client, Endpoint ep, kp::HttpRequest req,
                                     std::size_t ctx_index = 0);

// Always routes to 127.0.0.1:port whatever host is asked (lets a test use a
// host name the certificate does not cover).
class FixedTransport final : public Transport {
 public:
  explicit FixedTransport(std::uint16_t port) : port_(port) {}
  boost::asio::awaitable<kp::Result<Socket>> connect(std::string host, std::uint16_t port,
                                                     Deadline deadline) override;
  std::string describe() const override { return "fixed"; }
  std::atomic<int> connects{0};

 private:
  std::uint16_t port_;
};

class UpstreamClientTest : public ::testing::Test {
 protected:
  void SetUp() override { pool.run(); }
  void TearDown() override {
    pool.stop();
    pool.join();
  }
  IoPool pool{2};
};

// Short timeouts (1 s connect and handshake, 2 s response).
UpstreamOptions fast();
// fast() trusting the test PKI's CA.
UpstreamOptions tls_options();

// Answers every request on a connection with a keep-alive 200 echoing the body.
void keep_alive_echo(int, PeerConn& c, ScriptedServer& self);

// A peer that answers every request with keep_alive_echo, plain or TLS.
struct EchoPeer : ScriptedServer {
  explicit EchoPeer(const TlsFiles* tls = nullptr)
      : ScriptedServer([this](int i, PeerConn& c) { keep_alive_echo(i, c, *this); }, tls) {}
};

// Scenarios run over plain TCP (tls == nullptr) and over TLS (the test PKI).
void expect_stale_connection_retried(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls);
void expect_stray_response_not_delivered(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls);
void expect_connection_close_honoured(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls);
void expect_stalled_upstream_times_out(IoPool& pool, UpstreamOptions opt, const TlsFiles* tls);
bool cancellation_stops_a_waiting_send(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls);

}  // namespace kp::net::testing
