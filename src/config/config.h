// File: config/config.h
//
// The typed configuration of the KMS proxy: one plain aggregate with a nested
// struct per component. Every member's default is written next to it; the
// YAML keys, flags and environment variables that set it are documented in
// docs/configuration.md. Components receive only their own sub-struct.
//
//   auto loaded = kp::config::build_config(path, flags, kp::config::process_env());
//   if (!loaded.ok()) { print(loaded.diagnostics); return 2; }
//   Server server(loaded.config.listen);
//
// Pure: no Asio/Beast, no YAML types in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "config/diagnostic.h"

namespace kp::config {

using Millis = std::chrono::milliseconds;
/// PCR index (0..31) -> 48-byte SHA-384 value.
using PcrMap = std::map<unsigned, Bytes>;

inline constexpr std::uint16_t kDefaultKmsPort = 9999;          // Enclaver's documented port
inline constexpr std::uint16_t kDefaultEgressProxyPort = 10000;  // Enclaver odyn egress proxy
inline constexpr std::uint32_t kDefaultVsockPort = 8000;        // AWS vsock-proxy's usual port
inline constexpr std::string_view kImdsAddress = "169.254.169.254";

// --- Listener (the loopback HTTP server the application talks to) ---------

struct ListenTimeouts {
  Millis header{10'000};  // limits.header_timeout: receive the whole header block
  Millis body{30'000};    // limits.body_timeout: receive the body after the headers
  Millis idle{60'000};    // limits.idle_timeout: keep-alive wait for the next request
  Millis write{30'000};   // limits.write_timeout: send the response
};

struct ListenOptions {
  std::string host = "127.0.0.1";            // loopback only (127/8, ::1, localhost); --listen
  std::uint16_t port = kDefaultKmsPort;      // kms_proxy.listen_port; --port; 0 = ephemeral
  std::size_t max_connections = 256;         // limits.max_connections (concurrent)
  std::size_t max_header_bytes = 16 * 1024;  // limits.max_header_bytes -> 431
  std::size_t max_body_bytes = 1024 * 1024;  // limits.max_body_bytes -> 413
  ListenTimeouts timeouts;
};

// --- Upstream (KMS over TLS) -----------------------------------------------

struct EndpointSpec {
  std::string scheme = "https";  // "https", or "http" for loopback hosts only (extension)
  std::string host;              // DNS name or IP literal (IPv6 without brackets)
  std::uint16_t port = 443;      // default 443 for https, 80 for http

  /// "https://host:port" (IPv6 bracketed).
  std::string url() const;
  bool operator==(const EndpointSpec&) const = default;
};

/// Parses an endpoints value: Enclaver's "host[:port]" authority, optionally
/// prefixed by "https://" or "http://" (this project's extension) and
/// optionally followed by a single "/". Returns the reason on failure.
/// "http" is accepted here for any host; validate() restricts it to loopback.
/// Errors: Errc::kValidation with the reason (without the input text).
Result<EndpointSpec> parse_endpoint(std::string_view text);

/// An endpoint or URL as an error message may show it: user info (which may
/// hold a password) replaced by "***", bytes outside printable ASCII by '?'
/// (no terminal escapes), at most 200 characters.
std::string url_for_message(std::string_view text);

/// Any other value as an error message may show it: bytes outside printable
/// ASCII as '?', at most 200 characters.
std::string value_for_message(std::string_view text);

/// kms.<region>.amazonaws.com[.cn], port 443 (no FIPS / dual-stack guessing:
/// use `endpoints:` for those).
EndpointSpec default_kms_endpoint(std::string_view region);

/// Region names as they appear in SigV4 scopes: [a-z0-9-], 1..64 chars.
bool is_valid_region(std::string_view region);

struct UpstreamTimeouts {
  Millis connect{5'000};         // upstream.timeouts.connect: TCP or vsock connect (+ CONNECT)
  Millis tls_handshake{10'000};  // upstream.timeouts.tls_handshake
  Millis request{30'000};        // upstream.timeouts.request: send request, read full response
};

struct PoolOptions {
  std::size_t max_idle_per_host = 64;  // upstream.pool.max_idle_per_host; 0 = no reuse
  Millis idle_timeout{50'000};        // upstream.pool.idle_timeout: drop idle connections after
};

struct UpstreamOptions {
  std::optional<std::string> default_region;        // kms_proxy.region; AWS_REGION; --region
  std::map<std::string, EndpointSpec> endpoints;    // kms_proxy.endpoints; --endpoint R=URL
  std::vector<std::string> ca_files;                // upstream.ca_file; empty = system store
  UpstreamTimeouts timeouts;
  PoolOptions pool;

  /// endpoints[region], else default_kms_endpoint(region).
  EndpointSpec endpoint_for(std::string_view region) const;
};

// --- Egress (policy for upstream hosts, and the CONNECT proxy to use) ------

struct EgressOptions {
  std::optional<std::uint16_t> proxy_port;  // egress.proxy_port (Enclaver default 10000)
  std::vector<std::string> allow;           // egress.allow; empty = policy not configured
  std::vector<std::string> deny;            // egress.deny; deny wins
  std::optional<std::string> https_proxy;   // env https_proxy / HTTPS_PROXY (URL, http only)
  std::vector<std::string> no_proxy;        // env no_proxy / NO_PROXY, comma-split, trimmed

  /// Enclaver semantics: egress is enabled only with a non-empty allow list.
  bool configured() const noexcept { return !allow.empty(); }
  /// The loopback port of the enclave's egress proxy (odyn's): proxy_port,
  /// else 10000 when egress is configured; nullopt when there is none.
  std::optional<std::uint16_t> local_proxy_port() const;
};

/// Parses a proxy URL as found in https_proxy: "http://host[:port][/]" or
/// "host[:port]" (port default 80). "https://" proxies and user info are
/// rejected. Error messages never repeat the URL (it may hold a password).
Result<EndpointSpec> parse_proxy_url(std::string_view text);

/// The HTTP CONNECT proxy the upstream client must tunnel through, or nullopt
/// for direct connections. Order: egress.proxy_port (explicit) ->
/// https_proxy from the environment -> 127.0.0.1:10000 when egress is
/// configured -> direct. Ignored when vsock transport is on.
std::optional<EndpointSpec> upstream_proxy(const EgressOptions& egress);

/// curl-style no_proxy match: "*" matches all; an entry matches the host
/// itself and its subdomains (leading '.' optional); IP entries match exactly.
bool no_proxy_matches(const std::vector<std::string>& no_proxy, std::string_view host);

// --- Direct vsock transport ------------------------------------------------
// A raw byte forwarder on the parent instance (AWS's vsock-proxy), reached at
// CID:PORT (the parent is CID 3 inside an enclave). Each connection carries
// the TLS session to the one host:port the forwarder was started for; no
// handshake of its own (Enclaver's host-side egress protocol is not spoken:
// with Enclaver, use its CONNECT proxy).

struct VsockOptions {
  std::optional<std::uint32_t> cid;         // upstream.vsock "CID:PORT"; unset = vsock off
  std::uint32_t port = kDefaultVsockPort;

  bool enabled() const noexcept { return cid.has_value(); }
};

/// "CID:PORT", both unsigned 32-bit decimal numbers.
std::optional<VsockOptions> parse_vsock(std::string_view text);

// --- Attestation -----------------------------------------------------------

enum class AttestationMode {
  kNsm,        // the real NSM device (inside an enclave)
  kSimulated,  // documents signed by a local test PKI (sim_pki_dir)
  kNone,       // no Recipient: attested operations go to KMS unchanged
};
std::string_view to_string(AttestationMode m) noexcept;
std::optional<AttestationMode> parse_attestation_mode(std::string_view s);

struct AttestationOptions {
  AttestationMode mode = AttestationMode::kNsm;  // attestation.mode; --attestation
  std::string nsm_device = "/dev/nsm";           // attestation.device
  std::string sim_pki_dir;                       // attestation.sim_pki_dir (simulated: required)
  PcrMap pcrs;                                   // attestation.pcrs; --pcr N=HEX
  std::string measurements_file;                 // attestation.measurements (nitro-cli JSON)
  std::chrono::seconds max_age{0};               // attestation.max_age; 0 = fresh document per request
  std::chrono::milliseconds timeout{10'000};     // attestation.timeout; --attestation-timeout: a request
                                                 // waiting longer for its document gets a 500
};

// --- Credentials -------------------------------------------------------------

enum class CredentialSource {
  kEnv,        // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
  kProfile,    // AWS_PROFILE's static keys in ~/.aws/credentials or ~/.aws/config
  kContainer,  // AWS_CONTAINER_CREDENTIALS_{RELATIVE,FULL}_URI (ECS, EKS Pod Identity)
  kImds,       // EC2 instance role via IMDSv2 (Enclaver's only source)
};
std::string_view to_string(CredentialSource s) noexcept;
std::optional<CredentialSource> parse_credential_source(std::string_view s);

/// Why a name could not join a credentials.sources list.
enum class SourceListProblem { kNone, kUnknown, kRepeated };
/// Appends the source `name` names to `chain` (each source at most once).
SourceListProblem append_credential_source(std::vector<CredentialSource>& chain, std::string_view name);

struct CredentialOptions {
  std::vector<CredentialSource> chain = {CredentialSource::kEnv, CredentialSource::kProfile,
                                         CredentialSource::kContainer,
                                         CredentialSource::kImds};  // credentials.sources
  std::string imds_endpoint = "http://169.254.169.254";  // credentials.imds_endpoint
  /// The host of AWS_EC2_METADATA_SERVICE_ENDPOINT, which wins over
  /// imds_endpoint (set by apply_environment; the egress check uses it).
  std::optional<std::string> imds_host_from_env;
  Millis imds_timeout{2'000};                             // credentials.imds_timeout (per call)
  std::chrono::seconds refresh_margin{300};  // credentials.refresh_margin: refresh before expiry

  bool uses(CredentialSource s) const;
};

// --- I/O threads -------------------------------------------------------------

inline constexpr std::size_t kMaxIoThreads = 256;
inline constexpr std::chrono::microseconds kMaxBusyPoll{10'000};

struct IoOptions {
  std::size_t threads = 0;  // io.threads; --threads; 0 = one per core
  // io.busy_poll_us; --busy-poll-us: after its last event an I/O thread keeps
  // polling (yielding the CPU between polls) this long before it sleeps.
  // Trades CPU for latency; 0 = off (sleep at once).
  std::chrono::microseconds busy_poll{0};
};

// --- Logging and metrics ---------------------------------------------------

enum class LogFormat { kText, kJson };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };
std::string_view to_string(LogFormat f) noexcept;
std::string_view to_string(LogLevel l) noexcept;
std::optional<LogFormat> parse_log_format(std::string_view s);
std::optional<LogLevel> parse_log_level(std::string_view s);

struct LogOptions {
  LogFormat format = LogFormat::kText;  // log.format; --log-format
  LogLevel level = LogLevel::kInfo;     // log.level; --log-level
};

struct MetricsListen {
  std::string host;
  std::uint16_t port = 0;
};

struct MetricsOptions {
  std::optional<MetricsListen> listen;  // metrics_listen "host:port"; unset = no endpoint
};

// --- The parts of enclaver.yaml that belong to Enclaver ---------------------

struct IngressEntry {
  std::uint16_t listen_port = 0;
  bool tls = false;
};

struct ManifestInfo {
  std::string path;                     // file the config came from; empty = none
  std::string version;                  // "v1"
  std::string name;
  std::string target;
  std::vector<IngressEntry> ingress;    // only checked against the KMS port
  std::optional<std::uint16_t> api_port;
  bool has_kms_proxy = false;           // the file has a kms_proxy: section
};

// --- The whole configuration --------------------------------------------------

struct Config {
  ListenOptions listen;
  UpstreamOptions upstream;
  EgressOptions egress;
  VsockOptions vsock;
  AttestationOptions attestation;
  CredentialOptions credentials;
  IoOptions io;
  LogOptions log;
  MetricsOptions metrics;
  ManifestInfo manifest;
  /// Where each explicitly set value came from (for diagnostics).
  Origins origins;

  /// Origin of a setting path, or an empty Origin when it is a default.
  Origin origin_of(std::string_view path) const;
};

/// The variables to add to the application's environment (for `run`):
/// AWS_KMS_ENDPOINT and AWS_ENDPOINT_URL_KMS = http://<listen>, and, when
/// egress is configured, http_proxy/https_proxy/HTTP_PROXY/HTTPS_PROXY =
/// http://127.0.0.1:<egress proxy port>/ and no_proxy/NO_PROXY =
/// localhost,127.0.0.1 (as Enclaver's odyn sets them). `bound_port`
/// replaces listen.port (use it when the configured port is 0).
std::vector<std::pair<std::string, std::string>> child_environment(
    const Config& cfg, std::optional<std::uint16_t> bound_port = std::nullopt);

}  // namespace kp::config
