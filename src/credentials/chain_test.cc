// make_default_chain: source selection order, descriptions without secrets,
// and end-to-end get() through the chosen provider against fake endpoints.
#include "credentials/default_chain.h"

#include <gtest/gtest.h>

#include <map>

#include "base/time_format.h"
#include "credentials/test_http.h"

namespace kp::credentials {
namespace {

using testing::fake_env;

using testing::BeastFetcher;
using testing::FakeHttpServer;
using testing::run_for;

class ChainTest : public ::testing::Test {
 protected:
  boost::asio::io_context ioc_;
  FixedClock clock_{*parse_time_utc("2024-05-01T06:00:00Z")};
  std::shared_ptr<BeastFetcher> http_ = std::make_shared<BeastFetcher>();

  ChainOptions options(std::map<std::string, std::string> env) {
    ChainOptions o;
    o.env = fake_env(std::move(env));
    o.http = http_;
    o.cache.clock = &clock_;
    o.imds.clock = &clock_;
    o.imds.endpoint = HttpEndpoint{"http", "127.0.0.1", testing::unused_port()};
    o.container.timeouts.total = std::chrono::milliseconds(1000);
    o.imds.timeouts.total = std::chrono::milliseconds(1000);
    return o;
  }
};

TEST_F(ChainTest, EnvironmentComesFirst) {
  auto chain =
      make_default_chain(options({{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"},
                                  {"AWS_SECRET_ACCESS_KEY", "very-secret-key"},
                                  {"AWS_SESSION_TOKEN", "very-secret-token"},
                                  {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"}}));
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->kind, SourceKind::kEnvironment);
  EXPECT_EQ(chain->cache, nullptr);
  EXPECT_EQ(chain->description, "environment (AWS_ACCESS_KEY_ID=AKIA...MPLE, with session token)");
  auto creds = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(creds);
  EXPECT_EQ((*creds)->access_key_id, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ((*creds)->session_token.chars(), "very-secret-token");
  EXPECT_EQ(http_->calls(), 0U);
  EXPECT_TRUE(chain->warnings.empty());
  EXPECT_FALSE(chain->expiration);
}

// AWS_CREDENTIAL_EXPIRATION: named in the startup line and kept for the
// expiry metric; keys already past it are a startup warning (KMS decides).
TEST_F(ChainTest, EnvironmentKeysWithAnExpiration) {
  auto later = make_default_chain(options({{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"},
                                           {"AWS_SECRET_ACCESS_KEY", "very-secret-key"},
                                           {"AWS_CREDENTIAL_EXPIRATION", "2199-01-01T00:00:00+02:00"}}));
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ(later->description,
            "environment (AWS_ACCESS_KEY_ID=AKIA...MPLE, no session token, expires 2198-12-31T22:00:00Z)");
  EXPECT_TRUE(later->warnings.empty());
  ASSERT_TRUE(later->expiration);
  EXPECT_EQ(format_rfc3339(*later->expiration), "2198-12-31T22:00:00Z");

  auto past = make_default_chain(options({{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"},
                                          {"AWS_SECRET_ACCESS_KEY", "very-secret-key"},
                                          {"AWS_CREDENTIAL_EXPIRATION", "2020-01-01T00:00:00Z"}}));
  ASSERT_TRUE(past) << past.error().message;
  ASSERT_EQ(past->warnings.size(), 1U);
  EXPECT_EQ(past->warnings[0], "credentials: the keys from environment expired at 2020-01-01T00:00:00Z; KMS will "
                               "refuse requests signed with them");
  // The keys are still served: KMS answers ExpiredTokenException, which reaches the app.
  auto creds = run_for(ioc_, past->provider->get());
  ASSERT_TRUE(creds);
  EXPECT_EQ((*creds)->access_key_id, "AKIAIOSFODNN7EXAMPLE");

  // Beyond 2199: no expiry, as for an IMDS Expiration. Malformed: the start stops.
  auto never = make_default_chain(options({{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"},
                                           {"AWS_SECRET_ACCESS_KEY", "very-secret-key"},
                                           {"AWS_CREDENTIAL_EXPIRATION", "2300-01-01T00:00:00Z"}}));
  ASSERT_TRUE(never) << never.error().message;
  EXPECT_FALSE(never->expiration);
  for (const char* bad : {"tomorrow", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z"}) {
    auto r = make_default_chain(options({{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"},
                                         {"AWS_SECRET_ACCESS_KEY", "very-secret-key"},
                                         {"AWS_CREDENTIAL_EXPIRATION", bad}}));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message, std::string("credentials: AWS_CREDENTIAL_EXPIRATION is not an RFC 3339 time such "
                                             "as 2026-01-31T12:00:00Z: '") + bad + "'");
  }
}

TEST_F(ChainTest, ContainerWhenItsVariablesAreSet) {
  FakeHttpServer server(ioc_, testing::fake_credential_endpoints("/v2/creds"));
  auto o = options({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"},
                    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-auth-token"}});
  o.container.relative_base = server.endpoint();
  auto chain = make_default_chain(std::move(o));
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->kind, SourceKind::kContainer);
  EXPECT_NE(
      chain->description.find("container endpoint " + server.endpoint().to_string() + "/v2/creds"),
      std::string::npos)
      << chain->description;
  EXPECT_NE(chain->description.find("AWS_CONTAINER_AUTHORIZATION_TOKEN"), std::string::npos);
  EXPECT_EQ(chain->description.find("secret-auth-token"), std::string::npos);
  ASSERT_NE(chain->cache, nullptr);

  auto creds = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ((*creds)->access_key_id, "ASIACONT");
  auto again = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(again);
  EXPECT_EQ(server.count("GET", "/v2/creds"), 1U);  // cached
}

TEST_F(ChainTest, ImdsOtherwiseAndItsRegion) {
  FakeHttpServer server(ioc_, testing::fake_credential_endpoints("/v2/creds"));
  auto o = options({{"AWS_ACCESS_KEY_ID", "AKIDAPPDUMMY"}, {"AWS_SECRET_ACCESS_KEY", "dummy"}});
  o.sources = {SourceKind::kContainer, SourceKind::kImds};  // the application's dummy keys must not win
  o.imds.endpoint = server.endpoint();
  auto chain = make_default_chain(std::move(o));
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->kind, SourceKind::kImds);
  EXPECT_EQ(chain->description.rfind("IMDSv2 " + server.endpoint().to_string(), 0), 0U)
      << chain->description;
  auto creds = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ((*creds)->access_key_id, "ASIAIMDS");
  ASSERT_NE(chain->imds, nullptr);
  auto region = run_for(ioc_, chain->imds->region());
  ASSERT_TRUE(region) << region.error().message;
  EXPECT_EQ(*region, "ap-southeast-2");
  EXPECT_EQ(server.count("PUT", "/latest/api/token"), 1U);  // token shared with the region call
}

TEST_F(ChainTest, OnlyTheListedSourcesInTheirOrder) {
  FakeHttpServer server(ioc_, testing::fake_credential_endpoints("/v2/creds"));
  const std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AKIDAPPDUMMY"},
                                                  {"AWS_SECRET_ACCESS_KEY", "dummy"},
                                                  {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"}};
  // IMDS first although the environment has keys and a container endpoint.
  auto o = options(env);
  o.sources = {SourceKind::kImds, SourceKind::kEnvironment};
  o.imds.endpoint = server.endpoint();
  auto chain = make_default_chain(std::move(o));
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->kind, SourceKind::kImds);

  // Container before environment.
  o = options(env);
  o.sources = {SourceKind::kContainer, SourceKind::kEnvironment};
  o.container.relative_base = server.endpoint();
  chain = make_default_chain(std::move(o));
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->kind, SourceKind::kContainer);

  // A listed source that does not apply is skipped; an unlisted one is never used.
  o = options({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"}});
  o.sources = {SourceKind::kEnvironment};
  auto none = make_default_chain(std::move(o));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kCredentialsUnavailable);
  EXPECT_NE(none.error().message.find("tried environment"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find("no AWS_ACCESS_KEY_ID"), std::string::npos) << none.error().message;
  EXPECT_EQ(http_->calls(), 0U);
}

TEST_F(ChainTest, ImdsEndpointFromEnvironment) {
  FakeHttpServer server(ioc_, testing::fake_credential_endpoints("/v2/creds"));
  auto chain = make_default_chain(options({{"AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                            "http://127.0.0.1:" + std::to_string(server.port())}}));
  ASSERT_TRUE(chain) << chain.error().message;
  auto creds = run_for(ioc_, chain->provider->get());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ((*creds)->access_key_id, "ASIAIMDS");
}

TEST_F(ChainTest, ImdsDownGivesACredentialsError) {
  auto chain = make_default_chain(options({}));  // IMDS endpoint: a closed port
  ASSERT_TRUE(chain);
  auto r = run_for(ioc_, chain->provider->get());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_NE(r.error().message.find("IMDSv2"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.error().message;
}

TEST_F(ChainTest, ConfigurationErrors) {
  auto half = make_default_chain(options({{"AWS_ACCESS_KEY_ID", "AKID"}}));
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);

  auto disabled = make_default_chain(options({{"AWS_EC2_METADATA_DISABLED", "true"}}));
  ASSERT_FALSE(disabled);
  EXPECT_NE(disabled.error().message.find("AWS_EC2_METADATA_DISABLED"), std::string::npos);

  auto bad_uri = make_default_chain(
      options({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example.com/"}}));
  ASSERT_FALSE(bad_uri);

  auto o = options({});
  o.http = nullptr;
  auto no_http = make_default_chain(std::move(o));
  ASSERT_FALSE(no_http);
  EXPECT_NE(no_http.error().message.find("no HTTP fetcher"), std::string::npos);
}

}  // namespace
}  // namespace kp::credentials
