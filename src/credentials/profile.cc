#include "credentials/profile.h"

#include <fstream>

#include "base/http_message.h"
#include "credentials/parse.h"

namespace kp::credentials {

namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;  // a credentials file is a few KiB

Error bad(std::string msg) { return Error{Errc::kCredentialsUnavailable, std::move(msg)}; }

// The values of the three keys in `profile`'s section(s), views into `text`.
struct Found {
  bool section = false;
  std::optional<std::string_view> key_id, secret, token;
  bool other_keys = false;  // role_arn, sso_*, credential_process, ...
};

Found scan(std::string_view text, std::string_view profile) {
  Found f;
  bool in_profile = false;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      continue;  // a nested setting (or continuation): not a credential key
    }
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      continue;
    }
    if (line.front() == '[') {
      const auto close = line.find(']');
      in_profile = close != std::string_view::npos && trim(line.substr(1, close - 1)) == profile;
      f.section = f.section || in_profile;
      continue;
    }
    if (!in_profile) {
      continue;
    }
    const auto sep = line.find_first_of("=:");
    if (sep == std::string_view::npos) {
      continue;
    }
    const std::string_view key = trim(line.substr(0, sep));
    const std::string_view value = trim(line.substr(sep + 1));
    if (iequals(key, "aws_access_key_id")) {
      f.key_id = value;
    } else if (iequals(key, "aws_secret_access_key")) {
      f.secret = value;
    } else if (iequals(key, "aws_session_token")) {
      f.token = value;
    } else {
      f.other_keys = true;
    }
  }
  return f;
}

}  // namespace

SecretFileReader read_secret_file() {
  return [](const std::string& path) -> std::optional<SecretBytes> {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return std::nullopt;
    }
    std::string raw;
    raw.resize(kMaxFileBytes + 1);
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    raw.resize(static_cast<std::size_t>(in.gcount()));
    return SecretBytes::take(std::move(raw));
  };
}

Result<std::optional<sigv4::Credentials>> parse_shared_credentials(std::string_view text,
                                                                   std::string_view profile,
                                                                   std::string_view file_name,
                                                                   std::string* why_not) {
  const std::string where = "credentials file " + printable_excerpt(file_name, 256) + " profile [" +
                            printable_excerpt(profile) + "]";
  if (text.size() > kMaxFileBytes) {
    return bad(where + ": the file is larger than 1 MiB");
  }
  const Found f = scan(text, profile);
  if (!f.section) {
    *why_not = "profile: no [" + printable_excerpt(profile) + "] in " + printable_excerpt(file_name, 256);
    return std::optional<sigv4::Credentials>();
  }
  if (!f.key_id && !f.secret) {
    *why_not = "profile: [" + printable_excerpt(profile) + "] in " + printable_excerpt(file_name, 256) +
               " has no aws_access_key_id" +
               (f.other_keys ? " (role, SSO and credential_process profiles are not supported)" : "");
    return std::optional<sigv4::Credentials>();
  }
  if (!f.key_id || f.key_id->empty()) {
    return bad(where + ": aws_secret_access_key without aws_access_key_id");
  }
  if (!f.secret || f.secret->empty()) {
    return bad(where + ": aws_access_key_id without aws_secret_access_key");
  }
  if (!is_valid_access_key_id(*f.key_id)) {
    return bad(where + ": aws_access_key_id is malformed");
  }
  if (!is_valid_secret_value(*f.secret)) {
    return bad(where + ": aws_secret_access_key is malformed");
  }
  sigv4::Credentials c;
  c.access_key_id = std::string(*f.key_id);
  c.secret_access_key = SecretBytes::copy_of(*f.secret);
  if (f.token && !f.token->empty()) {
    if (!is_valid_secret_value(*f.token)) {
      return bad(where + ": aws_session_token is malformed");
    }
    c.session_token = SecretBytes::copy_of(*f.token);
  }
  return std::optional<sigv4::Credentials>(std::move(c));
}

Result<std::optional<ProfileCredentials>> credentials_from_profile(const EnvLookup& env,
                                                                   const SecretFileReader& read,
                                                                   std::string* why_not) {
  std::string file;
  if (auto f = env_value(env, "AWS_SHARED_CREDENTIALS_FILE")) {
    file = std::move(*f);
  } else if (auto home = env_value(env, "HOME")) {
    file = *home + "/.aws/credentials";
  } else {
    *why_not = "profile: no AWS_SHARED_CREDENTIALS_FILE and no HOME";
    return std::optional<ProfileCredentials>();
  }
  const std::string profile = env_value(env, "AWS_PROFILE").value_or("default");
  const auto text = read(file);
  if (!text) {
    *why_not = "profile: no credentials file at " + printable_excerpt(file, 256);
    return std::optional<ProfileCredentials>();
  }
  auto creds = parse_shared_credentials(text->chars(), profile, file, why_not);
  if (!creds) {
    return creds.error();
  }
  if (!*creds) {
    return std::optional<ProfileCredentials>();
  }
  return std::optional<ProfileCredentials>(ProfileCredentials{std::move(**creds), file, profile});
}

}  // namespace kp::credentials
