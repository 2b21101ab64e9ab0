// File: credentials/container.h
//
// Source 2 of the chain: the container credentials endpoint (ECS task roles,
// EKS Pod Identity, or anything on the parent instance that serves the same
// JSON, which is how a parent can hand credentials into an enclave).
//
//   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI  -> http://169.254.170.2<uri>  (wins if both set)
//   AWS_CONTAINER_CREDENTIALS_FULL_URI      -> as given; plain http only to loopback or the
//                                              ECS/EKS link-local hosts, as the SDKs require
//   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE  -> file content sent as Authorization (re-read on
//                                              every fetch: EKS rotates it; wins over ...)
//   AWS_CONTAINER_AUTHORIZATION_TOKEN       -> sent as Authorization
//
// Response: {"AccessKeyId","SecretAccessKey","Token","Expiration"}.
// The HTTP goes through the caller's HttpFetcher (the enclave's egress path).
//
// Depends on base/, sigv4/credentials.h, credentials/http_fetcher.h and Asio.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/secret.h"
#include "credentials/environment.h"
#include "credentials/http_fetcher.h"
#include "credentials/source.h"

namespace kp::credentials {

struct ContainerOptions {
  /// Base for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (tests point it at 127.0.0.1).
  HttpEndpoint relative_base{"http", "169.254.170.2", 80};
  FetchTimeouts timeouts;
};

/// Where and how to ask, resolved from the environment once at startup.
struct ContainerSettings {
  HttpEndpoint endpoint;
  std::string target;      // origin-form path[?query]
  std::string token_file;  // empty: none
  SecretBytes token;       // from AWS_CONTAINER_AUTHORIZATION_TOKEN (when no file)
  FetchTimeouts timeouts;

  /// "container endpoint http://169.254.170.2:80/v2/credentials/..." (no query,
  /// no token) for logs and error messages.
  std::string describe() const;
};

/// nullopt when neither URI variable is set; an error when a URI is malformed
/// or names a plain-http host the SDKs would refuse.
Result<std::optional<ContainerSettings>> container_settings_from_env(const EnvLookup& env,
                                                                     const ContainerOptions& opts);

class ContainerCredentialsSource final : public CredentialsSource {
 public:
  ContainerCredentialsSource(std::shared_ptr<HttpFetcher> http, ContainerSettings settings);

  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<sigv4::Credentials>> fetch() override;

 private:
  Result<std::string> authorization_value() const;

  std::shared_ptr<HttpFetcher> http_;
  ContainerSettings settings_;
  std::string name_;
};

}  // namespace kp::credentials
