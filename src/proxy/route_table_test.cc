#include "proxy/route_table.h"

#include <gtest/gtest.h>

namespace kp::proxy {
namespace {

config::UpstreamOptions options() {
  config::UpstreamOptions u;
  u.default_region = "eu-central-1";
  config::EndpointSpec local;
  local.scheme = "http";
  local.host = "::1";
  local.port = 4566;
  u.endpoints["us-east-1"] = local;
  config::EndpointSpec https;
  https.host = "kms-fips.us-west-2.amazonaws.com";
  u.endpoints["us-west-2"] = https;
  return u;
}

TEST(RouteTable, RegionsKnownAtStartUpAreResolvedOnce) {
  const RouteTable table(options());
  EXPECT_EQ(table.resolved(), 3u);
  Route scratch;
  const Route& a = table.find("eu-central-1", scratch);
  const Route& b = table.find("eu-central-1", scratch);
  EXPECT_EQ(&a, &b);  // the same resolved route, not the scratch
  EXPECT_NE(&a, &scratch);
  EXPECT_EQ(a.endpoint, (net::Endpoint{"https", "kms.eu-central-1.amazonaws.com", 443}));
  EXPECT_EQ(a.host_field, "kms.eu-central-1.amazonaws.com");
  EXPECT_TRUE(scratch.host_field.empty());
}

TEST(RouteTable, OverridesKeepTheirSchemeAndPortAndBracketIpv6) {
  const RouteTable table(options());
  Route scratch;
  const Route& local = table.find("us-east-1", scratch);
  EXPECT_EQ(local.endpoint, (net::Endpoint{"http", "::1", 4566}));
  EXPECT_EQ(local.host_field, "[::1]:4566");
  const Route& fips = table.find("us-west-2", scratch);
  EXPECT_EQ(fips.endpoint, (net::Endpoint{"https", "kms-fips.us-west-2.amazonaws.com", 443}));
  EXPECT_EQ(fips.host_field, "kms-fips.us-west-2.amazonaws.com");
}

TEST(RouteTable, OtherRegionsAreResolvedIntoTheScratchAsEndpointForNamesThem) {
  const auto opts = options();
  const RouteTable table(opts);
  for (const char* region : {"ap-south-1", "us-gov-west-1", "il-central-1"}) {
    Route scratch;
    const Route& r = table.find(region, scratch);
    EXPECT_EQ(&r, &scratch) << region;
    const auto spec = opts.endpoint_for(region);
    EXPECT_EQ(r.endpoint, (net::Endpoint{spec.scheme, spec.host, spec.port})) << region;
    EXPECT_EQ(r.host_field, spec.host) << region;
  }
  EXPECT_EQ(table.resolved(), 3u);  // nothing added on the request path
}

TEST(RouteTable, WithoutDefaultRegionOrOverridesNothingIsResolvedAhead) {
  const RouteTable table(config::UpstreamOptions{});
  EXPECT_EQ(table.resolved(), 0u);
  Route scratch;
  EXPECT_EQ(table.find("us-east-1", scratch).host_field, "kms.us-east-1.amazonaws.com");
}

}  // namespace
}  // namespace kp::proxy
