// File: credentials/default_chain.h
//
// Picks the proxy's credentials source once at startup and wraps it for the
// request path. The sources are tried in ChainOptions::sources order
// (credentials.sources; by default the AWS SDKs' order), the first that
// applies wins:
//   environment (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY)  -> static
//   shared files (AWS_PROFILE in ~/.aws/credentials, config) -> static
//   container endpoint (AWS_CONTAINER_CREDENTIALS_*_URI)     -> cached, refreshed
//   IMDSv2 instance role (unless AWS_EC2_METADATA_DISABLED)  -> cached, refreshed
// A source left out of the list is never used, whatever the environment says.
// The choice depends only on the options and the environment; nothing is fetched here (call
// Chain::cache->refresh() for a warm-up). The description is for the startup
// log and never contains a secret.
//
// Depends on everything in credentials/ and on credentials/provider.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "credentials/caching_provider.h"
#include "credentials/container.h"
#include "credentials/environment.h"
#include "credentials/http_fetcher.h"
#include "credentials/imds.h"
#include "credentials/profile.h"

namespace kp::credentials {

enum class SourceKind { kEnvironment, kProfile, kContainer, kImds };

std::string_view source_kind_name(SourceKind k) noexcept;  // "environment", "profile", "container", "imds"

struct ChainOptions {
  EnvLookup env = process_env();
  /// The egress path for the container endpoint and IMDS. May be null only
  /// when environment credentials are used.
  std::shared_ptr<HttpFetcher> http;
  /// The sources to try, in order; each at most once. Leave out kEnvironment
  /// when the proxy's environment may carry the application's dummy keys.
  std::vector<SourceKind> sources{SourceKind::kEnvironment, SourceKind::kProfile, SourceKind::kContainer,
                                  SourceKind::kImds};
  /// How the shared credentials file is read (tests inject one).
  SecretFileReader read_file = read_secret_file();
  ContainerOptions container;
  /// imds.endpoint is replaced by AWS_EC2_METADATA_SERVICE_ENDPOINT when set
  /// (as in the AWS SDKs, the environment wins over configuration).
  ImdsOptions imds;
  CacheOptions cache;
};

struct Chain {
  std::shared_ptr<credentials::CredentialsProvider> provider;  // what the request path uses
  std::shared_ptr<CachingProvider> cache;  // same object as provider; null for environment
  std::shared_ptr<ImdsClient> imds;        // set when kind == kImds (reuse it for the region)
  SourceKind kind = SourceKind::kImds;
  std::string description;  // for the startup log; no secrets
  std::vector<std::string> warnings;  // for the startup log (e.g. keys already expired)
  /// Fixed credentials' expiry (AWS_CREDENTIAL_EXPIRATION); refreshed ones
  /// report theirs through CacheOptions::on_refresh.
  std::optional<SysTime> expiration;
  /// The host credentials are fetched from (container endpoint, IMDS); empty
  /// for static credentials. The daemon checks it against the egress policy.
  std::string endpoint_host;
};

/// Errors (Errc::kCredentialsUnavailable): half-set environment credentials,
/// malformed container URIs, a missing fetcher, or no listed source that
/// applies (the message says why each did not).
Result<Chain> make_default_chain(ChainOptions opts);

}  // namespace kp::credentials
