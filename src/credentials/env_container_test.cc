// Environment source and container credentials endpoint, the latter against a
// fake endpoint on 127.0.0.1 through a real socket.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <map>

#include "credentials/container.h"
#include "credentials/environment.h"
#include "credentials/test_http.h"

namespace kp::credentials {
namespace {

using testing::fake_env;

using testing::BeastFetcher;
using testing::FakeHttpServer;
using testing::RecordedRequest;
using testing::run_for;

constexpr std::string_view kContainerBody =
    R"({"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"container-secret","Token":"container-token",)"
    R"("Expiration":"2030-01-01T00:00:00Z","RoleArn":"arn:aws:iam::123456789012:role/r"})";

// --- Environment ------------------------------------------------------------

TEST(EnvironmentSource, ReadsKeysAndOptionalToken) {
  auto r = credentials_from_env(fake_env({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                          {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                                          {"AWS_SESSION_TOKEN", "env-token"}}));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->access_key_id, "AKIDENV");
  EXPECT_EQ((*r)->secret_access_key.chars(), "env-secret");
  EXPECT_EQ((*r)->session_token.chars(), "env-token");
  EXPECT_FALSE((*r)->expiration.has_value());

  auto no_token = credentials_from_env(
      fake_env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}}));
  ASSERT_TRUE(no_token && no_token->has_value());
  EXPECT_TRUE((*no_token)->session_token.empty());

  // botocore's older name for the token, when AWS_SESSION_TOKEN is not set.
  auto legacy = credentials_from_env(fake_env(
      {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}, {"AWS_SECURITY_TOKEN", "old-name"}}));
  ASSERT_TRUE(legacy && legacy->has_value());
  EXPECT_EQ((*legacy)->session_token.chars(), "old-name");
  auto both = credentials_from_env(fake_env({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                             {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                                             {"AWS_SESSION_TOKEN", "new-name"},
                                             {"AWS_SECURITY_TOKEN", "old-name"}}));
  ASSERT_TRUE(both && both->has_value());
  EXPECT_EQ((*both)->session_token.chars(), "new-name");
}

TEST(EnvironmentSource, UnsetOrEmptyMeansNotConfigured) {
  auto none = credentials_from_env(fake_env({}));
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  auto empty =
      credentials_from_env(fake_env({{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""}}));
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_value());
}

TEST(EnvironmentSource, HalfConfiguredIsAnError) {
  auto r = credentials_from_env(fake_env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_NE(r.error().message.find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos);
  auto r2 = credentials_from_env(fake_env({{"AWS_SECRET_ACCESS_KEY", "env-secret"}}));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().message.find("env-secret"), std::string::npos);
}

// --- Container endpoint: settings ------------------------------------------

TEST(ContainerSettings, RelativeUriUsesTheConfiguredBase) {
  ContainerOptions opts;
  auto s = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc?x=1"},
                {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/ignored"}}),
      opts);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->endpoint.to_string(), "http://169.254.170.2:80");
  EXPECT_EQ((*s)->target, "/v2/credentials/abc?x=1");
  EXPECT_EQ((*s)->describe(), "container endpoint http://169.254.170.2:80/v2/credentials/abc");

  auto bad = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/no-slash"}}), opts);
  ASSERT_FALSE(bad);
}

TEST(ContainerSettings, FullUriPlainHttpOnlyToAllowedHosts) {
  const ContainerOptions opts;
  for (std::string_view ok :
       {"http://127.0.0.1:8080/creds", "http://localhost/creds", "http://[::1]:81/c",
        "http://169.254.170.2/v1", "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/get"}) {
    auto s = container_settings_from_env(
        fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", std::string(ok)}}), opts);
    ASSERT_TRUE(s) << ok << ": " << s.error().message;
    ASSERT_TRUE(s->has_value());
  }
  auto https = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example.com/get?a=b"}}),
      opts);
  ASSERT_TRUE(https && https->has_value());
  EXPECT_EQ((*https)->endpoint.scheme, "https");
  EXPECT_EQ((*https)->endpoint.port, 443);
  EXPECT_EQ((*https)->target, "/get?a=b");
  auto v6 = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://[fd00:ec2::23]/v1/credentials"}}),
      opts);
  ASSERT_TRUE(v6 && v6->has_value());
  EXPECT_EQ((*v6)->endpoint.host, "fd00:ec2::23");

  for (std::string_view bad : {"http://example.com/creds", "http://10.0.0.1/creds",
                               "ftp://127.0.0.1/x", "not a uri", "http://u:p@127.0.0.1/x"}) {
    auto s = container_settings_from_env(
        fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", std::string(bad)}}), opts);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, Errc::kCredentialsUnavailable);
    EXPECT_NE(s.error().message.find("AWS_CONTAINER_CREDENTIALS_FULL_URI"), std::string::npos);
  }
}

TEST(ContainerSettings, TokenWithControlCharactersIsRejected) {
  auto s = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/c"},
                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok\r\nX-Evil: 1"}}),
      ContainerOptions{});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message.find("X-Evil"), std::string::npos);
}

// --- Container endpoint: fetching over a socket -----------------------------

class ContainerFetch : public ::testing::Test {
 protected:
  boost::asio::io_context ioc_;
  std::shared_ptr<BeastFetcher> http_ = std::make_shared<BeastFetcher>();

  ContainerOptions options_for(const FakeHttpServer& server) {
    ContainerOptions o;
    o.relative_base = server.endpoint();
    o.timeouts.connect = std::chrono::milliseconds(500);
    o.timeouts.total = std::chrono::milliseconds(1000);
    return o;
  }

  Result<sigv4::Credentials> fetch_once(ContainerCredentialsSource& source) {
    return run_for(ioc_, source.fetch());
  }

  std::filesystem::path temp_file(std::string_view name, std::string_view content) {
    auto p = std::filesystem::path(::testing::TempDir()) /
             (std::string(name) + "-" + std::to_string(::getpid()));
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
  }
};

TEST_F(ContainerFetch, RelativeUriWithTokenFromEnvironment) {
  FakeHttpServer server(ioc_, [](const RecordedRequest& r) -> std::optional<HttpResponse> {
    if (r.method != "GET" || r.target != "/v2/credentials/task-1") {
      return testing::text_response(404, "no");
    }
    return testing::text_response(200, std::string(kContainerBody));
  });
  auto settings = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-1"},
                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0"}}),
      options_for(server));
  ASSERT_TRUE(settings && settings->has_value());
  ContainerCredentialsSource source(http_, std::move(**settings));

  auto creds = fetch_once(source);
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->access_key_id, "ASIACONTAINER");
  EXPECT_EQ(creds->secret_access_key.chars(), "container-secret");
  EXPECT_EQ(creds->session_token.chars(), "container-token");
  ASSERT_TRUE(creds->expiration.has_value());

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].headers.get("Authorization"),
            std::optional<std::string_view>("Basic c2VjcmV0"));
}

TEST_F(ContainerFetch, TokenFileWinsAndIsReReadOnEveryFetch) {
  FakeHttpServer server(ioc_, [](const RecordedRequest&) -> std::optional<HttpResponse> {
    return testing::text_response(200, std::string(kContainerBody));
  });
  const auto file = temp_file("container-token", "file-token-1\n");
  auto settings = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "http://127.0.0.1:" + std::to_string(server.port()) + "/creds"},
                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token-loses"},
                {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file.string()}}),
      options_for(server));
  ASSERT_TRUE(settings && settings->has_value()) << settings.error().message;
  ContainerCredentialsSource source(http_, std::move(**settings));

  ASSERT_TRUE(fetch_once(source));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "file-token-2";
  ASSERT_TRUE(fetch_once(source));

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].target, "/creds");
  EXPECT_EQ(seen[0].headers.get("Authorization"), std::optional<std::string_view>("file-token-1"));
  EXPECT_EQ(seen[1].headers.get("Authorization"), std::optional<std::string_view>("file-token-2"));

  // A token file that turns bad (header injection) stops the fetch locally.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "a\r\nX-Evil: 1";
  auto bad = fetch_once(source);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("control characters"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 2U);

  // A FIFO (or anything not a regular file) is refused at once: reading it
  // blocked the I/O thread until a writer came.
  std::filesystem::remove(file);
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  auto fifo = fetch_once(source);
  ASSERT_FALSE(fifo);
  EXPECT_NE(fifo.error().message.find("is not a regular file"), std::string::npos) << fifo.error().message;
  std::filesystem::remove(file);
  auto missing = fetch_once(source);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot open AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            std::string::npos);
}

TEST_F(ContainerFetch, EndpointDownIsAClearError) {
  ContainerOptions o;
  o.relative_base = HttpEndpoint{"http", "127.0.0.1", testing::unused_port()};
  o.timeouts.connect = std::chrono::milliseconds(500);
  o.timeouts.total = std::chrono::milliseconds(1000);
  auto settings = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"}}), o);
  ASSERT_TRUE(settings && settings->has_value());
  ContainerCredentialsSource source(http_, std::move(**settings));
  auto r = fetch_once(source);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  EXPECT_EQ(r.error().message.rfind("container endpoint http://127.0.0.1:", 0), 0U)
      << r.error().message;
  EXPECT_NE(r.error().message.find("upstream_unreachable"), std::string::npos) << r.error().message;
}

TEST_F(ContainerFetch, MalformedJsonAndHttpErrorsAreClear) {
  int call = 0;
  FakeHttpServer server(ioc_, [&call](const RecordedRequest&) -> std::optional<HttpResponse> {
    ++call;
    if (call == 1) {
      return testing::text_response(200, R"({"AccessKeyId": "A", "SecretAccessKey": )");
    }
    return testing::text_response(403, R"({"message":"denied"})");
  });
  auto settings = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"}}), options_for(server));
  ASSERT_TRUE(settings && settings->has_value());
  ContainerCredentialsSource source(http_, std::move(**settings));

  auto malformed = fetch_once(source);
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().message, source.name() + ": credentials response is not valid JSON");

  auto denied = fetch_once(source);
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().message.find("HTTP 403"), std::string::npos);
  EXPECT_NE(denied.error().message.find("authorization token"), std::string::npos);
  EXPECT_EQ(denied.error().message.find("denied"), std::string::npos);  // no bodies in errors
}

TEST_F(ContainerFetch, SlowEndpointTimesOut) {
  FakeHttpServer server(ioc_, [](const RecordedRequest&) -> std::optional<HttpResponse> {
    return std::nullopt;  // never answer
  });
  auto o = options_for(server);
  o.timeouts.total = std::chrono::milliseconds(300);
  auto settings = container_settings_from_env(
      fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"}}), o);
  ASSERT_TRUE(settings && settings->has_value());
  ContainerCredentialsSource source(http_, std::move(**settings));
  const auto start = std::chrono::steady_clock::now();
  auto r = fetch_once(source);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("upstream_timeout"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace kp::credentials
