// Fuzz target: the enclaver.yaml loader on arbitrary text (the file is
// operator-supplied, but a typo must give diagnostics, never a crash), then
// what startup does with a parsed Config: validate(), the egress policy
// compiler and matcher, child_environment(). Files named in the manifest are
// never opened here (base_dir is a directory that does not exist).
// Properties checked:
//  * every failure carries at least one error diagnostic with a message;
//  * for every host the config mentions, suggest_pattern(host) (when it gives
//    one) compiles and admits that host, as documented;
//  * an egress policy never admits a host its deny list names exactly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/diagnostic.h"
#include "config/egress.h"
#include "config/enclaver_yaml.h"
#include "config/measurements.h"
#include "config/validate.h"
#include "fuzz_util.h"

namespace {

using namespace kp::config;

void check_suggestion(const std::string& host) {
  const auto pattern = suggest_pattern(host);
  if (!pattern) {
    return;
  }
  KP_FUZZ_CHECK(!egress_pattern_error(*pattern).has_value());
  const std::vector<std::string> allow{*pattern};
  auto policy = EgressPolicy::compile(allow, {});
  KP_FUZZ_CHECK(policy.has_value());
  KP_FUZZ_CHECK(policy->allowed(host));
}

void exercise(const Config& cfg) {
  (void)format_diagnostics(validate(cfg));
  (void)child_environment(cfg);
  (void)child_environment(cfg, std::uint16_t{40000});
  (void)enclaver_compatibility_notes(cfg.egress.allow);
  (void)upstream_proxy(cfg.egress);

  std::vector<std::string> hosts;
  for (const auto& [region, ep] : cfg.upstream.endpoints) {
    hosts.push_back(ep.host);
    (void)ep.url();
    (void)cfg.upstream.endpoint_for(region);
  }
  if (cfg.upstream.default_region) {
    hosts.push_back(cfg.upstream.endpoint_for(*cfg.upstream.default_region).host);
  }
  hosts.insert(hosts.end(), cfg.egress.allow.begin(), cfg.egress.allow.end());
  hosts.insert(hosts.end(), cfg.egress.deny.begin(), cfg.egress.deny.end());
  hosts.push_back(cfg.listen.host);
  (void)check_hosts(cfg.egress, hosts, {}, "fuzz");

  auto policy = EgressPolicy::compile(cfg.egress);
  for (const auto& h : hosts) {
    check_suggestion(h);
    if (policy) {
      const EgressDecision d = policy->decide(h);
      KP_FUZZ_CHECK(d.allowed == policy->allowed(h));
    }
    (void)no_proxy_matches(cfg.egress.no_proxy, h);
  }
  if (policy) {
    for (const auto& d : cfg.egress.deny) {
      KP_FUZZ_CHECK(!policy->allowed(d));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = parse_enclaver_yaml(text, "fuzz.yaml", "/nonexistent-kp-fuzz-dir");
  if (!cfg) {
    KP_FUZZ_CHECK(has_errors(cfg.error()));
    for (const auto& d : cfg.error()) {
      KP_FUZZ_CHECK(!d.message.empty());
    }
    (void)format_diagnostics(cfg.error());
  } else {
    exercise(*cfg);
  }
  // nitro-cli measurement JSON (attestation.measurements) from the same bytes.
  (void)parse_measurements_json(text);
  (void)parse_pcr_assignment(text);
  (void)parse_endpoint(text);
  (void)parse_proxy_url(text);
  (void)parse_vsock(text);
  return 0;
}
