#include "config/overrides.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include "base/file_input.h"
#include "base/http_message.h"
#include "config/address.h"
#include "config/enclaver_yaml.h"
#include "config/measurements.h"
#include "config/validate.h"

namespace kp::config {

namespace {

void append(Diagnostics& to, Diagnostics&& from) {
  for (auto& d : from) {
    to.push_back(std::move(d));
  }
}

std::optional<std::string> non_empty(const EnvLookup& env, std::string_view name) {
  auto v = env(name);
  if (v && v->empty()) {
    return std::nullopt;
  }
  return v;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

Origin flag(std::string_view name) { return Origin{std::string(name), 0, 0}; }

}  // namespace

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

EnvLookup fixed_env(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

std::optional<Millis> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > 9) {
    return std::nullopt;
  }
  std::int64_t n = 0;
  std::from_chars(text.data(), text.data() + digits, n);
  const std::string_view unit = text.substr(digits);
  std::optional<Millis> d;
  if (unit.empty() || unit == "s") {
    d = Millis(n * 1000);
  } else if (unit == "ms") {
    d = Millis(n);
  } else if (unit == "m") {
    d = Millis(n * 60'000);
  } else if (unit == "h") {
    d = Millis(n * 3'600'000);
  }
  // Deadlines are kept in nanoseconds (steady_clock): 999999999h would
  // wrap round and become a deadline in the past (or a small one).
  if (d && *d > kMaxDuration) {
    return std::nullopt;
  }
  return d;
}

Diagnostics apply_environment(Config& cfg, const EnvLookup& env) {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (auto v = non_empty(env, name)) {
      cfg.upstream.default_region = *v;
      cfg.origins["kms_proxy.region"] = Origin{std::string("environment ") + name, 0, 0};
      break;
    }
  }
  // curl's order: the lower-case name first.
  for (const char* name : {"https_proxy", "HTTPS_PROXY"}) {
    if (auto v = non_empty(env, name)) {
      cfg.egress.https_proxy = *v;
      cfg.origins["egress.https_proxy"] = Origin{std::string("environment ") + name, 0, 0};
      break;
    }
  }
  for (const char* name : {"no_proxy", "NO_PROXY"}) {
    if (auto v = non_empty(env, name)) {
      cfg.egress.no_proxy.clear();
      std::string_view rest = *v;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string item = trim(rest.substr(0, comma));
        if (!item.empty()) {
          cfg.egress.no_proxy.push_back(item);
        }
        if (comma == std::string_view::npos) {
          break;
        }
        rest.remove_prefix(comma + 1);
      }
      cfg.origins["egress.no_proxy"] = Origin{std::string("environment ") + name, 0, 0};
      break;
    }
  }
  // The credentials module parses and reports this variable itself; here
  // only its host matters, for the egress check of the IMDS address.
  if (auto v = non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT")) {
    std::string_view url = *v;
    const std::size_t sep = url.find("://");
    const std::size_t path = url.find('/', sep == std::string_view::npos ? 0 : sep + 3);
    if (auto ep = parse_endpoint(url.substr(0, path))) {
      cfg.credentials.imds_host_from_env = ep->host;
    }
  } else if (auto mode = non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"); mode && iequals(*mode, "IPv6")) {
    cfg.credentials.imds_host_from_env = "fd00:ec2::254";  // credentials/imds.h kImdsIpv6Host
  }
  // Values are checked by validate(), which knows they came from here.
  return {};
}

Diagnostics apply_overrides(Config& cfg, const FlagOverrides& f) {
  Diagnostics d;
  const auto err = [&](std::string_view name, std::string msg) {
    d.push_back({flag(name), std::move(msg), Severity::kError});
  };
  // A decimal flag value in lo..hi; nullopt (and the error recorded) otherwise.
  const auto number = [&](std::string_view name, const std::string& text, std::uint64_t lo,
                          std::uint64_t hi) -> std::optional<std::uint64_t> {
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || p != text.data() + text.size() || v < lo || v > hi) {
      err(name, "expected a whole number " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" +
                    text + "'");
      return std::nullopt;
    }
    return v;
  };
  if (f.listen) {
    const auto a = parse_authority(*f.listen);
    if (!a) {
      err("--listen", "expected HOST[:PORT] (IPv6 in brackets), got '" + *f.listen + "'");
    } else {
      cfg.listen.host = a->host;
      cfg.origins["listen.host"] = flag("--listen");
      if (a->port) {
        cfg.listen.port = *a->port;
        cfg.origins["kms_proxy.listen_port"] = flag("--listen");
      }
    }
  }
  if (f.port) {
    if (const auto v = number("--port", *f.port, 0, 65535)) {
      cfg.listen.port = static_cast<std::uint16_t>(*v);
      cfg.origins["kms_proxy.listen_port"] = flag("--port");
    }
  }
  if (f.region) {
    cfg.upstream.default_region = *f.region;
    cfg.origins["kms_proxy.region"] = flag("--region");
  }
  for (const auto& e : f.endpoints) {
    const std::size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      err("--endpoint", "expected REGION=[https://]HOST[:PORT], got '" + e + "'");
      continue;
    }
    const std::string region = e.substr(0, eq);
    if (!is_valid_region(region)) {
      err("--endpoint", "'" + value_for_message(region) + "' is not a region name (lower-case letters, digits and '-')");
      continue;
    }
    auto spec = parse_endpoint(std::string_view(e).substr(eq + 1));
    if (!spec) {
      err("--endpoint", "'" + url_for_message(e) + "': " + spec.error().message);
      continue;
    }
    cfg.upstream.endpoints[region] = *spec;
    cfg.origins["kms_proxy.endpoints." + region] = flag("--endpoint");
  }
  if (!f.ca_files.empty()) {
    cfg.upstream.ca_files = f.ca_files;
    cfg.origins["kms_proxy.upstream.ca_file"] = flag("--ca-file");
  }
  if (f.vsock) {
    if (auto v = parse_vsock(*f.vsock)) {
      cfg.vsock = *v;
      cfg.origins["kms_proxy.upstream.vsock"] = flag("--vsock");
    } else {
      err("--vsock", "expected CID:PORT (e.g. 3:8000), got '" + *f.vsock + "'");
    }
  }
  if (f.egress_proxy_port) {
    if (const auto v = number("--egress-proxy-port", *f.egress_proxy_port, 1, 65535)) {
      cfg.egress.proxy_port = static_cast<std::uint16_t>(*v);
      cfg.origins["egress.proxy_port"] = flag("--egress-proxy-port");
    }
  }
  if (f.credential_sources) {
    // The same list as credentials.sources, comma-separated, in order.
    std::vector<CredentialSource> chain;
    bool ok = true;
    std::string_view rest = *f.credential_sources;
    while (ok) {
      const auto comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      const SourceListProblem problem = append_credential_source(chain, item);
      if (problem == SourceListProblem::kUnknown) {
        err("--credential-sources", "expected a comma-separated list of env, profile, container and imds, got '" +
                                        value_for_message(*f.credential_sources) + "'");
      } else if (problem == SourceListProblem::kRepeated) {
        err("--credential-sources", "'" + std::string(item) + "' is listed twice");
      }
      ok = problem == SourceListProblem::kNone;
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
    if (ok) {
      cfg.credentials.chain = std::move(chain);
      cfg.origins["kms_proxy.credentials.sources"] = flag("--credential-sources");
    }
  }
  if (f.attestation_mode) {
    if (auto m = parse_attestation_mode(*f.attestation_mode)) {
      cfg.attestation.mode = *m;
      cfg.origins["kms_proxy.attestation.mode"] = flag("--attestation");
    } else {
      err("--attestation", "expected nsm, simulated or none, got '" + *f.attestation_mode + "'");
    }
  }
  if (f.nsm_device) {
    cfg.attestation.nsm_device = *f.nsm_device;
    cfg.origins["kms_proxy.attestation.device"] = flag("--nsm-device");
  }
  if (f.sim_pki_dir) {
    cfg.attestation.sim_pki_dir = *f.sim_pki_dir;
    cfg.origins["kms_proxy.attestation.sim_pki_dir"] = flag("--sim-pki-dir");
  }
  for (const auto& p : f.pcrs) {
    auto parsed = parse_pcr_assignment(p);
    if (!parsed) {
      err("--pcr", parsed.error().message);
      continue;
    }
    cfg.attestation.pcrs[parsed->first] = std::move(parsed->second);
    cfg.origins["kms_proxy.attestation.pcrs"] = flag("--pcr");
  }
  if (f.measurements_file) {
    cfg.attestation.measurements_file = *f.measurements_file;
    cfg.origins["kms_proxy.attestation.measurements"] = flag("--measurements");
  }
  if (f.attestation_max_age) {
    const auto dur = parse_duration(*f.attestation_max_age);
    if (!dur || *dur != std::chrono::duration_cast<std::chrono::seconds>(*dur)) {
      err("--attestation-max-age",
          "expected a whole number of seconds such as 0, 30s or 5m, got '" + *f.attestation_max_age + "'");
    } else {
      cfg.attestation.max_age = std::chrono::duration_cast<std::chrono::seconds>(*dur);
      cfg.origins["kms_proxy.attestation.max_age"] = flag("--attestation-max-age");
    }
  }
  if (f.attestation_timeout) {
    const auto dur = parse_duration(*f.attestation_timeout);
    if (!dur) {
      err("--attestation-timeout", "expected a duration such as 500ms, 10s or 1m, got '" + *f.attestation_timeout + "'");
    } else {
      cfg.attestation.timeout = *dur;
      cfg.origins["kms_proxy.attestation.timeout"] = flag("--attestation-timeout");
    }
  }
  if (f.log_format) {
    if (auto v = parse_log_format(*f.log_format)) {
      cfg.log.format = *v;
    } else {
      err("--log-format", "expected text or json, got '" + *f.log_format + "'");
    }
  }
  if (f.log_level) {
    if (auto v = parse_log_level(*f.log_level)) {
      cfg.log.level = *v;
    } else {
      err("--log-level", "expected trace, debug, info, warn, error or off, got '" + *f.log_level + "'");
    }
  }
  if (f.metrics_listen) {
    const auto a = parse_authority(*f.metrics_listen);
    if (!a || !a->port) {
      err("--metrics-listen", "expected HOST:PORT, got '" + *f.metrics_listen + "'");
    } else {
      cfg.metrics.listen = MetricsListen{a->host, *a->port};
      cfg.origins["kms_proxy.metrics_listen"] = flag("--metrics-listen");
    }
  }
  if (f.max_connections) {
    if (const auto v = number("--max-connections", *f.max_connections, 1, 1'000'000)) {
      cfg.listen.max_connections = static_cast<std::size_t>(*v);
      cfg.origins["kms_proxy.limits.max_connections"] = flag("--max-connections");
    }
  }
  if (f.threads) {  // 0 = one per core
    if (const auto v = number("--threads", *f.threads, 0, kMaxIoThreads)) {
      cfg.io.threads = static_cast<std::size_t>(*v);
      cfg.origins["kms_proxy.io.threads"] = flag("--threads");
    }
  }
  if (f.busy_poll_us) {  // microseconds; 0 = off
    if (const auto v = number("--busy-poll-us", *f.busy_poll_us, 0, static_cast<std::uint64_t>(kMaxBusyPoll.count()))) {
      cfg.io.busy_poll = std::chrono::microseconds(*v);
      cfg.origins["kms_proxy.io.busy_poll_us"] = flag("--busy-poll-us");
    }
  }
  return d;
}

Diagnostics load_measurements_file(Config& cfg) {
  Diagnostics d;
  const std::string& path = cfg.attestation.measurements_file;
  if (path.empty()) {
    return d;
  }
  const Origin where = cfg.origin_of("kms_proxy.attestation.measurements");
  auto text = read_input_file(path);
  if (!text) {
    d.push_back({where, "cannot read measurements file '" + path + "': " + input_file_reason(text.error(), path),
                 Severity::kError});
    return d;
  }
  auto pcrs = parse_measurements_json(*text);
  if (!pcrs) {
    d.push_back({where, "measurements file '" + path + "': " + pcrs.error().message, Severity::kError});
    return d;
  }
  for (auto& [index, value] : *pcrs) {
    cfg.attestation.pcrs.try_emplace(index, std::move(value));  // explicit PCRs win
  }
  return d;
}

Loaded build_config(const std::optional<std::filesystem::path>& file, const FlagOverrides& flags,
                    const EnvLookup& env) {
  Loaded out;
  bool file_ok = true;
  if (file) {
    auto parsed = load_enclaver_yaml(*file);
    if (parsed) {
      out.config = std::move(*parsed);
    } else {
      append(out.diagnostics, parsed.error());  // error() returns a copy (a prvalue)
      file_ok = false;
    }
  }
  append(out.diagnostics, apply_environment(out.config, env));
  append(out.diagnostics, apply_overrides(out.config, flags));
  if (!file_ok) {
    // Defaults stand in for the broken file: their own complaints, and
    // checks between settings, would be noise; but a bad value of a flag or
    // the environment (--region, https_proxy) is reported now rather than
    // after the file is mended.
    for (auto& d : validate_values(out.config)) {
      if (d.severity == Severity::kError && !d.where.source.empty()) {
        out.diagnostics.push_back(std::move(d));
      }
    }
    return out;
  }
  append(out.diagnostics, load_measurements_file(out.config));
  append(out.diagnostics, validate(out.config));
  return out;
}

}  // namespace kp::config
