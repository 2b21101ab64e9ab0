// File: config/egress.h
//
// Egress policy: which upstream hosts the proxy may connect to, from
// `egress.allow` / `egress.deny` in enclaver.yaml.
//
// Matching rules (docs/configuration.md has the table and the differences
// from Enclaver's own matcher):
//   - Domain patterns match whole DNS labels, case-insensitively; a trailing
//     dot on the host (or pattern) is ignored.
//   - A `*` label matches ONE OR MORE labels, anywhere in the pattern, so
//     `kms.*` admits kms.us-east-1.amazonaws.com. `**` means the same as `*`.
//     Partial-label wildcards (`kms-*`) are invalid patterns.
//   - A pattern without wildcard matches the host exactly.
//   - An IP or CIDR pattern (v4 or v6) matches IP literal hosts only; host
//     names never match IP patterns and IP literals never match domain
//     patterns. IPv4-mapped IPv6 hosts (::ffff:a.b.c.d) are matched as IPv4.
//   - Deny wins over allow. With no allow list the policy is "not
//     configured" and admits every host that no deny pattern matches.
//
//   auto policy = kp::config::EgressPolicy::compile(cfg.egress);
//   if (policy && !policy->allowed("kms.us-east-1.amazonaws.com")) { ... }
//
// Pure: standard library only (no Asio, no DNS).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "config/diagnostic.h"

namespace kp::config {

/// Why a pattern is invalid, or nullopt when it is valid.
std::optional<std::string> egress_pattern_error(std::string_view pattern);

struct EgressDecision {
  bool allowed = false;
  std::string reason;  // "allowed by 'kms.*'", "denied by '169.254.0.0/16'", ...
};

class EgressPolicy {
 public:
  /// A policy that is not configured (admits everything).
  EgressPolicy();
  ~EgressPolicy();
  EgressPolicy(const EgressPolicy&);
  EgressPolicy& operator=(const EgressPolicy&);
  EgressPolicy(EgressPolicy&&) noexcept;
  EgressPolicy& operator=(EgressPolicy&&) noexcept;

  /// Compiles allow/deny. Errors (Errc::kValidation) name every bad pattern.
  static Result<EgressPolicy> compile(const EgressOptions& egress);
  static Result<EgressPolicy> compile(std::span<const std::string> allow,
                                      std::span<const std::string> deny);

  /// Whether an allow list exists.
  bool configured() const noexcept;
  /// Whether `host` (name or IP literal, IPv6 with or without brackets, no
  /// port) may be connected to. Malformed hosts are never allowed.
  bool allowed(std::string_view host) const;
  /// Same decision, with the pattern that decided it.
  EgressDecision decide(std::string_view host) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A pattern that would admit `host`, valid for both this matcher and
/// Enclaver's: an IP literal suggests itself (canonical form); an AWS
/// regional name <service>.<region>.<suffix> suggests <service>.*.<suffix>
/// (kms.us-east-1.amazonaws.com -> kms.*.amazonaws.com); any other host name
/// suggests itself. nullopt for malformed hosts.
std::optional<std::string> suggest_pattern(std::string_view host);

/// Why `host` was refused (d.allowed is false): the decision's reason and,
/// unless a deny pattern decided, "; add '<pattern>' to egress.allow".
std::string refusal_reason(std::string_view host, const EgressDecision& d);

/// One error per host the policy does not admit, naming the host and a
/// pattern that would admit it (or the deny pattern that blocks it). `why`
/// is appended in parentheses, e.g. "needed for KMS in us-east-1". Nothing
/// when there is neither an allow nor a deny list. Invalid patterns are
/// reported too.
Diagnostics check_hosts(const EgressOptions& egress, std::span<const std::string> hosts,
                        const Origin& where = {}, std::string_view why = {});

/// Whether Enclaver's own egress proxy (odyn) would admit `host` under
/// `allow`/`deny`, with Enclaver's matcher (enclaver-reference.md 4.3): IP
/// literals against IP/CIDR entries only (no IPv4-mapped IPv6); names
/// label by label from the right, case-insensitively, `*` = exactly one
/// label, `**` = a match as soon as it is reached with a label left, a
/// trailing dot is a label of its own; deny wins.
bool enclaver_admits(std::span<const std::string> allow, std::span<const std::string> deny, std::string_view host);
/// The first of `entries` that Enclaver's matcher matches `host` with.
std::optional<std::string> enclaver_match(std::span<const std::string> entries, std::string_view host);

/// Warnings for allow patterns that Enclaver's own egress proxy (which the
/// CONNECT tunnel passes through inside an Enclaver enclave) reads
/// differently: a trailing `*` (`kms.*` admits only two-label names there)
/// and `**` that is not the leftmost label (admits everything there).
std::vector<std::string> enclaver_compatibility_notes(std::span<const std::string> allow);

}  // namespace kp::config
