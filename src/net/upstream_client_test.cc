// The upstream client over plain TCP: pooling, stale and stray connections,
// timeouts, malformed answers, serialisation. TLS: upstream_client_tls_test.cc.
#include "net/upstream_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/co_spawn.hpp>

#include "base/error.h"
#include "net/http_server.h"
#include "net/upstream_test_support.h"

namespace kp::net {
namespace {

using namespace kp::net::testing;
namespace asio = boost::asio;

TEST_F(UpstreamClientTest, PoolReusesOneConnectionForSequentialRequests) {
  ServerOptions so;
  so.port = 0;
  HttpServer server(pool, so, [](kp::HttpRequest req) -> asio::awaitable<kp::HttpResponse> {
    kp::HttpResponse r;
    r.headers.set("Content-Type", "application/x-amz-json-1.1");
    r.headers.set("x-amzn-RequestId", "abc-123");
    r.headers.set("X-Seen-Host", std::string(req.headers.get("Host").value_or("")));
    r.body = req.body;
    co_return r;
  });
  auto port = server.start();
  ASSERT_TRUE(port);
  UpstreamClient client(pool, fast());
  const Endpoint ep{"http", "127.0.0.1", *port};
  for (int i = 0; i < 3; ++i) {
    auto r = send_on(pool, client, ep, kms_request("{\"n\":" + std::to_string(i) + "}"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, "{\"n\":" + std::to_string(i) + "}");
    EXPECT_EQ(r->headers.get("x-amzn-requestid").value_or(""), "abc-123");
    EXPECT_EQ(r->headers.get("X-Seen-Host").value_or(""), "127.0.0.1:" + std::to_string(*port));
    EXPECT_FALSE(r->headers.contains("Content-Length"));
  }
  const auto st = client.stats();
  EXPECT_EQ(st.opened, 1u);
  EXPECT_EQ(st.reused, 2u);
  EXPECT_EQ(st.retries, 0u);
  EXPECT_EQ(st.requests, 3u);
  EXPECT_EQ(server.stats().accepted_connections, 1u);
}

TEST_F(UpstreamClientTest, PoolIsPerContext) {
  EchoPeer peer;
  UpstreamClient client(pool, fast());
  const Endpoint ep{"http", "localhost", peer.port()};
  ASSERT_TRUE(send_on(pool, client, ep, kms_request(), 0));
  ASSERT_TRUE(send_on(pool, client, ep, kms_request(), 1));
  ASSERT_TRUE(send_on(pool, client, ep, kms_request(), 0));
  ASSERT_TRUE(send_on(pool, client, ep, kms_request(), 1));
  EXPECT_EQ(client.stats().opened, 2u);
  EXPECT_EQ(client.stats().reused, 2u);
  EXPECT_EQ(peer.accepted(), 2);
}

TEST_F(UpstreamClientTest, StaleReusedConnectionIsRetriedOnAFreshOne) {
  expect_stale_connection_retried(pool, fast(), nullptr);
}

// The same stale connection under a request whose repetition would change
// something (CreateKey): no replay, the caller gets the error (its SDK
// decides whether to try again).
TEST_F(UpstreamClientTest, StaleReusedConnectionIsNotReplayedForANonReplayableRequest) {
  ScriptedServer* self = nullptr;
  ScriptedServer peer([&](int, PeerConn& c) {
    auto r1 = c.read_request();
    ASSERT_TRUE(r1);
    self->record(*r1);
    c.write(http_response(200, "first"));
    if (auto r2 = c.read_request()) {
      self->record(*r2);  // read, then closed without an answer
    }
  });
  self = &peer;
  UpstreamClient client(pool, fast());
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  ASSERT_TRUE(run_on(pool.context(0), client.send(ep, kms_request(), false)));
  auto b = run_on(pool.context(0), client.send(ep, kms_request(), false));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::kUpstreamProtocol) << b.error().message;
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(peer.requests().size(), 2u);
}

TEST_F(UpstreamClientTest, IdleConnectionClosedByServerIsNotReused) {
  ScriptedServer peer([&](int, PeerConn& c) {
    if (c.read_request()) {
      c.write(http_response(200, "x"));
    }
    // close right after answering (keep-alive promised, but gone)
  });
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  // Probed before reuse: the FIN is seen, a fresh connection is used.
  UpstreamClient client(pool, fast());
  ASSERT_TRUE(send_on(pool, client, ep, kms_request()));
  std::this_thread::sleep_for(100ms);  // let the FIN arrive
  auto r = send_on(pool, client, ep, kms_request());
  ASSERT_TRUE(r) << r.error().message;
  const auto st = client.stats();
  EXPECT_EQ(st.opened, 2u);
  EXPECT_EQ(st.retries, 0u);
  EXPECT_EQ(st.idle_closed, 1u);
}

TEST_F(UpstreamClientTest, StrayResponseOnAPooledConnectionIsNotDelivered) {
  expect_stray_response_not_delivered(pool, fast(), nullptr);
}

TEST_F(UpstreamClientTest, ConnectionCloseFromUpstreamIsHonoured) {
  expect_connection_close_honoured(pool, fast(), nullptr);
}

TEST_F(UpstreamClientTest, ResetMidResponseIsProtocolErrorAndNotRetried) {
  ScriptedServer* self = nullptr;
  ScriptedServer peer([&](int, PeerConn& c) {
    auto r1 = c.read_request();
    ASSERT_TRUE(r1);
    self->record(*r1);
    c.write(http_response(200, "ok"));
    auto r2 = c.read_request();
    ASSERT_TRUE(r2);
    self->record(*r2);
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    std::this_thread::sleep_for(50ms);
    c.reset();
  });
  self = &peer;
  UpstreamClient client(pool, fast());
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  ASSERT_TRUE(send_on(pool, client, ep, kms_request()));
  auto r = send_on(pool, client, ep, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamProtocol) << r.error().message;
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(peer.accepted(), 1);
  EXPECT_EQ(peer.requests().size(), 2u);
}

TEST_F(UpstreamClientTest, StalledUpstreamTimesOut) { expect_stalled_upstream_times_out(pool, fast(), nullptr); }

TEST_F(UpstreamClientTest, ConnectRefusedIsUnreachable) {
  UpstreamClient client(pool, fast());
  const auto port = closed_port();
  auto r = send_on(pool, client, {"http", "127.0.0.1", port}, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamUnreachable);
  EXPECT_NE(r.error().message.find("connect to 127.0.0.1:" + std::to_string(port) + " failed"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(client.stats().failures, 1u);
}

TEST_F(UpstreamClientTest, GarbageAndOversizedResponsesAreProtocolErrors) {
  ScriptedServer peer([&](int index, PeerConn& c) {
    if (!c.read_request()) {
      return;
    }
    if (index == 0) {
      c.write("SMTP READY\r\n\r\n");
    } else {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
    }
    c.wait_eof(2s);
  });
  auto opt = fast();
  opt.max_response_body = 4096;
  UpstreamClient client(pool, opt);
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  auto garbage = send_on(pool, client, ep, kms_request());
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, Errc::kUpstreamProtocol);
  EXPECT_NE(garbage.error().message.find("malformed"), std::string::npos) << garbage.error().message;
  auto big = send_on(pool, client, ep, kms_request());
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::kUpstreamProtocol);
  EXPECT_NE(big.error().message.find("exceeds 4096"), std::string::npos) << big.error().message;
}

// A few interim responses are read past; a flood of them is a protocol error
// at once (every read would find bytes waiting, so the response deadline
// alone would let it run on). A status a final response cannot have is one
// too, not something to hand the app as KMS's answer.
TEST_F(UpstreamClientTest, InterimResponseFloodAndImpossibleStatusesAreProtocolErrors) {
  ScriptedServer peer([&](int index, PeerConn& c) {
    if (!c.read_request()) {
      return;
    }
    if (index == 0) {
      while (c.write("HTTP/1.1 100 Continue\r\n\r\n")) {
      }
      return;
    }
    c.write(index == 1 ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"
                       : "HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n");
    c.wait_eof(2s);
  });
  UpstreamClient client(pool, fast());
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  const auto t0 = std::chrono::steady_clock::now();
  auto flood = send_on(pool, client, ep, kms_request());
  ASSERT_FALSE(flood);
  EXPECT_EQ(flood.error().code, Errc::kUpstreamProtocol);
  EXPECT_NE(flood.error().message.find("more than 5 interim (1xx) responses"), std::string::npos)
      << flood.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  for (const char* status : {"101", "999"}) {
    auto r = send_on(pool, client, ep, kms_request());
    ASSERT_FALSE(r) << status;
    EXPECT_EQ(r.error().code, Errc::kUpstreamProtocol);
    EXPECT_NE(r.error().message.find(std::string("answered with status ") + status), std::string::npos)
        << r.error().message;
  }
}

// A server that closes idle connections with a 408 (RFC 9110 15.5.9) sends it
// as our request crosses it: the request was not taken, so it is replayed
// once on a fresh connection instead of handing the app a 408.
TEST_F(UpstreamClientTest, RequestTimeoutOnAReusedConnectionIsReplayedOnAFreshOne) {
  ScriptedServer peer([&](int index, PeerConn& c) {
    auto first = c.read_request(3s);
    if (!first) {
      return;
    }
    if (index == 0) {
      c.write(http_response(200, "first"));
      if (c.read_request(3s)) {
        c.write("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 7\r\n\r\ntimeout");
      }
      return;
    }
    c.write(http_response(200, "second"));
    c.wait_eof(3s);
  });
  UpstreamClient client(pool, fast());
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  auto a = send_on(pool, client, ep, kms_request());
  ASSERT_TRUE(a) << a.error().message;
  auto b = send_on(pool, client, ep, kms_request());
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->status, 200u);
  EXPECT_EQ(b->body, "second");
  EXPECT_EQ(client.stats().retries, 1u);
}

TEST_F(UpstreamClientTest, ResponseHeaderTrickledOneFieldPerWriteIsProtocolError) {
  ScriptedServer peer([&](int, PeerConn& c) {
    if (!c.read_request()) {
      return;
    }
    std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
    for (int i = 0; i < 40; ++i) {  // 40 x 64 bytes
      wire += "X-Field-" + std::to_string(100 + i) + ": " + std::string(51, 'v') + "\r\n";
    }
    wire += "\r\n";
    // Each write ends one byte after a line end (see detail_test.cc HeaderLimit).
    std::size_t from = 0;
    for (std::size_t pos = wire.find("\r\n"); pos != std::string::npos; pos = wire.find("\r\n", pos + 2)) {
      const std::size_t cut = std::min(pos + 3, wire.size());
      if (!c.write(std::string_view(wire).substr(from, cut - from))) {
        return;
      }
      from = cut;
      std::this_thread::sleep_for(5ms);
    }
    c.wait_eof(2s);
  });
  auto opt = fast();
  opt.max_response_header = 1024;
  UpstreamClient client(pool, opt);
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  auto r = send_on(pool, client, ep, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamProtocol);
  EXPECT_NE(r.error().message.find("exceeds 1024"), std::string::npos) << r.error().message;
}

// A header that arrives in pieces: Beast reads the status line and the first
// fields from the first piece. The fast path must not take over (or reset
// the response) afterwards; the response keeps every field.
TEST_F(UpstreamClientTest, ResponseHeaderSplitAcrossReadsKeepsEveryField) {
  ScriptedServer peer([&](int, PeerConn& c) {
    if (!c.read_request()) {
      return;
    }
    const std::vector<std::string> pieces = {
        "HTTP/1.1 400 Bad Request\r\nx-amzn-RequestId: r-1\r\nX-A: 1\r\nX-B",
        ": 2\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n",
        "\r\n{}"};
    for (const auto& piece : pieces) {
      if (!c.write(piece)) {
        return;
      }
      std::this_thread::sleep_for(30ms);
    }
    c.wait_eof(2s);
  });
  UpstreamClient client(pool, fast());
  auto r = send_on(pool, client, {"http", "127.0.0.1", peer.port()}, kms_request());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 400u);
  EXPECT_EQ(r->headers.get("x-amzn-RequestId").value_or(""), "r-1");
  EXPECT_EQ(r->headers.get("X-A").value_or(""), "1");
  EXPECT_EQ(r->headers.get("X-B").value_or(""), "2");
  EXPECT_EQ(r->body, "{}");
}

TEST_F(UpstreamClientTest, ChunkedResponseAndHopByHopFieldsStripped) {
  ScriptedServer peer([&](int, PeerConn& c) {
    auto req = c.read_request();
    if (!req) {
      return;
    }
    c.write("HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Private\r\n"
            "Keep-Alive: timeout=5\r\nX-Private: drop-me\r\nx-amzn-RequestId: r-42\r\n"
            "Content-Type: application/x-amz-json-1.1\r\n\r\n"
            "b\r\n{\"__type\":\"\r\n9\r\nNotFound\"\r\n1\r\n}\r\n0\r\n\r\n");
    c.wait_eof(2s);
  });
  UpstreamClient client(pool, fast());
  auto r = send_on(pool, client, {"http", "127.0.0.1", peer.port()}, kms_request());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 400u);
  EXPECT_EQ(r->body, "{\"__type\":\"NotFound\"}");
  EXPECT_EQ(r->headers.get("x-amzn-RequestId").value_or(""), "r-42");
  EXPECT_EQ(r->headers.get("content-type").value_or(""), "application/x-amz-json-1.1");
  for (const char* gone : {"Transfer-Encoding", "Connection", "Keep-Alive", "X-Private"}) {
    EXPECT_FALSE(r->headers.contains(gone)) << gone;
  }
}

TEST_F(UpstreamClientTest, RequestIsSerialisedWithHostAndLength) {
  ScriptedServer* self = nullptr;
  ScriptedServer peer([&](int, PeerConn& c) {
    auto req = c.read_request();
    if (!req) {
      return;
    }
    self->record(*req);
    c.write(http_response(200, "{}"));
    c.wait_eof(2s);
  });
  self = &peer;
  UpstreamClient client(pool, fast());
  auto req = kms_request("{\"KeyId\":\"k\"}");
  req.headers.set("Connection", "keep-alive");        // hop-by-hop: not forwarded
  req.headers.set("Content-Length", "98765");         // recomputed
  ASSERT_TRUE(send_on(pool, client, {"http", "127.0.0.1", peer.port()}, std::move(req)));
  ASSERT_EQ(peer.requests().size(), 1u);
  const std::string sent = peer.requests()[0];
  EXPECT_EQ(sent.rfind("POST / HTTP/1.1\r\n", 0), 0u) << sent;
  EXPECT_NE(sent.find("Host: 127.0.0.1:" + std::to_string(peer.port()) + "\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("Content-Length: 13\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Content-Length: 98765"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Connection:"), std::string::npos) << sent;
  EXPECT_NE(sent.find("X-Amz-Target: TrentService.ListKeys\r\n"), std::string::npos) << sent;
}

TEST_F(UpstreamClientTest, PlainHttpToNonLoopbackIsRejected) {
  UpstreamClient client(pool, fast());
  for (const char* host : {"10.0.0.1", "kms.us-east-1.amazonaws.com", "169.254.169.254"}) {
    auto r = send_on(pool, client, {"http", host, 80}, kms_request());
    ASSERT_FALSE(r) << host;
    EXPECT_EQ(r.error().code, Errc::kValidation);
    EXPECT_NE(r.error().message.find("plain http"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(client.stats().opened, 0u);
  auto bad_scheme = send_on(pool, client, {"ftp", "127.0.0.1", 21}, kms_request());
  ASSERT_FALSE(bad_scheme);
  EXPECT_EQ(bad_scheme.error().code, Errc::kValidation);
  auto injected = kms_request();
  injected.headers.set("X-Evil", "a\r\nX-Injected: 1");
  auto bad_header = send_on(pool, client, {"http", "127.0.0.1", 1}, std::move(injected));
  ASSERT_FALSE(bad_header);
  EXPECT_EQ(bad_header.error().code, Errc::kValidation);
}

TEST_F(UpstreamClientTest, PlainHttpAllowListedHostIsAccepted) {
  // The allow-listed link-local name is routed to a local peer by the test
  // transport: nothing leaves the loopback interface.
  EchoPeer peer;
  auto opt = fast();
  opt.plain_http_hosts = {"169.254.169.254"};
  auto fixed = std::make_shared<FixedTransport>(peer.port());
  opt.transport = fixed;
  UpstreamClient client(pool, opt);
  auto r = send_on(pool, client, {"http", "169.254.169.254", 80}, kms_request("imds"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "imds");
  EXPECT_EQ(fixed->connects.load(), 1);
  ASSERT_EQ(peer.requests().size(), 1u);
  EXPECT_NE(peer.requests()[0].find("Host: 169.254.169.254\r\n"), std::string::npos) << peer.requests()[0];
  // Not on the list: still refused before any connection.
  auto other = send_on(pool, client, {"http", "169.254.170.2", 80}, kms_request());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kValidation);
  EXPECT_EQ(fixed->connects.load(), 1);
}

TEST_F(UpstreamClientTest, SendFromAForeignExecutorWorksWithoutPooling) {
  EchoPeer peer;
  UpstreamClient client(pool, fast());
  asio::io_context foreign(1);
  auto guard = asio::make_work_guard(foreign);
  std::thread t([&] { foreign.run(); });
  const Endpoint ep{"http", "127.0.0.1", peer.port()};
  auto a = run_on(foreign, client.send(ep, kms_request("x")));
  auto b = run_on(foreign, client.send(ep, kms_request("y")));
  guard.reset();
  foreign.stop();
  t.join();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, "y");
  EXPECT_EQ(client.stats().opened, 2u);
  EXPECT_EQ(client.stats().requests, 2u);
}

TEST_F(UpstreamClientTest, CancellationStopsAWaitingSend) {
  EXPECT_TRUE(cancellation_stops_a_waiting_send(pool, fast(), nullptr));
}

asio::awaitable<kp::Result<kp::HttpResponse>> send_with_temporary(UpstreamClient& client, std::uint16_t port) {
  // The endpoint is a braced temporary inside the co_await expression (the
  // way a handler naturally writes it).
  co_return co_await client.send({"http", "127.0.0.1", port}, kms_request("temp"));
}

TEST_F(UpstreamClientTest, TemporaryEndpointInsideCoAwait) {
  EchoPeer peer;
  UpstreamClient client(pool, fast());
  for (int i = 0; i < 3; ++i) {
    auto r = run_on(pool.context(0), send_with_temporary(client, peer.port()));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "temp");
  }
}

}  // namespace
}  // namespace kp::net
