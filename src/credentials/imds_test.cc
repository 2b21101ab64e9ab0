// IMDSv2 against a fake metadata service on 127.0.0.1 (real sockets).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "base/time_format.h"
#include "credentials/imds.h"
#include "credentials/test_http.h"

namespace kp::credentials {
namespace {

using testing::BeastFetcher;
using testing::FakeHttpServer;
using testing::RecordedRequest;
using testing::run_for;
using testing::text_response;

constexpr std::string_view kTokenPath = "/latest/api/token";
constexpr std::string_view kRolesPath = "/latest/meta-data/iam/security-credentials/";
constexpr std::string_view kRolePath = "/latest/meta-data/iam/security-credentials/kms-proxy-role";

/// A small model of IMDSv2: tokens are issued by PUT and required on GETs.
struct FakeImds {
  std::set<std::string> valid_tokens;
  int issued = 0;
  bool hang_put = false;
  unsigned put_status = 200;
  bool has_role = true;
  std::string code = "Success";
  std::string region = "eu-west-2\n";

  std::optional<HttpResponse> handle(const RecordedRequest& r) {
    if (r.method == "PUT" && r.target == kTokenPath) {
      if (hang_put) {
        return std::nullopt;
      }
      if (put_status != 200) {
        return text_response(put_status, "");
      }
      if (!r.headers.get("X-aws-ec2-metadata-token-ttl-seconds")) {
        return text_response(400, "");
      }
      std::string tok = "imds-token-" + std::to_string(++issued);
      valid_tokens.insert(tok);
      auto resp = text_response(200, tok);
      resp.headers.set("X-aws-ec2-metadata-token-ttl-seconds",
                       std::string(*r.headers.get("X-aws-ec2-metadata-token-ttl-seconds")));
      return resp;
    }
    if (r.method != "GET") {
      return text_response(405, "");
    }
    auto tok = r.headers.get("X-aws-ec2-metadata-token");
    if (!tok || valid_tokens.count(std::string(*tok)) == 0) {
      return text_response(401, "");
    }
    if (r.target == kRolesPath) {
      return has_role ? text_response(200, "kms-proxy-role\n") : text_response(404, "");
    }
    if (r.target == kRolePath) {
      return text_response(
          200, R"({"Code":")" + code +
                   R"(","LastUpdated":"2024-05-01T06:00:00Z","Type":"AWS-HMAC",)"
                   R"("AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds-secret",)"
                   R"("Token":"imds-session-token","Expiration":"2024-05-01T12:00:00Z"})");
    }
    if (r.target == "/latest/meta-data/placement/region") {
      return text_response(200, region);
    }
    return text_response(404, "");
  }
};

class ImdsTest : public ::testing::Test {
 protected:
  boost::asio::io_context ioc_;
  FakeImds imds_;
  FakeHttpServer server_{ioc_, [this](const RecordedRequest& r) { return imds_.handle(r); }};
  FixedClock clock_{*parse_time_utc("2024-05-01T06:00:00Z")};
  std::shared_ptr<BeastFetcher> http_ = std::make_shared<BeastFetcher>();

  ImdsOptions options() {
    ImdsOptions o;
    o.endpoint = server_.endpoint();
    o.clock = &clock_;
    o.timeouts.connect = std::chrono::milliseconds(500);
    o.timeouts.total = std::chrono::milliseconds(1000);
    return o;
  }
};

TEST_F(ImdsTest, TokenThenRoleThenCredentialsWithTokenHeader) {
  auto client = std::make_shared<ImdsClient>(http_, options());
  ImdsCredentialsSource source(client);
  EXPECT_EQ(source.name(), "IMDSv2 " + server_.endpoint().to_string());

  auto creds = run_for(ioc_, source.fetch());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->access_key_id, "ASIAIMDS");
  EXPECT_EQ(creds->secret_access_key.chars(), "imds-secret");
  EXPECT_EQ(creds->session_token.chars(), "imds-session-token");
  ASSERT_TRUE(creds->expiration.has_value());
  EXPECT_EQ(format_rfc3339(*creds->expiration), "2024-05-01T12:00:00Z");

  const auto seen = server_.requests();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, kTokenPath);
  EXPECT_EQ(seen[0].headers.get("X-aws-ec2-metadata-token-ttl-seconds"),
            std::optional<std::string_view>("21600"));
  EXPECT_FALSE(seen[0].headers.contains("X-aws-ec2-metadata-token"));
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].target, kRolesPath);
  EXPECT_EQ(seen[1].headers.get("X-aws-ec2-metadata-token"),
            std::optional<std::string_view>("imds-token-1"));
  EXPECT_EQ(seen[2].target, kRolePath);
  EXPECT_EQ(seen[2].headers.get("X-aws-ec2-metadata-token"),
            std::optional<std::string_view>("imds-token-1"));
}

TEST_F(ImdsTest, TokenIsReusedUntilNearItsTtl) {
  auto client = std::make_shared<ImdsClient>(http_, options());
  ImdsCredentialsSource source(client);
  ASSERT_TRUE(run_for(ioc_, source.fetch()));
  clock_.advance(std::chrono::hours(5));
  ASSERT_TRUE(run_for(ioc_, source.fetch()));
  EXPECT_EQ(server_.count("PUT", kTokenPath), 1U);
  EXPECT_EQ(client->tokens_fetched(), 1U);
  EXPECT_EQ(server_.count("GET", kRolePath), 2U);

  // 6 h TTL, renewed in its last 5 minutes.
  clock_.advance(std::chrono::minutes(56));
  ASSERT_TRUE(run_for(ioc_, source.fetch()));
  EXPECT_EQ(server_.count("PUT", kTokenPath), 2U);
  const auto seen = server_.requests();
  EXPECT_EQ(seen.back().headers.get("X-aws-ec2-metadata-token"),
            std::optional<std::string_view>("imds-token-2"));
}

TEST_F(ImdsTest, RejectedTokenIsReplacedOnce) {
  auto client = std::make_shared<ImdsClient>(http_, options());
  ImdsCredentialsSource source(client);
  ASSERT_TRUE(run_for(ioc_, source.fetch()));
  imds_.valid_tokens.clear();  // IMDS "restarted": old tokens answer 401
  auto creds = run_for(ioc_, source.fetch());
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(server_.count("PUT", kTokenPath), 2U);
}

TEST_F(ImdsTest, UnansweredTokenPutHintsAtHopLimit) {
  imds_.hang_put = true;
  auto o = options();
  o.timeouts.total = std::chrono::milliseconds(300);
  auto client = std::make_shared<ImdsClient>(http_, o);
  ImdsCredentialsSource source(client);
  const auto start = std::chrono::steady_clock::now();
  auto r = run_for(ioc_, source.fetch());
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(r.error().code, Errc::kCredentialsUnavailable);
  const auto& msg = r.error().message;
  EXPECT_NE(msg.find("PUT /latest/api/token"), std::string::npos) << msg;
  EXPECT_NE(msg.find("upstream_timeout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HttpPutResponseHopLimit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 or more"), std::string::npos) << msg;
  EXPECT_EQ(server_.count("GET", kRolesPath), 0U);  // no IMDSv1 fallback
}

// A hop limit drops IMDS's answer: only a timeout hints at it. A refusal or
// nothing listening gets a hint of its own.
TEST_F(ImdsTest, RefusedTokenPutAndUnreachableImdsHintElsewhere) {
  imds_.put_status = 403;
  auto client = std::make_shared<ImdsClient>(http_, options());
  auto r = run_for(ioc_, ImdsCredentialsSource(client).fetch());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("HTTP 403"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("X-Forwarded-For"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("HttpPutResponseHopLimit"), std::string::npos) << r.error().message;

  auto o = options();
  o.endpoint.port = testing::unused_port();
  auto down = std::make_shared<ImdsClient>(http_, o);
  auto r2 = run_for(ioc_, ImdsCredentialsSource(down).fetch());
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("upstream_unreachable"), std::string::npos)
      << r2.error().message;
  EXPECT_NE(r2.error().message.find("outside EC2"), std::string::npos) << r2.error().message;
  EXPECT_EQ(r2.error().message.find("HttpPutResponseHopLimit"), std::string::npos) << r2.error().message;
}

TEST_F(ImdsTest, NoRoleAndFailedCodeAreClearErrors) {
  imds_.has_role = false;
  auto client = std::make_shared<ImdsClient>(http_, options());
  ImdsCredentialsSource source(client);
  auto r = run_for(ioc_, source.fetch());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no IAM role is attached"), std::string::npos)
      << r.error().message;

  imds_.has_role = true;
  imds_.code = "AssumeRoleUnauthorizedAccess";
  auto r2 = run_for(ioc_, source.fetch());
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("AssumeRoleUnauthorizedAccess"), std::string::npos);
  EXPECT_NE(r2.error().message.find("kms-proxy-role"), std::string::npos);
  EXPECT_EQ(r2.error().message.find("imds-secret"), std::string::npos);
}

TEST_F(ImdsTest, RegionFromPlacement) {
  auto r = run_for(ioc_, fetch_region_from_imds(http_, options()));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "eu-west-2");
  EXPECT_EQ(server_.count("PUT", kTokenPath), 1U);

  imds_.region = "eu-west-2\r\nX: y";
  auto bad = run_for(ioc_, fetch_region_from_imds(http_, options()));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kUpstreamProtocol);
  EXPECT_EQ(bad.error().message.find('\n'), std::string::npos);
}

TEST(ImdsEnv, EndpointOverrideAndDisable) {
  auto env = [](std::map<std::string, std::string> vars) -> EnvLookup {
    return [vars](std::string_view n) -> std::optional<std::string> {
      auto it = vars.find(std::string(n));
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  auto ep = imds_endpoint_from_env(
      env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]"}}));
  ASSERT_TRUE(ep && ep->has_value());
  EXPECT_EQ((*ep)->to_string(), "http://[fd00:ec2::254]:80");
  EXPECT_FALSE(imds_endpoint_from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "nope"}})));
  // The endpoint mode, as the SDKs read it; the endpoint itself wins.
  auto v6 = imds_endpoint_from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv6"}}));
  ASSERT_TRUE(v6 && v6->has_value());
  EXPECT_EQ((*v6)->to_string(), "http://[fd00:ec2::254]:80");
  auto v4 = imds_endpoint_from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4"}}));
  ASSERT_TRUE(v4);
  EXPECT_FALSE(v4->has_value());
  EXPECT_FALSE(imds_endpoint_from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv5"}})));
  auto both = imds_endpoint_from_env(env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"},
                                          {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://10.0.0.1"}}));
  ASSERT_TRUE(both && both->has_value());
  EXPECT_EQ((*both)->host, "10.0.0.1");
  EXPECT_TRUE(imds_disabled_by_env(env({{"AWS_EC2_METADATA_DISABLED", "TRUE"}})));
  EXPECT_FALSE(imds_disabled_by_env(env({{"AWS_EC2_METADATA_DISABLED", "false"}})));
  EXPECT_FALSE(imds_disabled_by_env(env({})));
}

}  // namespace
}  // namespace kp::credentials
