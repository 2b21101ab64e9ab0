// Tests for config/enclaver_yaml.h and config/validate.h: the manifest
// fixtures under testdata/, each error with its message and line, and the
// cross-field validation rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/encoding.h"
#include "config/egress.h"
#include "config/enclaver_yaml.h"
#include "config/overrides.h"
#include "config/validate.h"

namespace kp::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::filesystem::path kData = std::filesystem::path(KP_SOURCE_DIR) / "src/config/testdata";

// Parses a fixture with its bare file name as the diagnostic source.
Checked<Config> fixture(const std::string& name) {
  std::ifstream in(kData / name);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_enclaver_yaml(ss.str(), name, kData);
}

std::vector<std::string> lines(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& x : d) {
    out.push_back(x.to_string());
  }
  return out;
}

std::vector<std::string> errors_of(const std::string& name) {
  auto r = fixture(name);
  EXPECT_FALSE(r.has_value()) << name << " unexpectedly parsed";
  return r.has_value() ? std::vector<std::string>{} : lines(r.error());
}

// Parses inline YAML (must be well-formed) and validates it.
Diagnostics validate_text(const std::string& yaml) {
  auto r = parse_enclaver_yaml(yaml, "test.yaml");
  EXPECT_TRUE(r.has_value()) << (r ? "" : format_diagnostics(r.error()));
  return r ? validate(*r) : Diagnostics{};
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

std::vector<std::string> warnings(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& x : d) {
    if (x.severity == Severity::kWarning) {
      out.push_back(x.to_string());
    }
  }
  return out;
}

// Integers as serde_yaml 0.9 (Enclaver) reads them: hex, octal, binary, a
// '+', an !!int tag; a leading zero or quotes make a string.
TEST(EnclaverYaml, IntegerFormsOfSerdeYaml) {
  for (const char* port : {"9999", "+9999", "0x270F", "0o23417", "0b10011100001111", "!!int 9999"}) {
    auto r = parse_enclaver_yaml(std::string("kms_proxy:\n  listen_port: ") + port + "\n", "test.yaml");
    ASSERT_TRUE(r.has_value()) << port << ": " << format_diagnostics(r.error());
    EXPECT_EQ(r->listen.port, 9999) << port;
  }
  for (const char* port : {"09999", "'9999'", "0x", "9_999", "-1"}) {
    auto r = parse_enclaver_yaml(std::string("kms_proxy:\n  listen_port: ") + port + "\n", "test.yaml");
    EXPECT_FALSE(r.has_value()) << port;
  }
  auto zero = parse_enclaver_yaml("kms_proxy:\n  listen_port: 09999\n", "test.yaml");
  ASSERT_FALSE(zero.has_value());
  EXPECT_THAT(lines(zero.error()), ElementsAre(HasSubstr("a leading zero makes it a string in YAML 1.2")));
}

// --- Good files --------------------------------------------------------------

TEST(EnclaverYaml, SeedMinimalFileLoadsAndAdmitsKms) {
  auto r = fixture("seed_minimal.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const Config& c = *r;
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 9999);
  EXPECT_TRUE(c.manifest.has_kms_proxy);
  EXPECT_THAT(c.egress.allow, ElementsAre("kms.*", "169.254.169.254"));
  EXPECT_TRUE(c.egress.deny.empty());
  EXPECT_FALSE(c.egress.proxy_port.has_value());
  EXPECT_EQ(c.attestation.mode, AttestationMode::kNsm);
  EXPECT_EQ(c.attestation.nsm_device, "/dev/nsm");
  EXPECT_EQ(c.attestation.max_age.count(), 0);
  EXPECT_EQ(c.attestation.timeout, std::chrono::seconds(10));

  const auto d = validate(c);
  EXPECT_THAT(errors(d), IsEmpty());
  // kms.* works here but not behind Enclaver's own egress proxy: say so.
  ASSERT_EQ(warnings(d).size(), 1U);
  EXPECT_THAT(warnings(d)[0], HasSubstr("seed_minimal.yaml:5: warning: egress.allow pattern 'kms.*'"));

  auto policy = EgressPolicy::compile(c.egress);
  ASSERT_TRUE(policy.has_value());
  EXPECT_TRUE(policy->allowed("kms.us-east-1.amazonaws.com"));
  EXPECT_TRUE(policy->allowed("169.254.169.254"));
  EXPECT_FALSE(policy->allowed("sts.amazonaws.com"));

  const auto env = child_environment(c);
  EXPECT_THAT(env, ::testing::Contains(std::pair<std::string, std::string>(
                       "AWS_KMS_ENDPOINT", "http://127.0.0.1:9999")));
  EXPECT_THAT(env, ::testing::Contains(std::pair<std::string, std::string>(
                       "AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9999")));
  EXPECT_THAT(env, ::testing::Contains(std::pair<std::string, std::string>(
                       "https_proxy", "http://127.0.0.1:10000/")));
  EXPECT_THAT(env, ::testing::Contains(std::pair<std::string, std::string>(
                       "NO_PROXY", "localhost,127.0.0.1")));
}

TEST(EnclaverYaml, FullEnclaverManifest) {
  auto r = fixture("enclaver_full.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const Config& c = *r;
  EXPECT_EQ(c.manifest.version, "v1");
  EXPECT_EQ(c.manifest.name, "example");
  EXPECT_EQ(c.manifest.target, "app:enclave");
  ASSERT_EQ(c.manifest.ingress.size(), 2U);
  EXPECT_EQ(c.manifest.ingress[0].listen_port, 8000);
  EXPECT_FALSE(c.manifest.ingress[0].tls);
  EXPECT_EQ(c.manifest.ingress[1].listen_port, 8443);
  EXPECT_TRUE(c.manifest.ingress[1].tls);
  EXPECT_EQ(c.manifest.api_port, std::optional<std::uint16_t>(7777));
  EXPECT_EQ(c.egress.proxy_port, std::optional<std::uint16_t>(10000));
  EXPECT_THAT(c.egress.deny, ElementsAre("169.254.170.2"));
  EXPECT_EQ(c.listen.port, 9999);
  ASSERT_EQ(c.upstream.endpoints.size(), 2U);
  EXPECT_EQ(c.upstream.endpoints.at("us-east-1").url(), "https://kms-fips.us-east-1.amazonaws.com:443");
  EXPECT_EQ(c.upstream.endpoints.at("eu-west-1").url(), "https://kms.eu-west-1.amazonaws.com:443");
  EXPECT_EQ(c.upstream.endpoint_for("ap-south-1").url(), "https://kms.ap-south-1.amazonaws.com:443");
  // Positions are remembered for later diagnostics.
  EXPECT_EQ(c.origin_of("kms_proxy.listen_port").line, 30U);
  EXPECT_EQ(c.origin_of("ingress[1].listen_port").line, 14U);
  EXPECT_THAT(errors(validate(c)), IsEmpty());
}

TEST(EnclaverYaml, EveryExtensionKey) {
  auto r = fixture("extensions_full.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  Config c = std::move(*r);
  EXPECT_EQ(c.listen.port, 9100);
  EXPECT_EQ(c.upstream.default_region, std::optional<std::string>("us-east-1"));
  EXPECT_EQ(c.upstream.endpoints.at("local-1").url(), "http://127.0.0.1:4566");
  EXPECT_EQ(c.attestation.mode, AttestationMode::kSimulated);
  EXPECT_EQ(c.attestation.sim_pki_dir, (kData / "sim-pki").string());
  EXPECT_EQ(c.attestation.measurements_file, (kData / "measurements.json").string());
  EXPECT_EQ(c.attestation.max_age, std::chrono::seconds(30));
  EXPECT_THAT(c.upstream.ca_files, ElementsAre((kData / "ca/one.pem").string(), "/etc/ssl/two.pem"));
  EXPECT_EQ(c.vsock.cid, std::optional<std::uint32_t>(2));
  EXPECT_EQ(c.vsock.port, 17002U);
  EXPECT_EQ(c.upstream.timeouts.connect, Millis(2000));
  EXPECT_EQ(c.upstream.timeouts.tls_handshake, Millis(3000));
  EXPECT_EQ(c.upstream.timeouts.request, Millis(60000));
  EXPECT_EQ(c.upstream.pool.max_idle_per_host, 4U);
  EXPECT_EQ(c.upstream.pool.idle_timeout, Millis(20000));
  EXPECT_THAT(c.credentials.chain, ElementsAre(CredentialSource::kImds));
  EXPECT_EQ(c.credentials.imds_timeout, Millis(500));
  EXPECT_EQ(c.credentials.refresh_margin, std::chrono::seconds(600));
  EXPECT_EQ(c.listen.max_connections, 64U);
  EXPECT_EQ(c.listen.max_header_bytes, 8192U);
  EXPECT_EQ(c.listen.max_body_bytes, 65536U);
  EXPECT_EQ(c.listen.timeouts.header, Millis(5000));
  EXPECT_EQ(c.listen.timeouts.body, Millis(6000));
  EXPECT_EQ(c.listen.timeouts.idle, Millis(7000));
  EXPECT_EQ(c.listen.timeouts.write, Millis(8000));
  EXPECT_EQ(c.io.threads, 3U);
  EXPECT_EQ(c.io.busy_poll, std::chrono::microseconds(50));
  EXPECT_EQ(c.log.format, LogFormat::kJson);
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  ASSERT_TRUE(c.metrics.listen.has_value());
  EXPECT_EQ(c.metrics.listen->host, "127.0.0.1");
  EXPECT_EQ(c.metrics.listen->port, 9101);

  // PCR3 is explicit; 0..2 come from the nitro-cli measurements file.
  ASSERT_EQ(c.attestation.pcrs.size(), 1U);
  EXPECT_THAT(load_measurements_file(c), IsEmpty());
  ASSERT_EQ(c.attestation.pcrs.size(), 4U);
  EXPECT_EQ(hex_encode(c.attestation.pcrs.at(0)),
            "f9ef9e90faeaa081ecc89e9b42d9ae3cd66e614dbd6e291c26dcab57cf843f0da7aa6825174426a0ac5dfa566b718691");
  EXPECT_EQ(hex_encode(c.attestation.pcrs.at(3)),
            "199be9e34e622681f09de229a86dc0d4647511e9a3479b157c942d9dcf360baaf4a59ef184218302139d30e519c01858");
  EXPECT_THAT(lines(validate(c)), IsEmpty());
}

TEST(EnclaverYaml, LegacySourceNamesAccepted) {
  EXPECT_TRUE(fixture("legacy_sources.yaml").has_value());
  auto both = parse_enclaver_yaml("sources:\n  app: a\n  odyn: b\n  supervisor: c\n", "x.yaml");
  ASSERT_FALSE(both.has_value());
  EXPECT_THAT(lines(both.error()),
              ElementsAre("x.yaml:1: sources: 'supervisor' is the old name of 'odyn'; give only one"));
}

TEST(EnclaverYaml, EmptySectionsMeanDefaults) {
  auto r = parse_enclaver_yaml("egress:\nkms_proxy:\n  listen_port: 1234\n  attestation:\n", "x.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  EXPECT_EQ(r->listen.port, 1234);
  EXPECT_FALSE(r->egress.configured());
}

// The "defaults shown" block of docs/configuration.md section 2 loads as it
// stands and means the defaults (users paste it and edit one line).
TEST(EnclaverYaml, DocumentedDefaultsBlockLoadsAsTheDefaults) {
  std::ifstream in(std::filesystem::path(KP_SOURCE_DIR) / "docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md not found";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const auto section = doc.find("## 2. This project's settings");
  ASSERT_NE(section, std::string::npos);
  const auto open = doc.find("```yaml\n", section);
  ASSERT_NE(open, std::string::npos);
  const auto body = open + 8;
  const auto close = doc.find("```", body);
  ASSERT_NE(close, std::string::npos);
  const std::string yaml = doc.substr(body, close - body);
  ASSERT_NE(yaml.find("metrics_listen"), std::string::npos) << "not the defaults block:\n" << yaml;

  auto r = parse_enclaver_yaml(yaml, "configuration.md", kData);
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const Config& c = *r;
  const Config d;
  EXPECT_EQ(c.listen.port, 9999);
  EXPECT_FALSE(c.vsock.cid.has_value());
  EXPECT_FALSE(c.metrics.listen.has_value());
  EXPECT_TRUE(c.upstream.ca_files.empty());
  EXPECT_EQ(c.attestation.max_age, d.attestation.max_age);
  EXPECT_EQ(c.attestation.timeout, d.attestation.timeout);
  EXPECT_EQ(c.upstream.timeouts.connect, d.upstream.timeouts.connect);
  EXPECT_EQ(c.upstream.timeouts.tls_handshake, d.upstream.timeouts.tls_handshake);
  EXPECT_EQ(c.upstream.timeouts.request, d.upstream.timeouts.request);
  EXPECT_EQ(c.upstream.pool.max_idle_per_host, d.upstream.pool.max_idle_per_host);
  EXPECT_EQ(c.upstream.pool.idle_timeout, d.upstream.pool.idle_timeout);
  EXPECT_EQ(c.credentials.chain, d.credentials.chain);
  EXPECT_EQ(c.credentials.imds_timeout, d.credentials.imds_timeout);
  EXPECT_EQ(c.credentials.refresh_margin, d.credentials.refresh_margin);
  EXPECT_EQ(c.listen.max_connections, d.listen.max_connections);
  EXPECT_EQ(c.listen.max_header_bytes, d.listen.max_header_bytes);
  EXPECT_EQ(c.listen.max_body_bytes, d.listen.max_body_bytes);
  EXPECT_EQ(c.listen.timeouts.header, d.listen.timeouts.header);
  EXPECT_EQ(c.listen.timeouts.body, d.listen.timeouts.body);
  EXPECT_EQ(c.listen.timeouts.idle, d.listen.timeouts.idle);
  EXPECT_EQ(c.listen.timeouts.write, d.listen.timeouts.write);
  EXPECT_EQ(c.io.threads, d.io.threads);
  EXPECT_EQ(c.io.busy_poll, d.io.busy_poll);
  EXPECT_EQ(c.log.format, d.log.format);
  EXPECT_EQ(c.log.level, d.log.level);
}

TEST(EnclaverYaml, EmptyVsockAndMetricsListenAreUnset) {
  auto r = parse_enclaver_yaml("kms_proxy:\n  listen_port: 9999\n  upstream:\n    vsock: \"\"\n  metrics_listen: \"\"\n",
                               "x.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  EXPECT_FALSE(r->vsock.cid.has_value());
  EXPECT_FALSE(r->metrics.listen.has_value());
  // A value that is there must still be well-formed.
  auto bad = parse_enclaver_yaml("kms_proxy:\n  listen_port: 9999\n  upstream:\n    vsock: \" \"\n", "x.yaml");
  EXPECT_FALSE(bad.has_value());
}

// --- Errors, each with its line ---------------------------------------------

// credentials.sources: unknown and repeated names, each at its own line.
TEST(EnclaverYamlErrors, CredentialSourcesNamesEachBadEntry) {
  auto r = parse_enclaver_yaml("kms_proxy:\n  listen_port: 9999\n  credentials:\n    sources:\n      - imds\n"
                               "      - sso\n      - imds\n",
                               "x.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(lines(r.error()),
              ElementsAre("x.yaml:6: kms_proxy.credentials.sources[1]: expected env, profile, container or imds, "
                          "got 'sso'",
                          "x.yaml:7: kms_proxy.credentials.sources[2]: 'imds' is listed twice"));
}

// A list key written as one scalar keeps its line for later checks.
TEST(EnclaverYamlErrors, SingleCaFileKeepsItsLine) {
  for (const std::string value : {"\"\"", "[\"\"]"}) {
    auto r = parse_enclaver_yaml("kms_proxy:\n  listen_port: 9999\n  upstream:\n    ca_file: " + value + "\n",
                                 "x.yaml");
    ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
    EXPECT_THAT(errors(validate(*r)), ElementsAre("x.yaml:4: upstream.ca_file: empty path")) << value;
  }
}

TEST(EnclaverYamlErrors, UnknownKeysWithFileAndLine) {
  EXPECT_THAT(errors_of("err_unknown_keys.yaml"),
              ElementsAre("err_unknown_keys.yaml:3: unknown key 'colour' at the top level (expected one of: "
                          "version, name, target, sources, signature, ingress, egress, defaults, kms_proxy, "
                          "api, spire)",
                          "err_unknown_keys.yaml:6: unknown key 'listen_host' in kms_proxy (expected one of: "
                          "listen_port, endpoints, region, attestation, upstream, credentials, limits, io, log, "
                          "metrics_listen)",
                          "err_unknown_keys.yaml:9: unknown key 'allowed' in egress (expected one of: "
                          "proxy_port, allow, deny)"));
}

TEST(EnclaverYamlErrors, WrongTypesAllReportedTogether) {
  EXPECT_THAT(
      errors_of("err_types.yaml"),
      ElementsAre(
          "err_types.yaml:2: kms_proxy.listen_port: expected a port number 0..65535, got the quoted string '9999'",
          "err_types.yaml:3: kms_proxy.region: 'US_EAST_1' is not a region name (lower-case letters, digits and '-')",
          "err_types.yaml:5: kms_proxy.attestation.mode: expected nsm, simulated or none, got 'tpm'",
          "err_types.yaml:6: kms_proxy.attestation.max_age: expected a duration such as 500ms, 10s, 5m or a "
          "number of seconds (at most 100000h), got 'soon'",
          "err_types.yaml:8: kms_proxy.limits.max_connections: expected an integer 1..1000000, got '0'",
          "err_types.yaml:10: kms_proxy.io.threads: expected a thread count 0..256, got '1000'",
          "err_types.yaml:11: kms_proxy.io.busy_poll_us: expected a number of microseconds 0..10000, got '1ms'",
          "err_types.yaml:13: egress.proxy_port: expected a port number 1..65535, got '70000'",
          "err_types.yaml:14: egress.allow: expected a list of strings, got 'kms.*'",
          "err_types.yaml:16: ingress[0].listen_port: expected a port number 0..65535, got '-1'",
          "err_types.yaml:18: defaults.cpu_count: expected an integer 1..2147483647, got 'two'"));
}

TEST(EnclaverYamlErrors, InvalidEgressPatterns) {
  EXPECT_THAT(
      errors_of("err_patterns.yaml"),
      ElementsAre("err_patterns.yaml:3: egress.allow[0]: invalid pattern 'kms-*.amazonaws.com': a wildcard "
                  "must be a whole label ('*' or '**'), not part of 'kms-*'",
                  "err_patterns.yaml:4: egress.allow[1]: invalid pattern '10.0.0.*': IP wildcards are not "
                  "supported: write the CIDR 10.0.0.0/24",
                  "err_patterns.yaml:5: egress.allow[2]: invalid pattern 'kms..amazonaws.com': empty label "
                  "(two dots in a row, or a leading dot)",
                  "err_patterns.yaml:6: egress.allow[3]: invalid pattern '10.0.0.0/33': CIDR prefix length "
                  "must be 0..32",
                  "err_patterns.yaml:9: egress.deny[0]: invalid pattern 'fe80::/129': CIDR prefix length "
                  "must be 0..128"));
}

TEST(EnclaverYamlErrors, IpWildcardSuggestsItsCidr) {
  const auto msg = [](const std::string& pattern) { return egress_pattern_error(pattern).value_or(""); };
  EXPECT_THAT(msg("192.168.1.*"), HasSubstr("write the CIDR 192.168.1.0/24"));
  EXPECT_THAT(msg("10.*"), HasSubstr("write the CIDR 10.0.0.0/8"));
  EXPECT_THAT(msg("172.16.*.*"), HasSubstr("write the CIDR 172.16.0.0/16"));
  EXPECT_THAT(msg("10.*.1.2"), HasSubstr("write a CIDR (e.g. 10.0.0.0/8)"));   // not a prefix
  EXPECT_THAT(msg("300.1.*"), HasSubstr("write a CIDR (e.g. 10.0.0.0/8)"));   // not an octet
}

TEST(EnclaverYamlErrors, DirectoryIsNotAConfigFile) {
  const auto r = load_enclaver_yaml(kData);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(lines(r.error()), ElementsAre(HasSubstr("is a directory, not a configuration file")));
}

TEST(EnclaverYamlErrors, SyntaxErrorHasLine) {
  EXPECT_THAT(errors_of("err_syntax.yaml"),
              ElementsAre("err_syntax.yaml:5: YAML syntax error: end of sequence flow not found"));
}

TEST(EnclaverYamlErrors, MissingRequiredKeys) {
  EXPECT_THAT(errors_of("err_required.yaml"),
              ElementsAre("err_required.yaml:1: sources: missing required key 'app'",
                          "err_required.yaml:3: signature: missing required key 'key'",
                          "err_required.yaml:6: ingress[0].tls: missing required key 'cert_file'",
                          "err_required.yaml:6: ingress[0]: missing required key 'listen_port'",
                          "err_required.yaml:8: kms_proxy: missing required key 'listen_port'"));
}

TEST(EnclaverYamlErrors, DuplicateKey) {
  EXPECT_THAT(errors_of("err_duplicate.yaml"),
              ElementsAre("err_duplicate.yaml:3: duplicate key 'kms_proxy.listen_port' (first at line 2)"));
}

TEST(EnclaverYamlErrors, BadEndpoints) {
  EXPECT_THAT(
      errors_of("err_endpoints.yaml"),
      ElementsAre("err_endpoints.yaml:4: kms_proxy.endpoints.us-east-1: 'ftp://kms.us-east-1.amazonaws.com': "
                  "endpoint: scheme must be https:// or http://, got 'ftp://'",
                  "err_endpoints.yaml:5: kms_proxy.endpoints.us-east-2: "
                  "'https://kms.us-east-2.amazonaws.com/path': endpoint: only host[:port] is allowed, no path "
                  "or query",
                  "err_endpoints.yaml:6: kms_proxy.endpoints.us-west-1: 'kms.us-west-1.amazonaws.com:99999': "
                  "endpoint: expected host[:port] with a valid host name or IP literal and port 0..65535",
                  "err_endpoints.yaml:7: kms_proxy.endpoints: 'Bad_Region' is not a region name (lower-case "
                  "letters, digits and '-')"));
}

TEST(EnclaverYamlErrors, BadPcrs) {
  EXPECT_THAT(errors_of("err_pcrs.yaml"),
              ElementsAre("err_pcrs.yaml:7: kms_proxy.attestation.pcrs.0: PCR0: expected 48 bytes (96 hex "
                          "digits, SHA-384), got 2 bytes",
                          "err_pcrs.yaml:8: kms_proxy.attestation.pcrs.32: PCR32: index out of range 0..31",
                          "err_pcrs.yaml:9: kms_proxy.attestation.pcrs.1: PCR1: value is not hex (expected 96 "
                          "hex digits)"));
}

TEST(EnclaverYamlErrors, NotAMappingOrEmpty) {
  auto list = parse_enclaver_yaml("- a\n- b\n", "x.yaml");
  ASSERT_FALSE(list.has_value());
  EXPECT_THAT(lines(list.error()), ElementsAre("x.yaml:1: the document: expected a mapping, got a list"));
  auto empty = parse_enclaver_yaml("# nothing\n", "x.yaml");
  ASSERT_FALSE(empty.has_value());
  EXPECT_THAT(lines(empty.error()), ElementsAre("x.yaml: the file is empty"));
  auto two = parse_enclaver_yaml("a: 1\n---\nb: 2\n", "x.yaml");
  ASSERT_FALSE(two.has_value());
  EXPECT_THAT(lines(two.error()), ElementsAre("x.yaml: expected one YAML document, found 2"));
}

// yaml-cpp 0.7's LoadAll loops forever (allocating) on a stray flow
// indicator at document level; found by fuzz/config_yaml.
TEST(EnclaverYamlErrors, StrayFlowIndicatorIsASyntaxErrorNotAHang) {
  for (const std::string text : {",", ",kmsF", "]", "kms_proxy:\n  listen_port: 1\n}\n"}) {
    auto r = parse_enclaver_yaml(text, "x.yaml");
    ASSERT_FALSE(r.has_value()) << text;
    ASSERT_EQ(r.error().size(), 1u) << text;
    EXPECT_THAT(r.error()[0].message, HasSubstr("YAML syntax error")) << text;
  }
  auto r = parse_enclaver_yaml("# enclaver.yaml\n\n,\n", "x.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(lines(r.error()),
              ElementsAre("x.yaml:3: YAML syntax error: unexpected ',' outside a flow collection"));
}

TEST(EnclaverYamlErrors, MissingFile) {
  auto r = load_enclaver_yaml(kData / "does-not-exist.yaml");
  ASSERT_FALSE(r.has_value());
  ASSERT_EQ(r.error().size(), 1U);
  EXPECT_THAT(r.error()[0].to_string(), HasSubstr("does-not-exist.yaml: cannot read the file: No such file"));
}

TEST(EnclaverYamlErrors, LoadFileLabelsWithPath) {
  auto r = load_enclaver_yaml(kData / "err_duplicate.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(lines(r.error()), ElementsAre((kData / "err_duplicate.yaml").string() +
                                            ":3: duplicate key 'kms_proxy.listen_port' (first at line 2)"));
}

// --- Cross-field validation ---------------------------------------------------

TEST(Validate, KmsPortUnderIngressRefusesToStart) {
  auto r = fixture("err_ingress_kms_port.yaml");
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(errors(validate(*r)),
              ElementsAre("err_ingress_kms_port.yaml:8: kms_proxy.listen_port 9999 is also listed under "
                          "ingress: that would expose decryption outside the enclave"));
}

TEST(Validate, NonLoopbackListenRefusesToStart) {
  for (const std::string host : {"0.0.0.0", "10.0.0.5", "::", "example.com"}) {
    Config c;
    c.listen.host = host;
    EXPECT_THAT(errors(validate(c)),
                ElementsAre("listen address '" + host +
                            "' is not a loopback address: the KMS proxy must only be reachable from inside "
                            "the enclave (use 127.0.0.1 or ::1)"))
        << host;
  }
  for (const std::string host : {"127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"}) {
    Config c;
    c.listen.host = host;
    EXPECT_THAT(errors(validate(c)), IsEmpty()) << host;
  }
}

TEST(Validate, HttpEndpointOnlyForLoopback) {
  const auto d = validate_text(
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  endpoints:\n"
      "    us-east-1: http://kms.us-east-1.amazonaws.com\n"
      "    local-1: http://127.0.0.1:4566\n"
      "    local-2: http://[::1]:4567\n");
  EXPECT_THAT(errors(d), ElementsAre("test.yaml:4: kms_proxy.endpoints.us-east-1: http:// is only allowed for "
                                     "loopback hosts (KMS traffic would leave the enclave unencrypted); use "
                                     "https:// or host[:port]"));
}

TEST(Validate, PortClashes) {
  const auto d = validate_text(
      "egress:\n"
      "  allow: [169.254.169.254]\n"
      "kms_proxy:\n"
      "  listen_port: 10000\n"
      "api:\n"
      "  listen_port: 10000\n");
  EXPECT_THAT(errors(d), ElementsAre("test.yaml:4: kms_proxy.listen_port 10000 is also the egress proxy port",
                                     "test.yaml:4: kms_proxy.listen_port 10000 is also api.listen_port"));
  const auto m = validate_text(
      "egress:\n"
      "  allow: [169.254.169.254]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  metrics_listen: 127.0.0.1:10000\n");
  EXPECT_THAT(errors(m), ElementsAre("test.yaml:5: metrics_listen uses port 10000, the egress proxy port"));
}

TEST(Validate, EgressMustAdmitKmsHostWithSuggestion) {
  auto r = fixture("err_egress_misses_kms.yaml");
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(errors(validate(*r)),
              ElementsAre("err_egress_misses_kms.yaml:2: egress policy does not admit "
                          "kms.eu-central-1.amazonaws.com (KMS in eu-central-1): no egress.allow pattern "
                          "matches; add 'kms.*.amazonaws.com' to egress.allow"));
  // Enclaver's documented pattern does not cover FIPS endpoints.
  const auto d = validate_text(
      "egress:\n"
      "  allow: [kms.*.amazonaws.com, 169.254.169.254]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  endpoints:\n"
      "    us-east-1: kms-fips.us-east-1.amazonaws.com\n");
  EXPECT_THAT(errors(d), ElementsAre("test.yaml:2: egress policy does not admit "
                                     "kms-fips.us-east-1.amazonaws.com (KMS endpoint for us-east-1): no "
                                     "egress.allow pattern matches; add 'kms-fips.*.amazonaws.com' to "
                                     "egress.allow"));
}

// A host this policy admits and Enclaver's matcher (odyn, on the CONNECT
// path inside Enclaver) refuses: a warning naming odyn and a pattern both admit.
TEST(Validate, HostsOdynWouldRefuseAreWarnedAbout) {
  const auto d = validate_text(
      "egress:\n"
      "  allow: [kms.*.com, 169.254.169.254]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  region: us-east-1\n");
  EXPECT_THAT(errors(d), IsEmpty());
  EXPECT_THAT(warnings(d), ::testing::Contains(HasSubstr(
                               "test.yaml:2: warning: Enclaver's egress proxy (odyn) would refuse "
                               "kms.us-east-1.amazonaws.com (KMS in us-east-1), which this policy admits")));
  EXPECT_THAT(warnings(d), ::testing::Contains(HasSubstr("'kms.*.amazonaws.com' in egress.allow means the same")));
  EXPECT_THAT(warnings(d), ::testing::Not(::testing::Contains(HasSubstr("refuse 169.254.169.254"))));
  // A deny entry odyn reads as "everything" is named as the cause (IMDS's
  // address is no name: not refused).
  const auto deny = validate_text(
      "egress:\n"
      "  allow: [kms.*.amazonaws.com, 169.254.169.254]\n"
      "  deny: [sts.**]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  region: us-east-1\n");
  EXPECT_THAT(warnings(deny), ::testing::Contains(HasSubstr("its matcher finds egress.deny entry 'sts.**'")));
  EXPECT_THAT(warnings(deny), ::testing::Not(::testing::Contains(HasSubstr("means the same to both"))));
  EXPECT_THAT(warnings(deny), ::testing::Not(::testing::Contains(HasSubstr("refuse 169.254.169.254"))));
  // The documented pattern: nothing to say.
  const auto ok = validate_text(
      "egress:\n"
      "  allow: [kms.*.amazonaws.com, 169.254.169.254]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  region: us-east-1\n");
  EXPECT_THAT(warnings(ok), ::testing::Not(::testing::Contains(HasSubstr("odyn"))));
  // An endpoint with a trailing dot: odyn keeps the dot, so the listed name
  // does not admit it there; the advice is to drop the dot, not to add the
  // name that is already listed.
  const auto dot = validate_text(
      "egress:\n"
      "  allow: [example.com, 169.254.169.254]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  endpoints:\n"
      "    eu-west-1: example.com.\n");
  EXPECT_THAT(warnings(dot), ::testing::Contains(HasSubstr(
                                 "would refuse example.com. (KMS endpoint for eu-west-1), which this policy admits")));
  EXPECT_THAT(warnings(dot), ::testing::Contains(HasSubstr("write the host without it ('example.com')")));
  EXPECT_THAT(warnings(dot), ::testing::Not(::testing::Contains(HasSubstr("means the same to both"))));
}

// Without an allow list the deny list still holds (it is enforced on every
// connection): denying the region's KMS host cannot start.
TEST(Validate, DenyOnlyPolicyMustNotDenyKms) {
  auto d = validate_text(
      "egress:\n"
      "  deny: [kms.*.amazonaws.com]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n"
      "  region: us-east-1\n"
      "  credentials:\n"
      "    sources: [env]\n");
  EXPECT_THAT(errors(d), ElementsAre("test.yaml:2: egress policy does not admit kms.us-east-1.amazonaws.com (KMS in "
                                     "us-east-1): denied by egress.deny pattern 'kms.*.amazonaws.com'"));
  auto ok = validate_text("egress:\n  deny: [169.254.169.254]\nkms_proxy:\n  listen_port: 9999\n  region: us-east-1\n"
                          "  credentials:\n    sources: [env]\n");
  EXPECT_THAT(errors(ok), IsEmpty());
}

TEST(Validate, ImdsMissingIsFatalOnlyWhenImdsIsTheOnlySource) {
  const std::string base =
      "egress:\n"
      "  allow: [kms.*.amazonaws.com]\n"
      "kms_proxy:\n"
      "  listen_port: 9999\n";
  const std::string msg =
      "test.yaml:2: egress policy does not admit 169.254.169.254 (IMDS credentials): no egress.allow pattern "
      "matches; add '169.254.169.254' to egress.allow";
  auto only = validate_text(base + "  credentials:\n    sources: [imds]\n");
  EXPECT_THAT(errors(only), ElementsAre(msg));
  auto chain = validate_text(base);
  EXPECT_THAT(errors(chain), IsEmpty());
  EXPECT_THAT(warnings(chain), ElementsAre("test.yaml:2: warning: egress policy does not admit 169.254.169.254 "
                                           "(IMDS credentials): no egress.allow pattern matches; add "
                                           "'169.254.169.254' to egress.allow"));
  auto no_imds = validate_text(base + "  credentials:\n    sources: [env]\n");
  EXPECT_THAT(lines(no_imds), IsEmpty());
}

TEST(Validate, AttestationConsistency) {
  auto sim = validate_text("kms_proxy:\n  listen_port: 1\n  attestation:\n    mode: simulated\n");
  EXPECT_THAT(errors(sim), ElementsAre("test.yaml:4: attestation.mode simulated needs attestation.sim_pki_dir "
                                       "(the test PKI that signs documents)"));
  auto nsm = validate_text("kms_proxy:\n  listen_port: 1\n  attestation:\n    sim_pki_dir: /pki\n");
  EXPECT_THAT(errors(nsm), ElementsAre("test.yaml:4: attestation.sim_pki_dir is only used with "
                                       "attestation.mode simulated (mode is nsm)"));
  auto none = validate_text(
      "kms_proxy:\n  listen_port: 1\n  attestation:\n    mode: none\n    measurements: m.json\n"
      "    max_age: 10s\n");
  EXPECT_THAT(errors(none), ElementsAre("test.yaml:5: attestation pcrs/measurements have no effect with "
                                        "attestation.mode none"));
  EXPECT_THAT(warnings(none), ElementsAre("test.yaml:6: warning: attestation.max_age has no effect with "
                                          "attestation.mode none"));
}

TEST(Validate, AttestationTimeout) {
  auto ok = validate_text("kms_proxy:\n  listen_port: 1\n  attestation:\n    timeout: 750ms\n");
  EXPECT_THAT(errors(ok), IsEmpty());
  auto r = parse_enclaver_yaml("kms_proxy:\n  listen_port: 1\n  attestation:\n    timeout: 2s\n", "test.yaml");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->attestation.timeout, std::chrono::seconds(2));
  auto tiny = validate_text("kms_proxy:\n  listen_port: 1\n  attestation:\n    timeout: 1ms\n");
  EXPECT_THAT(errors(tiny), ElementsAre("test.yaml:4: attestation.timeout must be between 10ms and 5m"));
  auto huge = validate_text("kms_proxy:\n  listen_port: 1\n  attestation:\n    timeout: 1h\n");
  EXPECT_THAT(errors(huge), ElementsAre("test.yaml:4: attestation.timeout must be between 10ms and 5m"));
}

TEST(Validate, RefreshMarginIsWholeSecondsAndConnectionsAreBounded) {
  auto sub = parse_enclaver_yaml("kms_proxy:\n  listen_port: 1\n  credentials:\n    refresh_margin: 1500ms\n",
                                 "test.yaml");
  ASSERT_FALSE(sub.has_value());
  EXPECT_THAT(lines(sub.error()),
              ElementsAre("test.yaml:4: kms_proxy.credentials.refresh_margin: must be a whole number of seconds"));
  // The range holds whichever layer set the value (a flag bypasses the YAML reader's check).
  Config c;
  c.listen.max_connections = 5'000'000;
  EXPECT_THAT(errors(validate(c)), ::testing::Contains(HasSubstr("limits.max_connections must be 1..1000000")));
  c.listen.max_connections = 1'000'000;
  EXPECT_THAT(errors(validate(c)), ::testing::Not(::testing::Contains(HasSubstr("max_connections"))));
}

TEST(Validate, MetricsListenIsLoopbackOnly) {
  Config c;
  c.metrics.listen = MetricsListen{"0.0.0.0", 9100};
  EXPECT_THAT(errors(validate(c)), ::testing::Contains(HasSubstr("metrics_listen '0.0.0.0' is not a loopback")));
  c.metrics.listen = MetricsListen{"::1", 9100};
  EXPECT_THAT(errors(validate(c)), ::testing::Not(::testing::Contains(HasSubstr("metrics_listen"))));
}

TEST(Validate, ErrorsFromSeveralRulesComeTogether) {
  Config c;
  c.listen.host = "0.0.0.0";
  c.listen.max_connections = 0;
  c.attestation.mode = AttestationMode::kSimulated;
  c.credentials.chain.clear();
  c.egress.allow = {"kms-*.x"};
  const auto e = errors(validate(c));
  EXPECT_EQ(e.size(), 5U) << format_diagnostics(validate(c));
  EXPECT_THAT(e, ::testing::Contains(HasSubstr("is not a loopback address")));
  EXPECT_THAT(e, ::testing::Contains(HasSubstr("limits.max_connections must be 1..1000000")));
  EXPECT_THAT(e, ::testing::Contains(HasSubstr("needs attestation.sim_pki_dir")));
  EXPECT_THAT(e, ::testing::Contains(HasSubstr("at least one source is required")));
  EXPECT_THAT(e, ::testing::Contains(HasSubstr("a wildcard must be a whole label")));
}

TEST(Validate, DefaultConfigIsValid) { EXPECT_THAT(lines(validate(Config{})), IsEmpty()); }

}  // namespace
}  // namespace kp::config
