#include "config/config.h"

#include <algorithm>
#include <charconv>

#include "config/address.h"

namespace kp::config {

namespace {

struct Suffix {
  std::string_view region_prefix;
  std::string_view dns_suffix;
};

// Partition DNS suffixes (KMS endpoint rule set, partitions.json). Order
// matters: the more specific prefixes come first.
constexpr Suffix kSuffixes[] = {
    {"cn-", "amazonaws.com.cn"},        {"us-isob-", "sc2s.sgov.gov"},
    {"us-isof-", "csp.hci.ic.gov"},     {"us-iso-", "c2s.ic.gov"},
    {"eu-isoe-", "cloud.adc-e.uk"},     {"eusc-", "amazonaws.eu"},
};

Result<EndpointSpec> authority_to_endpoint(std::string_view rest, std::string scheme,
                                           std::string_view what) {
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
  }
  if (rest.empty()) {
    return fail(Errc::kValidation, std::string(what) + ": missing host");
  }
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return fail(Errc::kValidation, std::string(what) + ": only host[:port] is allowed, no path or query");
  }
  if (rest.find('@') != std::string_view::npos) {
    return fail(Errc::kValidation, std::string(what) + ": user info is not supported");
  }
  const auto auth = parse_authority(rest);
  if (!auth) {
    return fail(Errc::kValidation,
                std::string(what) + ": expected host[:port] with a valid host name or IP literal and port 0..65535");
  }
  EndpointSpec spec;
  spec.scheme = std::move(scheme);
  spec.host = auth->host;
  spec.port = auth->port.value_or(spec.scheme == "http" ? 80 : 443);
  return spec;
}

}  // namespace

std::string url_for_message(std::string_view text) {
  std::string shown;
  const std::size_t sep = text.find("://");
  const std::size_t host_at = sep == std::string_view::npos ? 0 : sep + 3;
  const std::size_t end = text.find_first_of("/?#", host_at);
  const std::size_t at = text.substr(0, end).rfind('@');
  if (at != std::string_view::npos && at >= host_at) {
    shown = std::string(text.substr(0, host_at)) + "***" + std::string(text.substr(at));
  } else {
    shown = std::string(text);
  }
  return value_for_message(shown);
}

std::string value_for_message(std::string_view text) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c >= 0x7f ? '?' : static_cast<char>(c));
  }
  if (text.size() > kMax) {
    out += "...";
  }
  return out;
}

std::string EndpointSpec::url() const { return scheme + "://" + format_authority(host, port); }

Result<EndpointSpec> parse_endpoint(std::string_view text) {
  std::string scheme = "https";
  const std::size_t sep = text.find("://");
  if (sep != std::string_view::npos) {
    scheme = to_lower_ascii(text.substr(0, sep));
    if (scheme != "https" && scheme != "http") {
      return fail(Errc::kValidation,
                  "endpoint: scheme must be https:// or http://, got '" + scheme + "://'");
    }
    text.remove_prefix(sep + 3);
  }
  return authority_to_endpoint(text, std::move(scheme), "endpoint");
}

Result<EndpointSpec> parse_proxy_url(std::string_view text) {
  std::string scheme = "http";
  const std::size_t sep = text.find("://");
  if (sep != std::string_view::npos) {
    scheme = to_lower_ascii(text.substr(0, sep));
    if (scheme != "http") {
      return fail(Errc::kValidation, "proxy URL: only http:// proxies are supported");
    }
    text.remove_prefix(sep + 3);
  }
  return authority_to_endpoint(text, std::move(scheme), "proxy URL");
}

EndpointSpec default_kms_endpoint(std::string_view region) {
  std::string_view suffix = "amazonaws.com";
  for (const auto& s : kSuffixes) {
    if (region.substr(0, s.region_prefix.size()) == s.region_prefix) {
      suffix = s.dns_suffix;
      break;
    }
  }
  EndpointSpec spec;
  spec.host = "kms.";
  spec.host += region;
  spec.host += '.';
  spec.host += suffix;
  return spec;
}

bool is_valid_region(std::string_view region) {
  if (region.empty() || region.size() > 64 || region.front() == '-' || region.back() == '-') {
    return false;
  }
  return std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

EndpointSpec UpstreamOptions::endpoint_for(std::string_view region) const {
  const auto it = endpoints.find(std::string(region));
  if (it != endpoints.end()) {
    return it->second;
  }
  return default_kms_endpoint(region);
}

std::optional<std::uint16_t> EgressOptions::local_proxy_port() const {
  return configured() ? std::optional(proxy_port.value_or(kDefaultEgressProxyPort)) : proxy_port;
}

std::optional<EndpointSpec> upstream_proxy(const EgressOptions& egress) {
  EndpointSpec local;
  local.scheme = "http";
  local.host = "127.0.0.1";
  if (egress.proxy_port) {
    local.port = *egress.proxy_port;
    return local;
  }
  if (egress.https_proxy && !egress.https_proxy->empty()) {
    auto parsed = parse_proxy_url(*egress.https_proxy);
    if (parsed) {
      return *parsed;
    }
  }
  if (egress.configured()) {
    local.port = kDefaultEgressProxyPort;
    return local;
  }
  return std::nullopt;
}

bool no_proxy_matches(const std::vector<std::string>& no_proxy, std::string_view host) {
  std::string h = to_lower_ascii(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  if (!h.empty() && h.back() == '.') {
    h.pop_back();
  }
  for (const auto& raw : no_proxy) {
    std::string e = to_lower_ascii(raw);
    if (e == "*") {
      return true;
    }
    if (!e.empty() && e.front() == '.') {
      e.erase(0, 1);
    }
    if (e.size() >= 2 && e.front() == '[' && e.back() == ']') {
      e = e.substr(1, e.size() - 2);
    }
    if (e.empty()) {
      continue;
    }
    if (h == e) {
      return true;
    }
    if (!parse_ip(h) && h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 &&
        h[h.size() - e.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::optional<VsockOptions> parse_vsock(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  const auto num = [](std::string_view s) -> std::optional<std::uint32_t> {
    std::uint32_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) {
      return std::nullopt;
    }
    return v;
  };
  const auto cid = num(text.substr(0, colon));
  const auto port = num(text.substr(colon + 1));
  if (!cid || !port) {
    return std::nullopt;
  }
  VsockOptions v;
  v.cid = *cid;
  v.port = *port;
  return v;
}

std::string_view to_string(AttestationMode m) noexcept {
  switch (m) {
    case AttestationMode::kNsm:
      return "nsm";
    case AttestationMode::kSimulated:
      return "simulated";
    case AttestationMode::kNone:
      return "none";
  }
  return "?";
}

std::optional<AttestationMode> parse_attestation_mode(std::string_view s) {
  const std::string v = to_lower_ascii(s);
  if (v == "nsm") {
    return AttestationMode::kNsm;
  }
  if (v == "simulated") {
    return AttestationMode::kSimulated;
  }
  if (v == "none") {
    return AttestationMode::kNone;
  }
  return std::nullopt;
}

std::string_view to_string(CredentialSource s) noexcept {
  switch (s) {
    case CredentialSource::kEnv:
      return "env";
    case CredentialSource::kProfile:
      return "profile";
    case CredentialSource::kContainer:
      return "container";
    case CredentialSource::kImds:
      return "imds";
  }
  return "?";
}

std::optional<CredentialSource> parse_credential_source(std::string_view s) {
  const std::string v = to_lower_ascii(s);
  if (v == "env") {
    return CredentialSource::kEnv;
  }
  if (v == "profile") {
    return CredentialSource::kProfile;
  }
  if (v == "container") {
    return CredentialSource::kContainer;
  }
  if (v == "imds") {
    return CredentialSource::kImds;
  }
  return std::nullopt;
}

SourceListProblem append_credential_source(std::vector<CredentialSource>& chain, std::string_view name) {
  const auto s = parse_credential_source(name);
  if (!s) {
    return SourceListProblem::kUnknown;
  }
  if (std::find(chain.begin(), chain.end(), *s) != chain.end()) {
    return SourceListProblem::kRepeated;
  }
  chain.push_back(*s);
  return SourceListProblem::kNone;
}

bool CredentialOptions::uses(CredentialSource s) const {
  return std::find(chain.begin(), chain.end(), s) != chain.end();
}

std::string_view to_string(LogFormat f) noexcept { return f == LogFormat::kJson ? "json" : "text"; }

std::string_view to_string(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "?";
}

std::optional<LogFormat> parse_log_format(std::string_view s) {
  const std::string v = to_lower_ascii(s);
  if (v == "text") {
    return LogFormat::kText;
  }
  if (v == "json") {
    return LogFormat::kJson;
  }
  return std::nullopt;
}

std::optional<LogLevel> parse_log_level(std::string_view s) {
  const std::string v = to_lower_ascii(s);
  for (LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError, LogLevel::kOff}) {
    if (v == to_string(l)) {
      return l;
    }
  }
  if (v == "warning") {
    return LogLevel::kWarn;
  }
  return std::nullopt;
}

Origin Config::origin_of(std::string_view path) const {
  const auto it = origins.find(path);
  return it == origins.end() ? Origin{} : it->second;
}

std::vector<std::pair<std::string, std::string>> child_environment(
    const Config& cfg, std::optional<std::uint16_t> bound_port) {
  std::vector<std::pair<std::string, std::string>> env;
  const std::string kms_url =
      "http://" + format_authority(cfg.listen.host, bound_port.value_or(cfg.listen.port));
  env.emplace_back("AWS_KMS_ENDPOINT", kms_url);
  env.emplace_back("AWS_ENDPOINT_URL_KMS", kms_url);
  if (cfg.egress.configured()) {
    const std::string proxy = "http://127.0.0.1:" + std::to_string(*cfg.egress.local_proxy_port()) + "/";
    for (const char* name : {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"}) {
      env.emplace_back(name, proxy);
    }
    // The app must reach the proxy itself directly: its own listen address
    // too when that is not 127.0.0.1 (an IPv6 literal both bare and
    // bracketed, as clients differ in which form they compare).
    std::string no_proxy = "localhost,127.0.0.1";
    const std::string& host = cfg.listen.host;
    if (!host.empty() && host != "127.0.0.1" && host != "localhost") {
      no_proxy += "," + host;
      if (host.find(':') != std::string::npos) {
        no_proxy += ",[" + host + "]";
      }
    }
    env.emplace_back("no_proxy", no_proxy);
    env.emplace_back("NO_PROXY", no_proxy);
  }
  return env;
}

}  // namespace kp::config
