#include "config/validate.h"

#include <algorithm>

#include "config/address.h"
#include "config/egress.h"
#include "config/measurements.h"

namespace kp::config {

namespace {

class Collector {
 public:
  explicit Collector(const Config& cfg) : cfg_(cfg) {}

  void error(std::string_view path, std::string msg) {
    out_.push_back({cfg_.origin_of(path), std::move(msg), Severity::kError});
  }
  void warning(std::string_view path, std::string msg) {
    out_.push_back({cfg_.origin_of(path), std::move(msg), Severity::kWarning});
  }
  void add(Diagnostics&& d) {
    for (auto& x : d) {
      out_.push_back(std::move(x));
    }
  }
  Diagnostics take() { return std::move(out_); }

 private:
  const Config& cfg_;
  Diagnostics out_;
};

// Checks of one setting's own value (no other setting involved).
void check_listen_values(const Config& cfg, Collector& c) {
  const auto& l = cfg.listen;
  if (!parse_ip(l.host) && !is_valid_hostname(l.host)) {
    c.error("listen.host", "listen address '" + l.host + "' is not an IP address or host name");
  } else if (!is_loopback_host(l.host)) {
    c.error("listen.host", "listen address '" + l.host +
                               "' is not a loopback address: the KMS proxy must only be reachable "
                               "from inside the enclave (use 127.0.0.1 or ::1)");
  }
  if (l.max_connections == 0 || l.max_connections > 1'000'000) {
    c.error("kms_proxy.limits.max_connections", "limits.max_connections must be 1..1000000");
  }
  if (l.max_header_bytes < 1024) {
    c.error("kms_proxy.limits.max_header_bytes", "limits.max_header_bytes must be at least 1024");
  }
  if (l.max_body_bytes < 1024) {
    c.error("kms_proxy.limits.max_body_bytes", "limits.max_body_bytes must be at least 1024");
  }
  const std::pair<const char*, Millis> timeouts[] = {
      {"header_timeout", l.timeouts.header},
      {"body_timeout", l.timeouts.body},
      {"idle_timeout", l.timeouts.idle},
      {"write_timeout", l.timeouts.write},
  };
  for (const auto& [name, value] : timeouts) {
    if (value.count() <= 0) {
      c.error(std::string("kms_proxy.limits.") + name, std::string("limits.") + name + " must be positive");
    }
  }
  if (cfg.metrics.listen && !parse_ip(cfg.metrics.listen->host) &&
      !is_valid_hostname(cfg.metrics.listen->host)) {
    c.error("kms_proxy.metrics_listen", "metrics_listen: invalid host");
  } else if (cfg.metrics.listen && !is_loopback_host(cfg.metrics.listen->host)) {
    // The server refuses it too; said here, it comes with every other problem.
    c.error("kms_proxy.metrics_listen", "metrics_listen '" + cfg.metrics.listen->host +
                                            "' is not a loopback address (use 127.0.0.1 or ::1)");
  }
}

// Ports that must not meet.
void check_listen_ports(const Config& cfg, Collector& c) {
  const auto& l = cfg.listen;
  const std::optional<std::uint16_t> egress_port = cfg.egress.local_proxy_port();
  if (l.port != 0) {
    for (std::size_t i = 0; i < cfg.manifest.ingress.size(); ++i) {
      if (cfg.manifest.ingress[i].listen_port == l.port) {
        const std::string path = "ingress[" + std::to_string(i) + "].listen_port";
        c.error(path, "kms_proxy.listen_port " + std::to_string(l.port) +
                          " is also listed under ingress: that would expose decryption outside the enclave");
      }
    }
    if (egress_port && *egress_port == l.port) {
      c.error("kms_proxy.listen_port", "kms_proxy.listen_port " + std::to_string(l.port) +
                                           " is also the egress proxy port");
    }
    if (cfg.manifest.api_port && *cfg.manifest.api_port == l.port) {
      c.error("kms_proxy.listen_port",
              "kms_proxy.listen_port " + std::to_string(l.port) + " is also api.listen_port");
    }
    if (cfg.metrics.listen && cfg.metrics.listen->port == l.port) {
      c.error("kms_proxy.metrics_listen",
              "metrics_listen uses port " + std::to_string(l.port) + ", the KMS proxy's own port");
    }
  }
  if (cfg.metrics.listen && cfg.metrics.listen->port != 0 && egress_port &&
      *egress_port == cfg.metrics.listen->port) {
    c.error("kms_proxy.metrics_listen",
            "metrics_listen uses port " + std::to_string(*egress_port) + ", the egress proxy port");
  }
}

void check_upstream(const Config& cfg, Collector& c) {
  const auto& u = cfg.upstream;
  if (u.default_region && !is_valid_region(*u.default_region)) {
    c.error("kms_proxy.region", "region '" + value_for_message(*u.default_region) +
                                    "' is not a region name (lower-case letters, digits and '-')");
  }
  for (const auto& [region, spec] : u.endpoints) {
    if (spec.scheme == "http" && !is_loopback_host(spec.host)) {
      c.error("kms_proxy.endpoints." + region,
              "kms_proxy.endpoints." + region + ": http:// is only allowed for loopback hosts (KMS "
              "traffic would leave the enclave unencrypted); use https:// or host[:port]");
    }
  }
  const std::pair<const char*, Millis> timeouts[] = {
      {"connect", u.timeouts.connect},
      {"tls_handshake", u.timeouts.tls_handshake},
      {"request", u.timeouts.request},
  };
  for (const auto& [name, value] : timeouts) {
    if (value.count() <= 0) {
      c.error(std::string("kms_proxy.upstream.timeouts.") + name,
              std::string("upstream.timeouts.") + name + " must be positive");
    }
  }
  if (u.pool.max_idle_per_host > 0 && u.pool.idle_timeout.count() <= 0) {
    c.error("kms_proxy.upstream.pool.idle_timeout", "upstream.pool.idle_timeout must be positive");
  }
  for (const auto& f : u.ca_files) {
    if (f.empty()) {
      c.error("kms_proxy.upstream.ca_file", "upstream.ca_file: empty path");
    }
  }
  if (cfg.vsock.cid && *cfg.vsock.cid == 0xFFFFFFFFu) {
    c.error("kms_proxy.upstream.vsock", "upstream.vsock: CID 4294967295 (VMADDR_CID_ANY) cannot be connected to");
  }
  if (cfg.vsock.port == 0xFFFFFFFFu) {
    c.error("kms_proxy.upstream.vsock", "upstream.vsock: port 4294967295 (VMADDR_PORT_ANY) cannot be connected to");
  }
}

void check_proxy_url(const Config& cfg, Collector& c) {
  if (cfg.egress.https_proxy) {
    if (auto p = parse_proxy_url(*cfg.egress.https_proxy); !p) {
      c.error("egress.https_proxy", p.error().message);
    }
  }
}

void check_egress(const Config& cfg, Collector& c) {
  const auto& e = cfg.egress;
  auto policy = EgressPolicy::compile(e);
  if (!policy) {
    c.error("egress.allow", policy.error().message);
    return;
  }
  if (!policy->configured() && e.deny.empty()) {
    return;
  }
  // Deny-only policies are enforced too (deny wins, everything else passes).
  const Origin where = cfg.origin_of(e.allow.empty() ? "egress.deny" : "egress.allow");
  // The KMS hosts the proxy will need.
  std::vector<std::pair<std::string, std::string>> kms;  // host, why
  for (const auto& [region, spec] : cfg.upstream.endpoints) {
    if (!is_loopback_host(spec.host)) {
      kms.emplace_back(spec.host, "KMS endpoint for " + region);
    }
  }
  if (cfg.upstream.default_region && is_valid_region(*cfg.upstream.default_region) &&
      cfg.upstream.endpoints.count(*cfg.upstream.default_region) == 0) {
    kms.emplace_back(default_kms_endpoint(*cfg.upstream.default_region).host,
                     "KMS in " + *cfg.upstream.default_region);
  }
  for (const auto& [host, why] : kms) {
    c.add(check_hosts(e, std::vector<std::string>{host}, where, why));
  }
  // Inside an Enclaver enclave the CONNECT requests also pass odyn's egress
  // proxy, whose matcher reads patterns differently (configuration.md 6): a
  // host this policy admits and odyn refuses fails every request there (odyn
  // answers 401). A warning, not an error: the policy may serve a CONNECT
  // proxy that is not odyn, or the vsock path.
  const auto odyn_check = [&](const std::string& host, const std::string& why) {
    if (!e.configured() || !policy->decide(host).allowed || enclaver_admits(e.allow, e.deny, host)) {
      return;
    }
    std::string msg = "Enclaver's egress proxy (odyn) would refuse " + host + " (" + why + "), which this policy admits";
    if (const auto denied = enclaver_match(e.deny, host)) {
      msg += ": its matcher finds egress.deny entry '" + *denied +
             "' (there '**' matches every name from where it stands; configuration.md section 6)";
    } else {
      msg += ": no egress.allow entry admits it under its matcher ('*' is exactly one label there; "
             "configuration.md section 6)";
      const auto suggestion = suggest_pattern(host);
      const bool listed = suggestion && std::find(e.allow.begin(), e.allow.end(), *suggestion) != e.allow.end();
      if (suggestion && !listed && enclaver_match(std::span<const std::string>(&*suggestion, 1), host)) {
        msg += "; '" + *suggestion + "' in egress.allow means the same to both";
      } else if (host.size() > 1 && host.back() == '.') {
        msg += "; its matcher keeps the trailing dot: write the host without it ('" +
               host.substr(0, host.size() - 1) + "')";
      }
    }
    c.add(Diagnostics{{where, std::move(msg), Severity::kWarning}});
  };
  for (const auto& [host, why] : kms) {
    odyn_check(host, why);
  }
  if (cfg.credentials.uses(CredentialSource::kImds)) {
    // The address actually used: AWS_EC2_METADATA_SERVICE_ENDPOINT wins.
    std::optional<std::string> imds_host = cfg.credentials.imds_host_from_env;
    if (!imds_host) {
      if (auto imds = parse_endpoint(cfg.credentials.imds_endpoint)) {
        imds_host = imds->host;
      }
    }
    if (imds_host && !is_loopback_host(*imds_host)) {
      auto d = check_hosts(e, std::vector<std::string>{*imds_host}, where,
                           cfg.credentials.imds_host_from_env ? "IMDS credentials (AWS_EC2_METADATA_SERVICE_ENDPOINT[_MODE])"
                                                              : "IMDS credentials");
      // Only fatal when IMDS is the only way to get credentials.
      const bool only_imds = cfg.credentials.chain.size() == 1;
      for (auto& x : d) {
        x.severity = only_imds ? Severity::kError : Severity::kWarning;
      }
      c.add(std::move(d));
      odyn_check(*imds_host, "IMDS credentials");
    }
  }
  for (std::size_t i = 0; i < e.allow.size(); ++i) {
    const std::string path = "egress.allow[" + std::to_string(i) + "]";
    for (auto& note : enclaver_compatibility_notes(std::span(&e.allow[i], 1))) {
      c.warning(path, std::move(note));
    }
  }
}

void check_attestation(const Config& cfg, Collector& c) {
  const auto& a = cfg.attestation;
  using M = AttestationMode;
  if (a.mode == M::kSimulated && a.sim_pki_dir.empty()) {
    c.error("kms_proxy.attestation.mode",
            "attestation.mode simulated needs attestation.sim_pki_dir (the test PKI that signs documents)");
  }
  if (a.mode != M::kSimulated && !a.sim_pki_dir.empty()) {
    c.error("kms_proxy.attestation.sim_pki_dir",
            "attestation.sim_pki_dir is only used with attestation.mode simulated (mode is " +
                std::string(to_string(a.mode)) + ")");
  }
  if (a.mode == M::kNsm && a.nsm_device.empty()) {
    c.error("kms_proxy.attestation.device", "attestation.device must not be empty");
  }
  if (a.mode == M::kNone) {
    if (!a.pcrs.empty() || !a.measurements_file.empty()) {
      c.error(a.measurements_file.empty() ? "kms_proxy.attestation.pcrs" : "kms_proxy.attestation.measurements",
              "attestation pcrs/measurements have no effect with attestation.mode none");
    }
    if (a.max_age.count() > 0) {
      c.warning("kms_proxy.attestation.max_age", "attestation.max_age has no effect with attestation.mode none");
    }
  }
  for (const auto& [index, value] : a.pcrs) {
    if (index > kMaxPcrIndex || value.size() != kPcrBytes) {
      c.error("kms_proxy.attestation.pcrs", "PCR" + std::to_string(index) + ": expected index 0.." +
                                                std::to_string(kMaxPcrIndex) + " and " +
                                                std::to_string(kPcrBytes) + " bytes");
    }
  }
  if (a.max_age.count() < 0) {
    c.error("kms_proxy.attestation.max_age", "attestation.max_age must not be negative");
  }
  // A real NSM answers in milliseconds; beyond a few minutes every SDK has
  // long given up (and retried), so a larger value only hides a stuck device.
  if (a.timeout < std::chrono::milliseconds(10) || a.timeout > std::chrono::minutes(5)) {
    c.error("kms_proxy.attestation.timeout", "attestation.timeout must be between 10ms and 5m");
  }
}

void check_credentials(const Config& cfg, Collector& c) {
  const auto& cr = cfg.credentials;
  if (cr.chain.empty()) {
    c.error("kms_proxy.credentials.sources", "credentials.sources: at least one source is required");
  }
  if (cr.imds_timeout.count() <= 0) {
    c.error("kms_proxy.credentials.imds_timeout", "credentials.imds_timeout must be positive");
  }
  if (cr.refresh_margin.count() < 0) {
    c.error("kms_proxy.credentials.refresh_margin", "credentials.refresh_margin must not be negative");
  }
  if (auto imds = parse_endpoint(cr.imds_endpoint); !imds || imds->scheme != "http") {
    c.error("kms_proxy.credentials.imds_endpoint", "credentials.imds_endpoint must be http://HOST[:PORT]");
  }
}

}  // namespace

Diagnostics validate(const Config& cfg) {
  Collector c(cfg);
  check_listen_values(cfg, c);
  check_listen_ports(cfg, c);
  check_upstream(cfg, c);
  check_proxy_url(cfg, c);
  check_egress(cfg, c);
  check_attestation(cfg, c);
  check_credentials(cfg, c);
  return c.take();
}

Diagnostics validate_values(const Config& cfg) {
  Collector c(cfg);
  check_listen_values(cfg, c);
  check_upstream(cfg, c);
  check_proxy_url(cfg, c);
  return c.take();
}

}  // namespace kp::config
