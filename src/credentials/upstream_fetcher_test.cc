// The production fetcher: credential requests through net::UpstreamClient and
// a real egress transport. A fake CONNECT proxy (standing in for the enclave's
// egress proxy) tunnels every destination to a fake IMDS / container endpoint
// on 127.0.0.1, so the real link-local addresses are used end to end.
#include "credentials/upstream_fetcher.h"

#include <gtest/gtest.h>

#include <map>

#include "base/time_format.h"
#include "credentials/default_chain.h"
#include "credentials/test_http.h"

namespace kp::credentials {
namespace {

using testing::fake_env;

using testing::FakeConnectProxy;
using testing::FakeHttpServer;
using testing::run_for;


class UpstreamFetcherTest : public ::testing::Test {
 protected:
  // The pool is not run: the tests drive ioc_, and UpstreamClient::send()
  // works (unpooled) from an executor outside its pool.
  net::IoPool pool_{1};
  boost::asio::io_context ioc_;
  FakeHttpServer server_{ioc_, testing::fake_credential_endpoints("/v2/credentials/task")};
  FixedClock clock_{*parse_time_utc("2024-05-01T06:00:00Z")};
  FetchTimeouts timeouts_{std::chrono::milliseconds(1000), std::chrono::milliseconds(2000)};

  std::shared_ptr<net::Transport> via_proxy(const FakeConnectProxy& proxy) {
    return std::make_shared<net::HttpConnectTransport>("127.0.0.1", proxy.port());
  }
};

TEST_F(UpstreamFetcherTest, ImdsAtItsRealAddressThroughTheEgressProxy) {
  FakeConnectProxy proxy(ioc_, server_.port());
  auto http = make_upstream_fetcher(pool_, via_proxy(proxy), timeouts_);
  ImdsOptions o;  // default endpoint: http://169.254.169.254:80
  o.clock = &clock_;
  o.timeouts = timeouts_;
  ImdsCredentialsSource source(std::make_shared<ImdsClient>(http, o));

  auto creds = run_for(ioc_, source.fetch());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->access_key_id, "ASIAIMDS");

  const auto targets = proxy.targets();
  ASSERT_FALSE(targets.empty());
  for (const auto& t : targets) {
    EXPECT_EQ(t, "169.254.169.254:80");
  }
  const auto seen = server_.requests();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].headers.get("Host"), std::optional<std::string_view>("169.254.169.254"));
  EXPECT_EQ(seen[0].headers.get("X-aws-ec2-metadata-token-ttl-seconds"),
            std::optional<std::string_view>("21600"));
  EXPECT_EQ(seen[2].headers.get("X-aws-ec2-metadata-token"),
            std::optional<std::string_view>("tok"));
}

TEST_F(UpstreamFetcherTest, ContainerRelativeUriThroughTheEgressProxy) {
  FakeConnectProxy proxy(ioc_, server_.port());
  ChainOptions o;
  o.env = fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task"}});
  o.http = make_upstream_fetcher(pool_, via_proxy(proxy), timeouts_);
  o.cache.clock = &clock_;
  auto chain = make_default_chain(std::move(o));
  ASSERT_TRUE(chain) << chain.error().message;
  ASSERT_EQ(chain->kind, SourceKind::kContainer);
  auto creds = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ((*creds)->access_key_id, "ASIACONT");
  ASSERT_EQ(proxy.targets().size(), 1U);
  EXPECT_EQ(proxy.targets()[0], "169.254.170.2:80");
}

TEST_F(UpstreamFetcherTest, DirectTransportToALoopbackFullUri) {
  ChainOptions o;
  o.env =
      fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "http://127.0.0.1:" + std::to_string(server_.port()) + "/v2/credentials/task"}});
  o.http = make_upstream_fetcher(pool_, nullptr, timeouts_);
  o.cache.clock = &clock_;
  auto chain = make_default_chain(std::move(o));
  ASSERT_TRUE(chain) << chain.error().message;
  auto creds = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ((*creds)->access_key_id, "ASIACONT");
}

TEST_F(UpstreamFetcherTest, PlainHttpOnlyToAllowListedHosts) {
  FakeConnectProxy proxy(ioc_, server_.port());
  ImdsOptions o;
  o.endpoint = HttpEndpoint{"http", "metadata.internal", 80};
  o.clock = &clock_;
  o.timeouts = timeouts_;

  auto strict = make_upstream_fetcher(pool_, via_proxy(proxy), timeouts_);
  auto refused =
      run_for(ioc_, ImdsCredentialsSource(std::make_shared<ImdsClient>(strict, o)).fetch());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("plain http"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(proxy.targets().empty());  // refused before any byte left

  auto allowing = make_upstream_fetcher(pool_, via_proxy(proxy), timeouts_, {"metadata.internal"});
  auto ok = run_for(ioc_, ImdsCredentialsSource(std::make_shared<ImdsClient>(allowing, o)).fetch());
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_FALSE(proxy.targets().empty());
  EXPECT_EQ(proxy.targets()[0], "metadata.internal:80");
}

TEST_F(UpstreamFetcherTest, SilentEgressProxyTimesOutWithTheHopLimitHint) {
  FakeConnectProxy proxy(ioc_, server_.port(), /*answer=*/false);
  const FetchTimeouts quick{std::chrono::milliseconds(300), std::chrono::milliseconds(600)};
  auto http = make_upstream_fetcher(pool_, via_proxy(proxy), quick);
  ImdsOptions o;
  o.clock = &clock_;
  o.timeouts = quick;
  const auto start = std::chrono::steady_clock::now();
  auto r = run_for(ioc_, ImdsCredentialsSource(std::make_shared<ImdsClient>(http, o)).fetch());
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_NE(r.error().message.find("upstream_timeout"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("HttpPutResponseHopLimit"), std::string::npos);
}

TEST(UpstreamOptions, ImdsOverrideHostFromEnvironment) {
  EXPECT_EQ(plain_http_hosts_from_env(fake_env(
                {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://metadata.internal:8080/"}})),
            std::vector<std::string>{"metadata.internal"});
  EXPECT_TRUE(plain_http_hosts_from_env(
                  fake_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "https://metadata.internal/"}}))
                  .empty());
  EXPECT_TRUE(plain_http_hosts_from_env(fake_env({})).empty());
}

TEST(UpstreamOptions, CredentialDefaults) {
  const auto o = credentials_upstream_options(nullptr, FetchTimeouts{});
  EXPECT_EQ(o.connect_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(o.response_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(o.max_response_body, kMaxResponseBody);
  for (const char* h : {"169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"}) {
    EXPECT_NE(std::find(o.plain_http_hosts.begin(), o.plain_http_hosts.end(), h),
              o.plain_http_hosts.end())
        << h;
  }
}

}  // namespace
}  // namespace kp::credentials
