// File: config/overrides.h
//
// Layers on top of the file: the environment (AWS_REGION, https_proxy, ...)
// and then command-line flags, and the one-call pipeline the CLI uses:
//
//   kp::config::FlagOverrides flags;      // filled by the CLI layer
//   flags.port = 9999;
//   auto loaded = kp::config::build_config(path, flags, kp::config::process_env());
//   for (const auto& d : loaded.diagnostics) std::cerr << d.to_string() << "\n";
//   if (!loaded.ok()) return 2;
//
// Precedence: defaults < file < environment < flags. The environment is read
// through an injectable lookup so tests never touch the real environment.
//
// Pure: no Asio.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/diagnostic.h"

namespace kp::config {

/// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The real process environment (getenv).
EnvLookup process_env();
/// A fixed environment for tests.
EnvLookup fixed_env(std::map<std::string, std::string, std::less<>> vars);

/// Applies AWS_REGION (else AWS_DEFAULT_REGION) to upstream.default_region,
/// https_proxy (else HTTPS_PROXY) to egress.https_proxy and no_proxy (else
/// NO_PROXY) to egress.no_proxy. Empty values count as unset. Returns
/// problems (e.g. an https_proxy that is not an http:// URL).
Diagnostics apply_environment(Config& cfg, const EnvLookup& env);

/// Command-line values, unset when the flag was not given. Strings are
/// parsed here so every problem is reported with the flag's name.
struct FlagOverrides {
  std::optional<std::string> listen;               // --listen HOST[:PORT]
  std::optional<std::string> port;                 // --port N (wins over --listen's port)
  std::optional<std::string> region;               // --region R
  std::vector<std::string> endpoints;              // --endpoint R=[SCHEME://]HOST[:PORT] (adds/replaces)
  std::vector<std::string> ca_files;               // --ca-file PATH (replaces the file's list)
  std::optional<std::string> vsock;                // --vsock CID:PORT
  std::optional<std::string> egress_proxy_port;    // --egress-proxy-port N
  std::optional<std::string> attestation_mode;     // --attestation nsm|simulated|none
  std::optional<std::string> nsm_device;           // --nsm-device PATH
  std::optional<std::string> sim_pki_dir;          // --sim-pki-dir DIR
  std::vector<std::string> pcrs;                   // --pcr N=HEX (adds/replaces one PCR)
  std::optional<std::string> measurements_file;    // --measurements FILE
  std::optional<std::string> attestation_max_age;  // --attestation-max-age DURATION
  std::optional<std::string> attestation_timeout;  // --attestation-timeout DURATION
  std::optional<std::string> log_format;           // --log-format text|json
  std::optional<std::string> log_level;            // --log-level trace|debug|info|warn|error|off
  std::optional<std::string> metrics_listen;       // --metrics-listen HOST:PORT
  std::optional<std::string> max_connections;      // --max-connections N
  std::optional<std::string> threads;              // --threads N
  std::optional<std::string> busy_poll_us;         // --busy-poll-us N
  std::optional<std::string> credential_sources;   // --credential-sources env,profile,container,imds
};

/// Applies flag values over `cfg` (recording each flag as the origin).
Diagnostics apply_overrides(Config& cfg, const FlagOverrides& flags);

/// Reads attestation.measurements_file (if set) and merges its PCRs into
/// attestation.pcrs; PCRs set explicitly (file `pcrs:` or --pcr) win.
Diagnostics load_measurements_file(Config& cfg);

/// The longest duration any setting takes (about 11 years; the clocks hold
/// deadlines in 64-bit nanoseconds, ~292 years, so sums stay in range).
inline constexpr Millis kMaxDuration = std::chrono::hours(100'000);

/// Parses "250ms", "10s", "5m", "1h" or a bare integer (seconds); nullopt
/// also above kMaxDuration.
std::optional<Millis> parse_duration(std::string_view text);

struct Loaded {
  Config config;
  Diagnostics diagnostics;  // errors and warnings, in discovery order
  bool ok() const noexcept { return !has_errors(diagnostics); }
};

/// The whole pipeline: file (if any) -> environment -> flags -> measurements
/// file -> validate(). Every stage runs even when an earlier one reported
/// errors (as far as it can), so all problems come back together.
Loaded build_config(const std::optional<std::filesystem::path>& file,
                    const FlagOverrides& flags, const EnvLookup& env);

}  // namespace kp::config
