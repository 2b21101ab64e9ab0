// HttpServer's watch over requests whose client left while the handler works
// (watch_clients in http_session.cc): the handler is cut, the slot freed; a
// client that is still there, or has sent its next request already, is not.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/http_server.h"
#include "net/io_pool.h"
#include "net/net_test_support.h"

namespace kp::net {
namespace {

using namespace kp::net::testing;
namespace asio = boost::asio;

class ClientWatchTest : public ::testing::Test {
 protected:
  void SetUp() override { pool.run(); }
  void TearDown() override {
    pool.stop();
    pool.join();
  }

  static ServerOptions options() {
    ServerOptions o;
    o.port = 0;
    o.shutdown_grace = 2s;
    return o;
  }

  // A handler that works for `work` unless it is cut; counts both outcomes.
  HttpServer::Handler working_for(std::chrono::milliseconds work) {
    return [this, work](kp::HttpRequest) -> asio::awaitable<kp::HttpResponse> {
      asio::steady_timer t(co_await asio::this_coro::executor, work);
      auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      ++(ec ? cut : finished);
      kp::HttpResponse r;
      r.body = "done";
      co_return r;
    };
  }

  static std::string request() { return "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"; }

  IoPool pool{2};
  std::atomic<int> cut{0};
  std::atomic<int> finished{0};
};

TEST_F(ClientWatchTest, ClientThatLeavesHasItsHandlerCutAndItsSlotFreed) {
  HttpServer server(pool, options(), working_for(30s));
  auto port = server.start();
  ASSERT_TRUE(port);
  std::optional<RawConn> c;
  c.emplace(*port);
  c->send(request());
  ASSERT_TRUE(eventually([&] { return server.stats().requests == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  c.reset();  // the client gives up
  // Seen within two watch periods (1 s each), far from the handler's 30 s.
  EXPECT_TRUE(eventually([&] { return cut.load() == 1; }, 4s));
  EXPECT_TRUE(eventually([&] { return server.stats().active_connections == 0; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(finished.load(), 0);
  EXPECT_EQ(server.stats().handler_exceptions, 0u);
}

TEST_F(ClientWatchTest, ClientStillThereOrAlreadyAskingAgainIsServed) {
  HttpServer server(pool, options(), working_for(2500ms));  // longer than two watch periods
  auto port = server.start();
  ASSERT_TRUE(port);
  RawConn waiting(*port);
  waiting.send(request());
  RawConn pipelining(*port);
  pipelining.send(request() + request());  // the next request waits in the socket
  for (RawConn* c : {&waiting, &pipelining, &pipelining}) {
    auto r = c->read_response(10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, "done");
  }
  EXPECT_EQ(cut.load(), 0);
  EXPECT_EQ(finished.load(), 3);
}

}  // namespace
}  // namespace kp::net
