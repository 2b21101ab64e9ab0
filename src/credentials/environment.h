// File: credentials/environment.h
//
// Source 1 of the chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN. The environment is read through an injectable lookup so
// tests (and a config layer that wants a prefix) control it.
//
// Gotcha: the proxy usually runs beside the application it serves, and that
// application is often told to use dummy credentials for the proxy. If those
// leak into the proxy's own environment they win here; ChainOptions can turn
// this source off.
//
// Pure: base/ and sigv4/credentials.h only.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "sigv4/credentials.h"

namespace kp::credentials {

/// Looks up an environment variable; nullopt when unset. An empty value is
/// treated as unset by every reader in this module (as the AWS SDKs do).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (std::getenv).
EnvLookup process_env();

/// Credentials from the environment; nullopt when AWS_ACCESS_KEY_ID and
/// AWS_SECRET_ACCESS_KEY are both unset. Exactly one of them set is an error
/// (Errc::kCredentialsUnavailable) rather than a silent fall-through.
Result<std::optional<sigv4::Credentials>> credentials_from_env(const EnvLookup& env);

/// Helper used by the other readers: the value if set and non-empty.
std::optional<std::string> env_value(const EnvLookup& env, std::string_view name);

}  // namespace kp::credentials
