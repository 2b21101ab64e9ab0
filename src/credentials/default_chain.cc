#include "credentials/default_chain.h"

#include "credentials/parse.h"
#include "credentials/provider.h"

namespace kp::credentials {

std::string_view source_kind_name(SourceKind k) noexcept {
  switch (k) {
    case SourceKind::kEnvironment:
      return "environment";
    case SourceKind::kContainer:
      return "container";
    case SourceKind::kImds:
      return "imds";
  }
  return "unknown";
}

Result<Chain> make_default_chain(ChainOptions opts) {
  Chain chain;

  // 1. Environment.
  if (opts.use_environment) {
    auto env_creds = credentials_from_env(opts.env);
    if (!env_creds) {
      return env_creds.error();
    }
    if (*env_creds) {
      sigv4::Credentials& c = **env_creds;
      chain.kind = SourceKind::kEnvironment;
      chain.description =
          "environment (AWS_ACCESS_KEY_ID=" + mask_access_key_id(c.access_key_id) +
          (c.session_token.empty() ? ", no session token)" : ", with session token)");
      chain.provider = std::make_shared<credentials::StaticCredentialsProvider>(std::move(c));
      return chain;
    }
  }

  // 2. Container endpoint.
  auto container = container_settings_from_env(opts.env, opts.container);
  if (!container) {
    return container.error();
  }
  if (*container || !imds_disabled_by_env(opts.env)) {
    if (!opts.http) {
      return fail(Errc::kInternal, "credentials: no HTTP fetcher for the container/IMDS source");
    }
  }
  if (*container) {
    ContainerSettings& s = **container;
    std::string auth =
        !s.token_file.empty()
            ? ", Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " +
                  printable_excerpt(s.token_file, 256)
            : (!s.token.empty() ? ", Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN" : "");
    auto source = std::make_shared<ContainerCredentialsSource>(opts.http, std::move(s));
    chain.kind = SourceKind::kContainer;
    chain.description = source->name() + auth + ", refreshed " +
                        std::to_string(opts.cache.refresh_window.count()) + " s before expiry";
    chain.cache = std::make_shared<CachingProvider>(std::move(source), std::move(opts.cache));
    chain.provider = chain.cache;
    return chain;
  }

  // 3. IMDSv2.
  if (imds_disabled_by_env(opts.env)) {
    return fail(Errc::kCredentialsUnavailable,
                "credentials: no source: no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" +
                    std::string(opts.use_environment ? "" : " (environment source disabled)") +
                    ", no AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI, and IMDS is disabled "
                    "by AWS_EC2_METADATA_DISABLED");
  }
  auto endpoint = imds_endpoint_from_env(opts.env);
  if (!endpoint) {
    return endpoint.error();
  }
  if (*endpoint) {
    opts.imds.endpoint = std::move(**endpoint);
  }
  if (opts.imds.clock == nullptr) {
    opts.imds.clock = opts.cache.clock;
  }
  chain.imds = std::make_shared<ImdsClient>(opts.http, std::move(opts.imds));
  auto source = std::make_shared<ImdsCredentialsSource>(chain.imds);
  chain.kind = SourceKind::kImds;
  chain.description = source->name() + " (instance role), refreshed " +
                      std::to_string(opts.cache.refresh_window.count()) + " s before expiry";
  chain.cache = std::make_shared<CachingProvider>(std::move(source), std::move(opts.cache));
  chain.provider = chain.cache;
  return chain;
}

}  // namespace kp::credentials
