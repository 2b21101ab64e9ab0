#include "credentials/environment.h"

#include <cstdlib>

#include "base/secret.h"
#include "credentials/parse.h"

namespace kp::credentials {

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string key(name);
    // std::getenv is safe here: nothing in the proxy calls setenv after start.
    const char* v = std::getenv(key.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

std::optional<std::string> env_value(const EnvLookup& env, std::string_view name) {
  if (!env) {
    return std::nullopt;
  }
  auto v = env(name);
  if (!v || v->empty()) {
    if (v) {
      secure_wipe(v->data(), v->size());
    }
    return std::nullopt;
  }
  return v;
}

Result<std::optional<sigv4::Credentials>> credentials_from_env(const EnvLookup& env) {
  auto key_id = env_value(env, "AWS_ACCESS_KEY_ID");
  auto secret = env_value(env, "AWS_SECRET_ACCESS_KEY");
  auto token = env_value(env, "AWS_SESSION_TOKEN");
  if (!token) {
    token = env_value(env, "AWS_SECURITY_TOKEN");  // the older name botocore still reads
  }
  // Take the secrets into SecretBytes first so every early return wipes them.
  SecretBytes secret_bytes = secret ? SecretBytes::take(std::move(*secret)) : SecretBytes{};
  SecretBytes token_bytes = token ? SecretBytes::take(std::move(*token)) : SecretBytes{};

  if (!key_id && secret_bytes.empty()) {
    return std::optional<sigv4::Credentials>{};
  }
  if (!key_id) {
    return fail(Errc::kCredentialsUnavailable,
                "credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }
  if (secret_bytes.empty()) {
    return fail(Errc::kCredentialsUnavailable,
                "credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  sigv4::Credentials creds;
  // AWS_CREDENTIAL_EXPIRATION (botocore, the AWS SDKs): when temporary keys
  // given in the environment stop working.
  if (auto expiration = env_value(env, "AWS_CREDENTIAL_EXPIRATION")) {
    const auto t = parse_expiration(*expiration);
    if (!t) {
      return fail(Errc::kCredentialsUnavailable,
                  "credentials: AWS_CREDENTIAL_EXPIRATION is not an RFC 3339 time such as 2026-01-31T12:00:00Z: '" +
                      printable_excerpt(*expiration) + "'");
    }
    creds.expiration = *t;
  }
  creds.access_key_id = std::move(*key_id);
  creds.secret_access_key = std::move(secret_bytes);
  creds.session_token = std::move(token_bytes);
  return std::optional<sigv4::Credentials>(std::move(creds));
}

}  // namespace kp::credentials
