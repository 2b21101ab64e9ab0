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
  std::optional<std::string_view> other_source;  // role_arn, sso_*, credential_process, ...
};

// Keys by which the SDKs get a profile's credentials some other way.
bool is_other_source(std::string_view key) {
  for (const std::string_view k : {"role_arn", "credential_source", "credential_process", "web_identity_token_file",
                                   "sso_session", "sso_start_url", "sso_account_id", "sso_role_name"}) {
    if (iequals(key, k)) {
      return true;
    }
  }
  return false;
}

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
    } else if (!f.other_source && is_other_source(key)) {
      f.other_source = key;
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

namespace {

// `section` of one file: static keys, nullopt with `*why_not` when the section
// is missing or has no keys, an error when they are half set or malformed or
// the section gets its credentials another way. `*found`: the section exists.
Result<std::optional<sigv4::Credentials>> parse_section(std::string_view text, std::string_view section,
                                                        std::string_view kind, std::string_view file_name,
                                                        std::string* why_not, bool* found) {
  const std::string file = printable_excerpt(file_name, 256);
  const std::string name = "[" + printable_excerpt(section) + "]";
  const std::string where = std::string(kind) + " " + file + " " + name;
  if (text.size() > kMaxFileBytes) {
    return bad(where + ": the file is larger than 1 MiB");
  }
  const Found f = scan(text, section);
  *found = f.section;
  if (!f.section) {
    *why_not = "no " + name + " in " + file;
    return std::optional<sigv4::Credentials>();
  }
  if (!f.key_id && !f.secret && f.other_source) {
    // The SDKs would assume that role (or ask SSO, or run the process):
    // falling through to another source would sign as someone else.
    return bad(where + ": " + printable_excerpt(*f.other_source) +
               " profiles are not supported (static keys only); give the proxy static keys, or leave "
               "`profile` out of credentials.sources");
  }
  if (!f.key_id && !f.secret) {
    *why_not = name + " in " + file + " has no aws_access_key_id";
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

// `$HOME/<rest>` unless `variable` names the file; empty when neither is set.
std::string file_path(const EnvLookup& env, const char* variable, std::string_view rest) {
  if (auto f = env_value(env, variable)) {
    return std::move(*f);
  }
  if (auto home = env_value(env, "HOME")) {
    return *home + std::string(rest);
  }
  return {};
}

}  // namespace

Result<std::optional<sigv4::Credentials>> parse_shared_credentials(std::string_view text,
                                                                   std::string_view profile,
                                                                   std::string_view file_name,
                                                                   std::string* why_not) {
  bool found = false;
  return parse_section(text, profile, "credentials file", file_name, why_not, &found);
}

Result<std::optional<ProfileCredentials>> credentials_from_profile(const EnvLookup& env,
                                                                   const SecretFileReader& read,
                                                                   std::string* why_not) {
  const auto named = env_value(env, "AWS_PROFILE");
  const bool explicit_profile = named && !named->empty();
  const std::string profile = explicit_profile ? *named : std::string("default");

  // The credentials file's [name], then the config file's [profile name]
  // ([default] for the default profile), as botocore looks them up.
  struct Place {
    const char* variable;
    std::string file;
    std::string section;
    std::string_view kind;
  };
  const Place places[] = {
      {"AWS_SHARED_CREDENTIALS_FILE", file_path(env, "AWS_SHARED_CREDENTIALS_FILE", "/.aws/credentials"), profile,
       "credentials file"},
      {"AWS_CONFIG_FILE", file_path(env, "AWS_CONFIG_FILE", "/.aws/config"),
       profile == "default" ? profile : "profile " + profile, "config file"},
  };
  std::string reasons;
  bool section_seen = false;  // in either file (with no keys: the SDKs go on too)
  for (const Place& p : places) {
    std::string why;
    if (p.file.empty()) {
      why = std::string("no ") + p.variable + " and no HOME";
    } else if (const auto text = read(p.file); !text) {
      why = "no " + std::string(p.kind) + " at " + printable_excerpt(p.file, 256);
    } else {
      bool found = false;
      auto creds = parse_section(text->chars(), p.section, p.kind, p.file, &why, &found);
      if (!creds) {
        return creds.error();
      }
      if (*creds) {
        return std::optional<ProfileCredentials>(ProfileCredentials{std::move(**creds), p.file, profile});
      }
      section_seen = section_seen || found;
    }
    reasons += (reasons.empty() ? "" : ", ") + why;
  }
  if (explicit_profile && !section_seen) {
    // The SDKs stop here (botocore: ProfileNotFound); falling through would
    // sign as someone else.
    return bad("credentials: AWS_PROFILE=" + printable_excerpt(profile) + " names no profile (" + reasons +
               "); unset AWS_PROFILE to use the other sources");
  }
  *why_not = "profile: " + reasons;
  return std::optional<ProfileCredentials>();
}

}  // namespace kp::credentials
