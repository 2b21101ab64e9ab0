// File: config/validate.h
//
// Cross-field validation of a complete Config (after file, environment and
// flags). Returns every problem; warnings (Severity::kWarning) do not stop
// startup. Errors include: a non-loopback listener, the KMS port listed
// under ingress, port clashes, invalid egress patterns, an egress policy that
// does not admit the KMS host or IMDS, http endpoints on non-loopback hosts,
// inconsistent attestation settings.
//
//   auto d = kp::config::validate(cfg);
//   if (kp::config::has_errors(d)) { ... }
//
// Pure: no Asio, no I/O.
#pragma once

#include "config/config.h"
#include "config/diagnostic.h"

namespace kp::config {

Diagnostics validate(const Config& cfg);

/// The part of validate() that looks at one setting's own value (listen and
/// metrics hosts, limits, timeouts, region, endpoint schemes, https_proxy),
/// none of the checks between settings (ports, egress patterns against the
/// endpoints, attestation mode and its settings).
Diagnostics validate_values(const Config& cfg);

}  // namespace kp::config
