// File: app/preflight.h
//
// `kms-proxy check`: will this enclave get its secrets? Starts the proxy from
// the same configuration as `serve` (on a free loopback port, no metrics
// listener) and sends through it what an app would, so every piece on the
// real path is exercised: NSM (or simulator), credentials, the route to KMS
// (direct, CONNECT egress proxy or vsock), TLS, SigV4, KMS's verdict on the
// attestation document, CMS decryption. Then, for each key asked about, a
// Decrypt with DryRun (DryRunModifiers IGNORE_CIPHERTEXT): KMS evaluates the
// key policy, PCR conditions included, against this enclave's document and
// answers DryRunOperationException (would succeed) or AccessDeniedException.
// GenerateDataKey and GenerateDataKeyPair can be checked the same way.
//
//   auto report = kp::app::preflight(cfg, {}, {.key_ids = {"arn:aws:kms:..."}},
//                                    [](const CheckLine& l) { print(l); });
//
// The verdicts (judge_*) are pure functions of the answer, tested without
// sockets. Startup problems come back as the Error Daemon::create/start
// returns (all of them at once).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/daemon.h"
#include "base/http_message.h"
#include "base/result.h"
#include "config/config.h"

namespace kp::app {

enum class CheckStatus { kOk, kWarn, kFail };

struct CheckLine {
  CheckStatus status = CheckStatus::kFail;
  std::string subject;  // "attestation + KMS", "key <id>"
  std::string detail;   // one sentence: what happened
  std::string hint;     // what to do next (may be empty)
};

struct PreflightOptions {
  /// Keys to ask KMS about (key id, key ARN, alias name or alias ARN).
  std::vector<std::string> key_ids;
  /// What each key is checked for (is_checkable_operation); empty: what the
  /// key is for (operations_for()).
  std::vector<std::string> operations;
  /// Sent with every key check (a policy with kms:EncryptionContext:
  /// conditions decides on it), in order.
  std::vector<std::pair<std::string, std::string>> encryption_context;
  /// Longest wait for each answer through the proxy.
  std::chrono::milliseconds timeout{60'000};
};

struct PreflightReport {
  /// The first line is the proxy's start ("proxy: started: <mode, route,
  /// credentials, key fingerprint>"), then GenerateRandom, then one per key.
  std::vector<CheckLine> lines;
  bool ok() const noexcept;  // no kFail line
};

/// Runs the checks; `on_line` sees each line as soon as it is known.
/// Errors: the proxy could not start (every problem, one per line).
Result<PreflightReport> preflight(config::Config cfg, DaemonExtras extras, const PreflightOptions& opts,
                                  const std::function<void(const CheckLine&)>& on_line = {});

/// What DescribeKey says of a key that matters to the checks.
struct KeyFacts {
  std::string key_spec;   // "SYMMETRIC_DEFAULT", "RSA_2048", "ECC_NIST_P384", ...
  std::string key_usage;  // "ENCRYPT_DECRYPT", "KEY_AGREEMENT", ...
  std::vector<std::string> encryption_algorithms;
};

/// The facts in a DescribeKey answer; nullopt for an error or an odd body
/// (the credentials may not be allowed DescribeKey: the checks go on without).
std::optional<KeyFacts> key_facts_of(const HttpResponse& describe_key);

/// A key's checks. Without `requested` (no --operation), its default:
/// DeriveSharedSecret for a KEY_AGREEMENT key, else Decrypt. With it, the
/// requested operations the key can do, when DescribeKey said what it is
/// (Decrypt for an ENCRYPT_DECRYPT key, GenerateDataKey[Pair] for a symmetric
/// one, DeriveSharedSecret for a KEY_AGREEMENT one); the others go to
/// `not_applicable`, and if none is left, the default. Unknown facts, or a
/// signing or MAC key (which does none of them): all of `requested`.
std::vector<std::string> operations_for(const std::optional<KeyFacts>& facts,
                                        const std::vector<std::string>& requested = {},
                                        std::vector<std::string>* not_applicable = nullptr);

/// The EncryptionAlgorithm a Decrypt check sends: none for a symmetric key
/// (or unknown facts), RSAES_OAEP_SHA_256 for an RSA key that has it, else
/// the key's first algorithm (SM2PKE).
std::optional<std::string> decrypt_algorithm_for(const std::optional<KeyFacts>& facts);

/// The region of a key or alias ARN ("arn:aws:kms:eu-west-1:111122223333:key/..."),
/// nullopt for a bare key id or alias name.
std::optional<std::string> region_of_key_arn(std::string_view key_id);

/// Verdict on the proxy's answer to GenerateRandom(NumberOfBytes=32).
/// `attested`: the proxy runs with an NSM or the simulator (not `none`).
CheckLine judge_generate_random(const HttpResponse& resp, bool attested);

/// Verdict on the proxy's answer to a DryRun of `op` on `key_id` sent to
/// `region` (Decrypt with IGNORE_CIPHERTEXT, GenerateDataKey, ...).
CheckLine judge_dry_run(std::string_view op, std::string_view key_id, std::string_view region,
                        const HttpResponse& resp, bool attested);

/// The operations a key can be checked for (attested ones with DryRun):
/// Decrypt, GenerateDataKey, GenerateDataKeyPair.
bool is_checkable_operation(std::string_view op) noexcept;

/// {"ok":true|false,"checks":[{"status":"ok|warn|fail","subject":..,"detail":..,"hint":..}]}
std::string report_json(const PreflightReport& report);

/// "ok", "warn", "FAIL".
std::string_view to_string(CheckStatus s) noexcept;

}  // namespace kp::app
