#include "credentials/default_chain.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "base/time_format.h"
#include "credentials/parse.h"
#include "credentials/provider.h"

namespace kp::credentials {

std::string_view source_kind_name(SourceKind k) noexcept {
  switch (k) {
    case SourceKind::kEnvironment:
      return "environment";
    case SourceKind::kProfile:
      return "profile";
    case SourceKind::kContainer:
      return "container";
    case SourceKind::kImds:
      return "imds";
  }
  return "unknown";
}

namespace {

// One source's attempt: a chain when it applies, nullopt (with the reason in
// `skipped`) when it does not, an error when it is misconfigured.
using Attempt = Result<std::optional<Chain>>;

// A chain serving fixed credentials: "<what> (<key_field>=AKIA...MPLE, with|no
// session token)" in the startup log.
Chain static_chain(SourceKind kind, const std::string& what, std::string_view key_field, sigv4::Credentials c) {
  Chain chain;
  chain.kind = kind;
  chain.expiration = c.expiration;
  chain.description = what + " (" + std::string(key_field) + "=" + mask_access_key_id(c.access_key_id) +
                      (c.session_token.empty() ? ", no session token" : ", with session token") +
                      (c.expiration ? ", expires " + format_rfc3339(*c.expiration) : std::string()) + ")";
  // Fixed keys are never refreshed: once past their expiration KMS refuses
  // every request (ExpiredTokenException, passed on to the app).
  if (c.expiration && *c.expiration <= std::chrono::system_clock::now()) {
    chain.warnings.push_back("credentials: the keys from " + what + " expired at " + format_rfc3339(*c.expiration) +
                             "; KMS will refuse requests signed with them");
  }
  chain.provider = std::make_shared<credentials::StaticCredentialsProvider>(std::move(c));
  return chain;
}

Attempt try_environment(ChainOptions& opts, std::vector<std::string>& skipped) {
  auto env_creds = credentials_from_env(opts.env);
  if (!env_creds) {
    return env_creds.error();
  }
  if (!*env_creds) {
    skipped.emplace_back("environment: no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
    return std::optional<Chain>();
  }
  return std::optional<Chain>(
      static_chain(SourceKind::kEnvironment, "environment", "AWS_ACCESS_KEY_ID", std::move(**env_creds)));
}

Attempt try_profile(ChainOptions& opts, std::vector<std::string>& skipped) {
  std::string why_not;
  auto found = credentials_from_profile(opts.env, opts.read_file, &why_not);
  if (!found) {
    return found.error();
  }
  if (!*found) {
    skipped.push_back(std::move(why_not));
    return std::optional<Chain>();
  }
  ProfileCredentials& p = **found;
  return std::optional<Chain>(static_chain(
      SourceKind::kProfile, "profile [" + printable_excerpt(p.profile) + "] of " + printable_excerpt(p.file, 256),
      "aws_access_key_id", std::move(p.credentials)));
}

Attempt try_container(ChainOptions& opts, std::vector<std::string>& skipped) {
  auto container = container_settings_from_env(opts.env, opts.container);
  if (!container) {
    return container.error();
  }
  if (!*container) {
    skipped.emplace_back("container: no AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI");
    return std::optional<Chain>();
  }
  if (!opts.http) {
    return fail(Errc::kInternal, "credentials: no HTTP fetcher for the container/IMDS source");
  }
  ContainerSettings& s = **container;
  std::string auth =
      !s.token_file.empty()
          ? ", Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + printable_excerpt(s.token_file, 256)
          : (!s.token.empty() ? ", Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN" : "");
  Chain chain;
  chain.endpoint_host = s.endpoint.host;
  auto source = std::make_shared<ContainerCredentialsSource>(opts.http, std::move(s));
  chain.kind = SourceKind::kContainer;
  chain.description = source->name() + auth + ", refreshed " +
                      std::to_string(opts.cache.refresh_window.count()) + " s before expiry";
  chain.cache = std::make_shared<CachingProvider>(std::move(source), opts.cache);
  chain.provider = chain.cache;
  return std::optional<Chain>(std::move(chain));
}

Attempt try_imds(ChainOptions& opts, std::vector<std::string>& skipped) {
  if (imds_disabled_by_env(opts.env)) {
    skipped.emplace_back("imds: disabled by AWS_EC2_METADATA_DISABLED");
    return std::optional<Chain>();
  }
  if (!opts.http) {
    return fail(Errc::kInternal, "credentials: no HTTP fetcher for the container/IMDS source");
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
  Chain chain;
  chain.endpoint_host = opts.imds.endpoint.host;
  chain.imds = std::make_shared<ImdsClient>(opts.http, opts.imds);
  auto source = std::make_shared<ImdsCredentialsSource>(chain.imds);
  chain.kind = SourceKind::kImds;
  chain.description = source->name() + " (instance role), refreshed " +
                      std::to_string(opts.cache.refresh_window.count()) + " s before expiry";
  chain.cache = std::make_shared<CachingProvider>(std::move(source), opts.cache);
  chain.provider = chain.cache;
  return std::optional<Chain>(std::move(chain));
}

}  // namespace

Result<Chain> make_default_chain(ChainOptions opts) {
  std::vector<std::string> skipped;
  std::vector<SourceKind> tried;
  for (const SourceKind kind : opts.sources) {
    if (std::find(tried.begin(), tried.end(), kind) != tried.end()) {
      continue;
    }
    tried.push_back(kind);
    Attempt a = kind == SourceKind::kEnvironment ? try_environment(opts, skipped)
                : kind == SourceKind::kProfile   ? try_profile(opts, skipped)
                : kind == SourceKind::kContainer ? try_container(opts, skipped)
                                                 : try_imds(opts, skipped);
    if (!a) {
      return a.error();
    }
    if (*a) {
      return std::move(**a);
    }
  }
  std::string why;
  for (const auto& s : skipped) {
    why += (why.empty() ? "" : "; ") + s;
  }
  std::string listed;
  for (const SourceKind kind : tried) {
    listed += (listed.empty() ? "" : ", ") + std::string(source_kind_name(kind));
  }
  return fail(Errc::kCredentialsUnavailable,
              "credentials: no source applies (tried " + (listed.empty() ? std::string("none") : listed) +
                  (why.empty() ? std::string() : "; " + why) + ")");
}

}  // namespace kp::credentials
