#include "credentials/profile.h"

#include <algorithm>
#include <vector>

#include "base/file_input.h"
#include "base/http_message.h"
#include "credentials/parse.h"

namespace kp::credentials {

namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;  // a credentials file is a few KiB

Error bad(std::string msg) { return Error{Errc::kCredentialsUnavailable, std::move(msg)}; }

// What one file says about a profile: its static keys and the first key by
// which the SDKs would get its credentials some other way. Views into the text.
struct Found {
  bool section = false;
  std::optional<std::string_view> key_id, secret, token;
  std::optional<std::string_view> role_source;  // role_arn, sso_*, web identity, login: before static keys
  std::optional<std::string_view> process;      // credential_process: after the credentials file's keys
  std::optional<std::string> repeated;          // "the section [x]" or "the key k": appears twice
};

// botocore's credential chain: env, assume-role, web identity, SSO, login,
// the credentials file's keys, credential_process, the config file's keys.
bool is_role_source(std::string_view key) {
  for (const std::string_view k : {"role_arn", "credential_source", "web_identity_token_file", "sso_session",
                                   "sso_start_url", "sso_account_id", "sso_role_name", "login_session"}) {
    if (iequals(key, k)) {
      return true;
    }
  }
  return false;
}

// The credentials file names a profile "[name]"; the config file
// "[profile name]" (any blanks between) or, for the default one, "[default]"
// too (botocore's config loader).
bool section_is(std::string_view section, std::string_view profile, bool config_file) {
  if (!config_file) {
    return section == profile;
  }
  if (profile == "default" && section == "default") {
    return true;
  }
  constexpr std::string_view kProfile = "profile";
  if (section.substr(0, kProfile.size()) != kProfile || section.size() == kProfile.size() ||
      (section[kProfile.size()] != ' ' && section[kProfile.size()] != '\t')) {
    return false;
  }
  return trim(section.substr(kProfile.size())) == profile;
}

Found scan(std::string_view text, std::string_view profile, bool config_file) {
  Found f;
  bool in_profile = false;
  std::vector<std::string_view> headers;  // the profile's section headers met so far
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
      const std::string_view header = close != std::string_view::npos ? trim(line.substr(1, close - 1)) : "";
      in_profile = close != std::string_view::npos && section_is(header, profile, config_file);
      if (in_profile) {
        // The SDKs' INI readers refuse a repeated section (botocore:
        // ConfigParseError); merging them would pair keys never issued together.
        if (std::find(headers.begin(), headers.end(), header) != headers.end() && !f.repeated) {
          f.repeated = "the section [" + printable_excerpt(header) + "]";
        }
        headers.push_back(header);
      }
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
    const auto set_once = [&](std::optional<std::string_view>& slot, std::string_view name) {
      if (slot && !f.repeated) {
        f.repeated = "the key " + std::string(name);
      }
      slot = value;
    };
    if (iequals(key, "aws_access_key_id")) {
      set_once(f.key_id, "aws_access_key_id");
    } else if (iequals(key, "aws_secret_access_key")) {
      set_once(f.secret, "aws_secret_access_key");
    } else if (iequals(key, "aws_session_token")) {
      set_once(f.token, "aws_session_token");
    } else if (!f.role_source && is_role_source(key)) {
      f.role_source = key;
    } else if (!f.process && iequals(key, "credential_process")) {
      f.process = key;
    }
  }
  return f;
}

// One file of the two, as read for a profile.
struct Place {
  bool config_file = false;  // ~/.aws/config, else ~/.aws/credentials
  std::string file;          // "" when neither its variable nor HOME is set
  std::optional<SecretBytes> text;  // nullopt: missing or unreadable
  Found found;
  // The environment variable that names the file.
  const char* variable() const { return config_file ? "AWS_CONFIG_FILE" : "AWS_SHARED_CREDENTIALS_FILE"; }
  std::string kind() const { return config_file ? "config file" : "credentials file"; }
  std::string label() const { return kind() + " " + printable_excerpt(file, 256); }
};

// The static keys of `f`, nullopt when it has none, an error when they are
// half set or malformed (`where` names file and section, never a value).
Result<std::optional<sigv4::Credentials>> static_keys(const Found& f, const std::string& where) {
  if (!f.key_id && !f.secret) {
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

// "[name]", or "[profile name]" as the config file spells it.
std::string section_name(const Place& p, std::string_view profile) {
  return p.config_file && profile != "default" ? "[profile " + printable_excerpt(profile) + "]"
                                               : "[" + printable_excerpt(profile) + "]";
}

Error not_supported(const Place& p, std::string_view profile, std::string_view key) {
  return bad(p.label() + " " + section_name(p, profile) + ": " + printable_excerpt(key) +
             " profiles are not supported (static keys only); give the proxy static keys, or leave `profile` out "
             "of credentials.sources");
}

}  // namespace

SecretFileReader read_secret_file() {
  return [](const std::string& path) -> Result<std::optional<SecretBytes>> {
    auto text = read_secret_input_file(path, kMaxFileBytes);
    if (!text && text.error().code == Errc::kNotFound) {
      return std::optional<SecretBytes>();
    }
    if (!text) {
      return fail(Errc::kCredentialsUnavailable, "credentials: cannot read " + printable_excerpt(path, 256) + ": " +
                                                     input_file_reason(text.error(), path));
    }
    return std::optional<SecretBytes>(std::move(*text));
  };
}

Result<std::optional<sigv4::Credentials>> parse_shared_credentials(std::string_view text,
                                                                   std::string_view profile,
                                                                   std::string_view file_name,
                                                                   std::string* why_not) {
  const std::string where = "credentials file " + printable_excerpt(file_name, 256) + " [" +
                            printable_excerpt(profile) + "]";
  if (text.size() > kMaxFileBytes) {
    return bad(where + ": the file is larger than 1 MiB");
  }
  const Found f = scan(text, profile, false);
  if (f.repeated) {
    return bad(where + ": " + *f.repeated + " appears twice (the AWS SDKs refuse such a file)");
  }
  if (!f.section) {
    *why_not = "profile: no [" + printable_excerpt(profile) + "] in " + printable_excerpt(file_name, 256);
    return std::optional<sigv4::Credentials>();
  }
  auto keys = static_keys(f, where);
  if (keys && !*keys) {
    *why_not = "profile: [" + printable_excerpt(profile) + "] in " + printable_excerpt(file_name, 256) +
               " has no aws_access_key_id";
  }
  return keys;
}

Result<std::optional<ProfileCredentials>> credentials_from_profile(const EnvLookup& env,
                                                                   const SecretFileReader& read,
                                                                   std::string* why_not) {
  // AWS_PROFILE as every SDK reads it; AWS_DEFAULT_PROFILE (the AWS CLI v1's)
  // when it is not set.
  auto named = env_value(env, "AWS_PROFILE");
  if (!named) {
    named = env_value(env, "AWS_DEFAULT_PROFILE");
  }
  const bool explicit_profile = named.has_value();
  const std::string profile = explicit_profile ? *named : std::string("default");

  Place places[] = {
      {false, file_path(env, "AWS_SHARED_CREDENTIALS_FILE", "/.aws/credentials"), std::nullopt, {}},
      {true, file_path(env, "AWS_CONFIG_FILE", "/.aws/config"), std::nullopt, {}},
  };
  std::string reasons;
  bool section_seen = false;  // in either file (with no keys at all: the SDKs go on too)
  for (Place& p : places) {
    std::string why;
    if (p.file.empty()) {
      why = std::string("no ") + p.variable() + " and no HOME";
    } else if (auto text = read(p.file); !text) {
      return text.error();
    } else if (p.text = std::move(*text); !p.text) {
      why = "no " + p.kind() + " at " + printable_excerpt(p.file, 256);
    } else if (p.text->size() > kMaxFileBytes) {
      return bad(p.label() + ": the file is larger than 1 MiB");
    } else {
      p.found = scan(p.text->chars(), profile, p.config_file);
      if (p.found.repeated) {
        return bad(p.label() + " " + section_name(p, profile) + ": " + *p.found.repeated +
                   " appears twice (the AWS SDKs refuse such a file)");
      }
      const std::string name = section_name(p, profile);
      why = p.found.section ? name + " in " + printable_excerpt(p.file, 256) + " has no aws_access_key_id"
                            : "no " + name + " in " + printable_excerpt(p.file, 256);
      section_seen = section_seen || p.found.section;
    }
    reasons += (reasons.empty() ? "" : ", ") + why;
  }
  // botocore's order: a role, web identity, SSO or login source in either
  // file wins over static keys; then the credentials file's keys; then
  // credential_process; then the config file's keys. The proxy does only
  // static keys, and refuses where the SDKs would sign as someone else.
  for (const Place& p : places) {
    if (p.found.role_source) {
      return not_supported(p, profile, *p.found.role_source);
    }
  }
  const auto use = [&](const Place& p) -> Result<std::optional<ProfileCredentials>> {
    auto keys = static_keys(p.found, p.label() + " " + section_name(p, profile));
    if (!keys) {
      return keys.error();
    }
    if (!*keys) {
      return std::optional<ProfileCredentials>();
    }
    return std::optional<ProfileCredentials>(ProfileCredentials{std::move(**keys), p.file, profile});
  };
  if (auto from_credentials = use(places[0]); !from_credentials || *from_credentials) {
    return from_credentials;
  }
  for (const Place& p : places) {
    if (p.found.process) {
      return not_supported(p, profile, *p.found.process);
    }
  }
  if (auto from_config = use(places[1]); !from_config || *from_config) {
    return from_config;
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
