// Tests for config/overrides.h (environment, flags, the build_config
// pipeline) and the small syntax helpers of config.h / address.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "config/address.h"
#include "config/enclaver_yaml.h"
#include "config/overrides.h"
#include "config/validate.h"

namespace kp::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::filesystem::path kData = std::filesystem::path(KP_SOURCE_DIR) / "src/config/testdata";

std::vector<std::string> lines(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& x : d) {
    out.push_back(x.to_string());
  }
  return out;
}

std::vector<std::string> errors(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& x : d) {
    if (x.severity == Severity::kError) {
      out.push_back(x.to_string());
    }
  }
  return out;
}

// --- Environment ---------------------------------------------------------------

TEST(Environment, RegionPrefersAwsRegion) {
  Config c;
  EXPECT_THAT(apply_environment(c, fixed_env({{"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "us-east-1"}})),
              IsEmpty());
  EXPECT_EQ(c.upstream.default_region, std::optional<std::string>("eu-west-1"));
  EXPECT_EQ(c.origin_of("kms_proxy.region").source, "environment AWS_REGION");

  Config d;
  apply_environment(d, fixed_env({{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", "us-east-1"}}));
  EXPECT_EQ(d.upstream.default_region, std::optional<std::string>("us-east-1"));

  Config none;
  apply_environment(none, fixed_env({}));
  EXPECT_FALSE(none.upstream.default_region.has_value());
}

// AWS_EC2_METADATA_SERVICE_ENDPOINT wins over credentials.imds_endpoint, so
// the egress check looks at its host, not at the file's.
TEST(Environment, ImdsEgressCheckUsesTheEnvironmentEndpoint) {
  auto parsed = parse_enclaver_yaml(
      "egress:\n  allow: [kms.*.amazonaws.com, 169.254.169.254]\nkms_proxy:\n  listen_port: 9999\n"
      "  credentials:\n    sources: [imds]\n",
      "e.yaml");
  ASSERT_TRUE(parsed.has_value());
  Config admitted = *parsed;
  EXPECT_THAT(errors(validate(admitted)), IsEmpty());

  Config overridden = *parsed;
  apply_environment(overridden, fixed_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://10.9.9.9:8080/"}}));
  EXPECT_EQ(overridden.credentials.imds_host_from_env, std::optional<std::string>("10.9.9.9"));
  EXPECT_THAT(errors(validate(overridden)),
              ElementsAre(HasSubstr("does not admit 10.9.9.9 (IMDS credentials (AWS_EC2_METADATA_SERVICE_ENDPOINT[_MODE]))")));

  Config v6 = *parsed;
  v6.egress.allow.push_back("fd00:ec2::254");
  apply_environment(v6, fixed_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]"}}));
  EXPECT_THAT(errors(validate(v6)), IsEmpty());

  // AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 names IMDS's IPv6 address.
  Config mode = *parsed;
  apply_environment(mode, fixed_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"}}));
  EXPECT_EQ(mode.credentials.imds_host_from_env, std::optional<std::string>("fd00:ec2::254"));
  EXPECT_THAT(errors(validate(mode)), ElementsAre(HasSubstr("does not admit fd00:ec2::254")));
}

TEST(Environment, ProxyVariablesLowerCaseFirst) {
  Config c;
  apply_environment(c, fixed_env({{"https_proxy", "http://127.0.0.1:3128"},
                                  {"HTTPS_PROXY", "http://10.0.0.1:8080"},
                                  {"NO_PROXY", " localhost, .internal ,,127.0.0.1 "}}));
  EXPECT_EQ(c.egress.https_proxy, std::optional<std::string>("http://127.0.0.1:3128"));
  EXPECT_THAT(c.egress.no_proxy, ElementsAre("localhost", ".internal", "127.0.0.1"));
  const auto proxy = upstream_proxy(c.egress);
  ASSERT_TRUE(proxy.has_value());
  EXPECT_EQ(proxy->host, "127.0.0.1");
  EXPECT_EQ(proxy->port, 3128);
}

TEST(Environment, BadProxyUrlReportedByValidateWithoutItsPassword) {
  Config c;
  apply_environment(c, fixed_env({{"HTTPS_PROXY", "http://user:secret@proxy:8080"}}));
  const auto e = errors(validate(c));
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0], "environment HTTPS_PROXY: proxy URL: user info is not supported");
  EXPECT_THAT(e[0], ::testing::Not(HasSubstr("secret")));

  Config t;
  apply_environment(t, fixed_env({{"https_proxy", "https://proxy:443"}}));
  EXPECT_THAT(errors(validate(t)),
              ElementsAre("environment https_proxy: proxy URL: only http:// proxies are supported"));
}

TEST(Environment, BadRegionFromEnvironmentNamesTheVariable) {
  Config c;
  apply_environment(c, fixed_env({{"AWS_DEFAULT_REGION", "Mars 1"}}));
  EXPECT_THAT(errors(validate(c)),
              ElementsAre("environment AWS_DEFAULT_REGION: region 'Mars 1' is not a region name (lower-case "
                          "letters, digits and '-')"));
}

TEST(Environment, ProcessEnvReadsRealVariables) {
  // Only reads; PATH exists in every test environment, this name does not.
  EXPECT_TRUE(process_env()("PATH").has_value());
  EXPECT_FALSE(process_env()("KP_CONFIG_TEST_SURELY_UNSET_VARIABLE").has_value());
}

// --- Flags ------------------------------------------------------------------------

TEST(Flags, OverrideFileValues) {
  auto file = parse_enclaver_yaml(
      "kms_proxy:\n  listen_port: 9999\n  region: us-east-1\n  log:\n    level: info\n", "f.yaml");
  ASSERT_TRUE(file.has_value());
  Config c = std::move(*file);
  FlagOverrides f;
  f.port = "8888";
  f.region = "eu-north-1";
  f.endpoints = {"eu-north-1=https://127.0.0.1:4443", "us-east-1=kms.example.net:8443"};
  f.attestation_mode = "simulated";
  f.sim_pki_dir = "/tmp/pki";
  f.pcrs = {"PCR4=" + std::string(96, 'a')};
  f.attestation_max_age = "2m";
  f.attestation_timeout = "1500ms";
  f.log_level = "debug";
  f.log_format = "json";
  f.vsock = "3:5000";
  f.metrics_listen = "[::1]:9100";
  f.max_connections = "10";
  f.ca_files = {"/ca.pem"};
  f.egress_proxy_port = "11000";
  f.threads = "2";
  f.busy_poll_us = "10000";
  f.credential_sources = "imds,env";
  EXPECT_THAT(apply_overrides(c, f), IsEmpty());
  EXPECT_EQ(c.listen.port, 8888);
  EXPECT_EQ(c.origin_of("kms_proxy.listen_port").source, "--port");
  EXPECT_EQ(c.upstream.default_region, std::optional<std::string>("eu-north-1"));
  EXPECT_EQ(c.upstream.endpoints.at("eu-north-1").url(), "https://127.0.0.1:4443");
  EXPECT_EQ(c.upstream.endpoints.at("us-east-1").url(), "https://kms.example.net:8443");
  EXPECT_EQ(c.attestation.mode, AttestationMode::kSimulated);
  EXPECT_EQ(c.attestation.pcrs.at(4), Bytes(48, 0xaa));
  EXPECT_EQ(c.attestation.max_age, std::chrono::seconds(120));
  EXPECT_EQ(c.attestation.timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.origin_of("kms_proxy.attestation.timeout").source, "--attestation-timeout");
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  EXPECT_EQ(c.log.format, LogFormat::kJson);
  EXPECT_EQ(c.vsock.cid, std::optional<std::uint32_t>(3));
  EXPECT_EQ(c.vsock.port, 5000U);
  EXPECT_EQ(c.metrics.listen->host, "::1");
  EXPECT_EQ(c.listen.max_connections, 10U);
  EXPECT_THAT(c.upstream.ca_files, ElementsAre("/ca.pem"));
  EXPECT_EQ(c.egress.proxy_port, std::optional<std::uint16_t>(11000));
  EXPECT_EQ(c.io.threads, 2U);
  EXPECT_EQ(c.io.busy_poll, std::chrono::microseconds(10'000));
  EXPECT_EQ(c.origin_of("kms_proxy.io.busy_poll_us").source, "--busy-poll-us");
  EXPECT_THAT(c.credentials.chain, ElementsAre(CredentialSource::kImds, CredentialSource::kEnv));
  EXPECT_EQ(c.origin_of("kms_proxy.credentials.sources").source, "--credential-sources");
  EXPECT_THAT(errors(validate(c)), IsEmpty());
}

// credentials.sources as a flag (an Enclaver manifest cannot carry it):
// the same names, in order, each once; a bad list leaves the default.
TEST(Flags, CredentialSources) {
  for (const auto& [value, message] : std::vector<std::pair<std::string, std::string>>{
           {"imds,imds", "--credential-sources: 'imds' is listed twice"},
           {"", "--credential-sources: expected a comma-separated list of env, profile, container and imds, got ''"},
           {"env,,imds", "--credential-sources: expected a comma-separated list of env, profile, container and imds, "
                         "got 'env,,imds'"},
           {"env, imds", "--credential-sources: expected a comma-separated list of env, profile, container and imds, "
                         "got 'env, imds'"},
           {"sso", "--credential-sources: expected a comma-separated list of env, profile, container and imds, "
                   "got 'sso'"}}) {
    Config c;
    FlagOverrides f;
    f.credential_sources = value;
    EXPECT_THAT(lines(apply_overrides(c, f)), ElementsAre(message)) << value;
    EXPECT_EQ(c.credentials.chain.size(), 4U) << value;
  }
  Config c;
  FlagOverrides f;
  f.credential_sources = "container";
  EXPECT_THAT(apply_overrides(c, f), IsEmpty());
  EXPECT_THAT(c.credentials.chain, ElementsAre(CredentialSource::kContainer));
}

TEST(Flags, ListenFlagSetsHostAndPortAndIsValidated) {
  Config c;
  FlagOverrides f;
  f.listen = "0.0.0.0:7000";
  EXPECT_THAT(apply_overrides(c, f), IsEmpty());
  EXPECT_EQ(c.listen.port, 7000);
  EXPECT_THAT(errors(validate(c)),
              ElementsAre("--listen: listen address '0.0.0.0' is not a loopback address: the KMS proxy must "
                          "only be reachable from inside the enclave (use 127.0.0.1 or ::1)"));
  Config v6;
  f.listen = "[::1]:7001";
  f.port = "7002";  // --port wins over the port in --listen
  EXPECT_THAT(apply_overrides(v6, f), IsEmpty());
  EXPECT_EQ(v6.listen.host, "::1");
  EXPECT_EQ(v6.listen.port, 7002);
  EXPECT_EQ(child_environment(v6)[0].second, "http://[::1]:7002");
  EXPECT_EQ(child_environment(v6, 40000)[0].second, "http://[::1]:40000");
  // With egress the app gets proxy variables: its no_proxy must name the
  // proxy's own address, or its KMS calls would go to the egress proxy.
  v6.egress.allow = {"kms.*.amazonaws.com"};
  const auto env = child_environment(v6, 40000);
  EXPECT_THAT(env, ::testing::Contains(std::pair<std::string, std::string>("no_proxy", "localhost,127.0.0.1,::1,[::1]")));
  EXPECT_THAT(env, ::testing::Contains(std::pair<std::string, std::string>("NO_PROXY", "localhost,127.0.0.1,::1,[::1]")));
  Config v4 = v6;
  v4.listen.host = "127.0.0.2";
  EXPECT_THAT(child_environment(v4),
              ::testing::Contains(std::pair<std::string, std::string>("no_proxy", "localhost,127.0.0.1,127.0.0.2")));
}

TEST(Flags, BadValuesAllReportedWithFlagNames) {
  Config c;
  FlagOverrides f;
  f.listen = "127.0.0.1:http";
  f.endpoints = {"no-equals-sign", "us-east-1=ftp://x"};
  f.attestation_mode = "tpm";
  f.pcrs = {"40=" + std::string(96, 'a'), "1=abc"};
  f.attestation_max_age = "1500ms";
  f.attestation_timeout = "soon";
  f.vsock = "host:17002";
  f.log_level = "loud";
  f.metrics_listen = "127.0.0.1";
  f.threads = "257";
  f.busy_poll_us = "10001";
  f.port = "abc";
  f.max_connections = "5000000";
  f.egress_proxy_port = "-1";
  EXPECT_THAT(lines(apply_overrides(c, f)),
              ElementsAre("--listen: expected HOST[:PORT] (IPv6 in brackets), got '127.0.0.1:http'",
                          "--port: expected a whole number 0..65535, got 'abc'",
                          "--endpoint: expected REGION=[https://]HOST[:PORT], got 'no-equals-sign'",
                          "--endpoint: 'us-east-1=ftp://x': endpoint: scheme must be https:// or http://, got "
                          "'ftp://'",
                          "--vsock: expected CID:PORT (e.g. 3:8000), got 'host:17002'",
                          "--egress-proxy-port: expected a whole number 1..65535, got '-1'",
                          "--attestation: expected nsm, simulated or none, got 'tpm'",
                          "--pcr: PCR40: index out of range 0..31",
                          "--pcr: PCR1: value is not hex (expected 96 hex digits)",
                          "--attestation-max-age: expected a whole number of seconds such as 0, 30s or 5m, got "
                          "'1500ms'",
                          "--attestation-timeout: expected a duration such as 500ms, 10s or 1m, got 'soon'",
                          "--log-level: expected trace, debug, info, warn, error or off, got 'loud'",
                          "--metrics-listen: expected HOST:PORT, got '127.0.0.1'",
                          "--max-connections: expected a whole number 1..1000000, got '5000000'",
                          "--threads: expected a whole number 0..256, got '257'",
                          "--busy-poll-us: expected a whole number 0..10000, got '10001'"));
  // Nothing was half-applied.
  EXPECT_EQ(c.listen.port, kDefaultKmsPort);
  EXPECT_EQ(c.attestation.mode, AttestationMode::kNsm);
  EXPECT_TRUE(c.attestation.pcrs.empty());
  EXPECT_EQ(c.io.threads, 0U);
  EXPECT_EQ(c.io.busy_poll.count(), 0);
}

// --- The whole pipeline ------------------------------------------------------------

TEST(BuildConfig, PrecedenceFileEnvFlags) {
  FlagOverrides flags;
  flags.region = "ap-south-1";
  auto loaded = build_config(kData / "seed_minimal.yaml", flags,
                             fixed_env({{"AWS_REGION", "eu-west-1"}, {"https_proxy", "http://127.0.0.1:3128/"}}));
  EXPECT_TRUE(loaded.ok()) << format_diagnostics(loaded.diagnostics);
  EXPECT_EQ(loaded.config.upstream.default_region, std::optional<std::string>("ap-south-1"));
  EXPECT_EQ(loaded.config.listen.port, 9999);
  // egress configured, no explicit proxy_port: https_proxy from env comes first.
  EXPECT_EQ(upstream_proxy(loaded.config.egress)->port, 3128);

  auto env_only = build_config(kData / "seed_minimal.yaml", {}, fixed_env({{"AWS_REGION", "eu-west-1"}}));
  EXPECT_EQ(env_only.config.upstream.default_region, std::optional<std::string>("eu-west-1"));
  EXPECT_EQ(upstream_proxy(env_only.config.egress)->port, kDefaultEgressProxyPort);
}

TEST(BuildConfig, NoFileUsesDefaults) {
  auto loaded = build_config(std::nullopt, {}, fixed_env({}));
  EXPECT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded.diagnostics.empty());
  EXPECT_EQ(loaded.config.listen.port, kDefaultKmsPort);
  EXPECT_FALSE(upstream_proxy(loaded.config.egress).has_value());
}

TEST(BuildConfig, FileFlagAndEnvironmentProblemsTogether) {
  FlagOverrides flags;
  flags.attestation_mode = "bogus";
  auto loaded = build_config(kData / "err_duplicate.yaml", flags, fixed_env({}));
  EXPECT_FALSE(loaded.ok());
  EXPECT_THAT(lines(loaded.diagnostics),
              ElementsAre((kData / "err_duplicate.yaml").string() +
                              ":3: duplicate key 'kms_proxy.listen_port' (first at line 2)",
                          "--attestation: expected nsm, simulated or none, got 'bogus'"));
}

// A broken file does not hide a bad flag or environment value that only
// validation finds (a region name, a proxy URL's scheme).
TEST(BuildConfig, BrokenFileStillReportsBadFlagAndEnvironmentValues) {
  FlagOverrides flags;
  flags.region = "Bad_R";
  auto loaded = build_config(kData / "err_duplicate.yaml", flags, fixed_env({{"https_proxy", "ftp://x"}}));
  EXPECT_FALSE(loaded.ok());
  const auto all = lines(loaded.diagnostics);
  ASSERT_GE(all.size(), 3u) << format_diagnostics(loaded.diagnostics);
  EXPECT_EQ(all[0], (kData / "err_duplicate.yaml").string() +
                        ":3: duplicate key 'kms_proxy.listen_port' (first at line 2)");
  const auto mentions = [&](std::string_view what) {
    return std::any_of(all.begin(), all.end(), [&](const std::string& l) { return l.find(what) != l.npos; });
  };
  EXPECT_TRUE(mentions("--region")) << format_diagnostics(loaded.diagnostics);
  EXPECT_TRUE(mentions("https_proxy")) << format_diagnostics(loaded.diagnostics);
  // Without those, only the file's problem; and no check between settings,
  // which the defaults standing in for the file would fail (a --sim-pki-dir
  // for the file's simulated mode, a metrics port meeting the default one).
  FlagOverrides between;
  between.sim_pki_dir = "/tmp/pki";
  between.metrics_listen = "127.0.0.1:9999";
  EXPECT_EQ(lines(build_config(kData / "err_duplicate.yaml", between, fixed_env({})).diagnostics).size(), 1u)
      << format_diagnostics(build_config(kData / "err_duplicate.yaml", between, fixed_env({})).diagnostics);
}

TEST(BuildConfig, ValidationUsesFlagOrigins) {
  FlagOverrides flags;
  flags.port = "9999";
  auto loaded = build_config(kData / "err_ingress_kms_port.yaml", flags, fixed_env({}));
  EXPECT_FALSE(loaded.ok());
  EXPECT_THAT(errors(loaded.diagnostics),
              ElementsAre((kData / "err_ingress_kms_port.yaml").string() +
                          ":8: kms_proxy.listen_port 9999 is also listed under ingress: that would expose "
                          "decryption outside the enclave"));
  flags.port = "9998";  // moving the port away fixes it
  EXPECT_TRUE(build_config(kData / "err_ingress_kms_port.yaml", flags, fixed_env({})).ok());
}

TEST(BuildConfig, MeasurementsFromFlagLoadedAndExplicitPcrWins) {
  FlagOverrides flags;
  flags.attestation_mode = "simulated";
  flags.sim_pki_dir = "/tmp/pki";
  flags.measurements_file = (kData / "measurements.json").string();
  flags.pcrs = {"0=" + std::string(96, '0')};
  auto loaded = build_config(std::nullopt, flags, fixed_env({}));
  ASSERT_TRUE(loaded.ok()) << format_diagnostics(loaded.diagnostics);
  const auto& pcrs = loaded.config.attestation.pcrs;
  ASSERT_EQ(pcrs.size(), 3U);
  EXPECT_EQ(pcrs.at(0), Bytes(48, 0));
  EXPECT_EQ(pcrs.at(1).size(), 48U);

  flags.measurements_file = (kData / "missing.json").string();
  auto missing = build_config(std::nullopt, flags, fixed_env({}));
  EXPECT_THAT(errors(missing.diagnostics),
              ElementsAre("--measurements: cannot read measurements file '" + (kData / "missing.json").string() +
                          "': No such file or directory"));
}

// --- Syntax helpers ---------------------------------------------------------------------

TEST(Syntax, Durations) {
  EXPECT_EQ(parse_duration("250ms"), std::optional(Millis(250)));
  EXPECT_EQ(parse_duration("10s"), std::optional(Millis(10000)));
  EXPECT_EQ(parse_duration("10"), std::optional(Millis(10000)));
  EXPECT_EQ(parse_duration("5m"), std::optional(Millis(300000)));
  EXPECT_EQ(parse_duration("1h"), std::optional(Millis(3600000)));
  // The longest is 100000h: 3000000h wrapped round in the nanosecond clocks.
  EXPECT_EQ(parse_duration("100000h"), std::optional(kMaxDuration));
  for (const char* bad : {"", "s", "-1s", "1.5s", "10 s", "3d", "1234567890s", "100001h", "3000000h", "999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

// Error messages quote URLs without their user info (a password) and
// without terminal escapes.
TEST(Syntax, UrlsInMessages) {
  EXPECT_EQ(url_for_message("https://AKIAEXAMPLE:wJalrSECRET@kms.example.com:443"), "https://***@kms.example.com:443");
  EXPECT_EQ(url_for_message("us-east-1=http://admin:Sup3r@127.0.0.1:1/x@y"), "us-east-1=http://***@127.0.0.1:1/x@y");
  EXPECT_EQ(url_for_message("user:pw@host"), "***@host");
  EXPECT_EQ(url_for_message("https://host/p"), "https://host/p");
  EXPECT_EQ(url_for_message("\xff\x1b[31mred"), "??[31mred");
  EXPECT_EQ(url_for_message(std::string(300, 'h')), std::string(200, 'h') + "...");
  EXPECT_EQ(value_for_message(std::string(900000, 'r')).size(), 203U);  // a 900 KB region printed whole
  FlagOverrides f;
  f.endpoints = {"us-east-1=https://AKIA:topsecret@kms.example.com/path"};
  Config cfg;
  const auto d = apply_overrides(cfg, f);
  ASSERT_FALSE(d.empty());
  for (const auto& e : d) {
    EXPECT_EQ(e.message.find("topsecret"), std::string::npos) << e.message;
  }
}

TEST(Syntax, Endpoints) {
  EXPECT_EQ(parse_endpoint("kms.us-east-1.amazonaws.com")->url(), "https://kms.us-east-1.amazonaws.com:443");
  EXPECT_EQ(parse_endpoint("kms.local:8443")->url(), "https://kms.local:8443");
  EXPECT_EQ(parse_endpoint("HTTP://127.0.0.1")->url(), "http://127.0.0.1:80");
  EXPECT_EQ(parse_endpoint("https://[::1]:4443/")->url(), "https://[::1]:4443");
  EXPECT_EQ(parse_endpoint("::1")->host, "::1");
  for (const char* bad : {"", "https://", "kms..x", "host:", "host:65536", "a/b", "http://u@h", "[::1",
                          "ftp://h", "-bad.com", "127.1"}) {
    EXPECT_FALSE(parse_endpoint(bad).has_value()) << bad;
  }
}

TEST(Syntax, DefaultKmsEndpointsPerPartition) {
  EXPECT_EQ(default_kms_endpoint("us-east-1").host, "kms.us-east-1.amazonaws.com");
  EXPECT_EQ(default_kms_endpoint("cn-north-1").host, "kms.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(default_kms_endpoint("us-gov-west-1").host, "kms.us-gov-west-1.amazonaws.com");
  EXPECT_EQ(default_kms_endpoint("us-isob-east-1").host, "kms.us-isob-east-1.sc2s.sgov.gov");
}

TEST(Syntax, LoopbackAndAuthorities) {
  EXPECT_TRUE(is_loopback_host("127.255.0.1"));
  EXPECT_TRUE(is_loopback_host("::ffff:127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  EXPECT_FALSE(is_loopback_host("localhost.example.com"));
  EXPECT_FALSE(parse_authority("[fe80::1%eth0]:80").has_value());
  EXPECT_FALSE(parse_authority("fe80::1:80:").has_value());
  EXPECT_EQ(parse_authority("host.example:0")->port, std::optional<std::uint16_t>(0));
  EXPECT_EQ(format_authority("::1", 80), "[::1]:80");
}

TEST(Syntax, NoProxyMatching) {
  const std::vector<std::string> list = {"localhost", ".internal.example", "10.0.0.1"};
  EXPECT_TRUE(no_proxy_matches(list, "LOCALHOST"));
  EXPECT_TRUE(no_proxy_matches(list, "a.internal.example"));
  EXPECT_TRUE(no_proxy_matches(list, "internal.example"));
  EXPECT_FALSE(no_proxy_matches(list, "notinternal.example"));
  EXPECT_TRUE(no_proxy_matches(list, "10.0.0.1"));
  EXPECT_FALSE(no_proxy_matches(list, "10.0.0.10"));
  EXPECT_TRUE(no_proxy_matches({"*"}, "anything"));
}

TEST(Syntax, UpstreamProxyPrecedence) {
  EgressOptions e;
  EXPECT_FALSE(upstream_proxy(e).has_value());
  e.allow = {"kms.*"};
  EXPECT_EQ(upstream_proxy(e)->port, kDefaultEgressProxyPort);
  e.https_proxy = "http://127.0.0.1:3128";
  EXPECT_EQ(upstream_proxy(e)->port, 3128);
  e.proxy_port = 12000;
  EXPECT_EQ(upstream_proxy(e)->port, 12000);
  EXPECT_EQ(upstream_proxy(e)->host, "127.0.0.1");
}

}  // namespace
}  // namespace kp::config
