// File: net/upstream_test_support.cc
#include "net/upstream_test_support.h"

#include <future>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

namespace kp::net::testing {

namespace asio = boost::asio;

kp::HttpRequest kms_request(std::string body) {
  kp::HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.headers.set("X-Amz-Target", "TrentService.ListKeys");
  r.body = std::move(body);
  return r;
}

kp::Result<kp::HttpResponse> send_on(IoPool& pool, UpstreamClient& client, Endpoint ep, kp::HttpRequest req,
                                     std::size_t ctx_index) {
  return run_on(pool.context(ctx_index), client.send(std::move(ep), std::move(req)));
}

asio::awaitable<kp::Result<Socket>> FixedTransport::connect(std::string host, std::uint16_t port, Deadline deadline) {
  (void)host;
  (void)port;
  ++connects;
  co_return co_await DirectTcpTransport().connect("127.0.0.1", port_, deadline);
}

UpstreamOptions fast() {
  UpstreamOptions o;
  o.connect_timeout = 1s;
  o.tls_handshake_timeout = 1s;
  o.response_timeout = 2s;
  return o;
}

UpstreamOptions tls_options() {
  auto o = fast();
  o.extra_ca_files = {test_pki().ca_cert};
  return o;
}

void keep_alive_echo(int, PeerConn& c, ScriptedServer& self) {
  while (auto req = c.read_request(3s)) {
    self.record(*req);
    const auto body = req->substr(req->find("\r\n\r\n") + 4);
    if (!c.write(http_response(200, body, "x-amzn-RequestId: rid-1\r\n"))) {
      return;
    }
  }
}


// The first connection answers one request, reads the second and closes
// without answering (its idle timer fired at the same moment; over TLS also
// without close_notify): the client must replay the second request once on
// a fresh connection.
void expect_stale_connection_retried(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls) {
  ScriptedServer* self = nullptr;
  ScriptedServer peer([&](int index, PeerConn& c) {
    auto r1 = c.read_request();
    ASSERT_TRUE(r1);
    self->record(*r1);
    if (index == 0) {
      c.write(http_response(200, "first"));
      auto r2 = c.read_request();
      ASSERT_TRUE(r2);
      self->record(*r2);
      return;  // close
    }
    c.write(http_response(200, "second"));
    c.wait_eof(3s);
  }, tls);
  self = &peer;
  UpstreamClient client(pool, opt);
  const Endpoint ep{tls != nullptr ? "https" : "http", tls != nullptr ? "localhost" : "127.0.0.1", peer.port()};
  auto a = send_on(pool, client, ep, kms_request());
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->body, "first");
  auto b = send_on(pool, client, ep, kms_request());
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->body, "second");
  const auto st = client.stats();
  EXPECT_EQ(st.retries, 1u);
  EXPECT_EQ(st.opened, 2u);
  EXPECT_EQ(peer.requests().size(), 3u);
}

// A response nobody asked for arrives on an idle pooled connection (a server
// that sends 408 before closing an idle connection, or a broken one): it
// must not be read as the next request's answer, which would shift every
// later answer on that connection to the wrong caller. The connection is
// dropped and the request goes out on a fresh one. Plain and TLS (where the
// stray bytes are application data behind OpenSSL, unlike session tickets).

void expect_stray_response_not_delivered(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls) {
  ScriptedServer peer(
      [&](int index, PeerConn& c) {
        int n = 0;
        while (auto req = c.read_request(3s)) {
          const auto body = req->substr(req->find("\r\n\r\n") + 4);
          if (!c.write(http_response(200, "answer-to:" + body))) {
            return;
          }
          if (index == 0 && ++n == 1) {
            std::this_thread::sleep_for(20ms);
            c.write(http_response(408, "unsolicited"));
          }
        }
      },
      tls);
  UpstreamClient client(pool, opt);
  const Endpoint ep{tls != nullptr ? "https" : "http", tls != nullptr ? "localhost" : "127.0.0.1", peer.port()};
  auto a = send_on(pool, client, ep, kms_request("one"));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->body, "answer-to:one");
  std::this_thread::sleep_for(150ms);  // the stray response is in the socket now
  for (const char* body : {"two", "three"}) {
    auto b = send_on(pool, client, ep, kms_request(body));
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->status, 200u);
    EXPECT_EQ(b->body, std::string("answer-to:") + body);
  }
  const auto st = client.stats();
  EXPECT_EQ(st.opened, 2u);
  EXPECT_EQ(st.idle_closed, 1u);
  EXPECT_EQ(st.retries, 0u);
}

// The upstream answers with Connection: close and closes (over TLS after a
// close_notify): the connection is not pooled, the next send opens another,
// and nothing counts as a retry.
void expect_connection_close_honoured(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls) {
  ScriptedServer peer([&](int, PeerConn& c) {
    if (c.read_request()) {
      c.write(http_response(200, "moto-style", "Connection: close\r\n"));
      c.close_notify();  // TLS only; a plain peer just closes
    }
    c.wait_eof(2s);
  }, tls);
  UpstreamClient client(pool, opt);
  const Endpoint ep{tls != nullptr ? "https" : "http", tls != nullptr ? "localhost" : "127.0.0.1", peer.port()};
  for (int i = 0; i < 2; ++i) {
    auto r = send_on(pool, client, ep, kms_request());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "moto-style");
    EXPECT_FALSE(r->headers.contains("Connection"));
  }
  EXPECT_EQ(client.stats().opened, 2u);
  EXPECT_EQ(client.stats().reused, 0u);
  EXPECT_EQ(client.stats().retries, 0u);
}

// Sends to an upstream that reads the request and never answers, with a
// 300 ms response timeout: the send must fail as a timeout, well before 2 s.
void expect_stalled_upstream_times_out(IoPool& pool, UpstreamOptions opt, const TlsFiles* tls) {
  ScriptedServer peer([&](int, PeerConn& c) {
    c.read_request();
    c.wait_eof(5s);  // never answers
  }, tls);
  opt.response_timeout = 300ms;
  UpstreamClient client(pool, opt);
  const Endpoint ep{tls != nullptr ? "https" : "http", tls != nullptr ? "localhost" : "127.0.0.1", peer.port()};
  const auto t0 = std::chrono::steady_clock::now();
  auto r = send_on(pool, client, ep, kms_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamTimeout);
  EXPECT_NE(r.error().message.find("no response"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

// Cancels a send whose upstream read the request and never answers; true
// when the send ended (with an error) within a second of the cancellation.
bool cancellation_stops_a_waiting_send(IoPool& pool, const UpstreamOptions& opt, const TlsFiles* tls) {
  ScriptedServer peer([&](int, PeerConn& c) {
    c.read_request();
    c.wait_eof(5s);
  }, tls);
  UpstreamClient client(pool, opt);
  auto done = std::make_shared<std::promise<bool>>();
  auto fut = done->get_future();
  asio::cancellation_signal sig;
  const Endpoint ep{tls != nullptr ? "https" : "http", tls != nullptr ? "localhost" : "127.0.0.1", peer.port()};
  asio::co_spawn(pool.context(0), client.send(ep, kms_request()),
                 asio::bind_cancellation_slot(sig.slot(), [done](std::exception_ptr e, kp::Result<kp::HttpResponse> r) {
                   done->set_value(e != nullptr || !r);
                 }));
  std::this_thread::sleep_for(150ms);
  asio::post(pool.context(0), [&sig] { sig.emit(asio::cancellation_type::terminal); });
  if (fut.wait_for(1s) != std::future_status::ready) {
    ADD_FAILURE() << "send ignored cancellation";
    return false;
  }
  return fut.get();
}

}  // namespace kp::net::testing
