#include "net/http_client_util.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "net/http_server.h"
#include "net/net_test_support.h"

namespace kp::net {
namespace {

using namespace kp::net::testing;
namespace asio = boost::asio;

TEST(ParseUrl, Forms) {
  auto a = parse_url("https://kms.us-east-1.amazonaws.com");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->endpoint, (Endpoint{"https", "kms.us-east-1.amazonaws.com", 443}));
  EXPECT_EQ(a->target, "/");
  auto b = parse_url("http://169.254.170.2/v2/credentials/abc?x=1#frag");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->endpoint, (Endpoint{"http", "169.254.170.2", 80}));
  EXPECT_EQ(b->target, "/v2/credentials/abc?x=1");
  auto c = parse_url("HTTP://[fd00:ec2::23]:8080?q");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->endpoint, (Endpoint{"http", "fd00:ec2::23", 8080}));
  EXPECT_EQ(c->target, "/?q");
  for (const char* badu : {"kms.amazonaws.com", "ftp://x", "https://user:pw@host/", "https://:443/",
                           "https://host:0/", "https://host:70000/", "https://host:4a/", "https://[::1/"}) {
    auto r = parse_url(badu);
    ASSERT_FALSE(r) << badu;
    EXPECT_EQ(r.error().code, Errc::kValidation);
    EXPECT_EQ(r.error().message.find("pw"), std::string::npos);
  }
}

TEST(Fetch, OneShotRequestThroughTheClient) {
  IoPool pool(1);
  pool.run();
  {
    ServerOptions so;
    so.port = 0;
    HttpServer server(pool, so, [](kp::HttpRequest req) -> asio::awaitable<kp::HttpResponse> {
      kp::HttpResponse r;
      r.body = req.method + " " + req.target + " " + std::string(req.headers.get("X-Token").value_or(""));
      co_return r;
    });
    auto port = server.start();
    ASSERT_TRUE(port);
    UpstreamClient client(pool, {});
    kp::Headers h;
    h.set("X-Token", "t0k");
    auto r = run_on(pool.context(0),
                    fetch(client, "GET", "http://127.0.0.1:" + std::to_string(*port) + "/latest/api?x=1", h));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "GET /latest/api?x=1 t0k");
    auto bad = run_on(pool.context(0), fetch(client, "GET", "http://user@127.0.0.1/"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::kValidation);
  }
  pool.stop();
  pool.join();
}

}  // namespace
}  // namespace kp::net
