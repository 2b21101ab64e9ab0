// File: credentials/parse.h
//
// Pure parsing of the two credential document shapes the proxy fetches:
//   container endpoint:  {"AccessKeyId","SecretAccessKey","Token","Expiration", ...}
//   IMDS role document:  {"Code":"Success","AccessKeyId","SecretAccessKey","Token","Expiration",
//   ...}
// and small validators for values that end up in HTTP headers or URLs.
//
// The secrets are parsed into a JSON arena that lives in wiped memory and are
// copied straight into SecretBytes. Error messages name the source and the
// field, never a value that could be secret and never the body.
//
// No Asio here; Boost.JSON and base/ only.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "sigv4/credentials.h"

namespace kp::credentials {

struct CredentialsDocumentRules {
  /// IMDS: a "Code" other than "Success" is an error (its absence is not:
  /// botocore does not require it, and IMDS emulators leave it out).
  bool require_success_code = false;
  /// IMDS always sends a session token and an expiration; the container
  /// endpoint normally does too but long-term keys are tolerated there.
  bool require_token = false;
  bool require_expiration = false;
};

/// Parses a credentials JSON document. `source` prefixes every error message
/// ("IMDSv2 http://169.254.169.254:80"). Errors are Errc::kCredentialsUnavailable.
Result<sigv4::Credentials> parse_credentials_document(std::string_view body,
                                                      std::string_view source,
                                                      const CredentialsDocumentRules& rules);

/// An Expiration (or AWS_CREDENTIAL_EXPIRATION): RFC 3339 with a zone.
/// Outer nullopt: malformed; inner nullopt: a year after 2199 (no expiry).
std::optional<std::optional<SysTime>> parse_expiration(std::string_view s);

/// `s` with control characters replaced by '?' and cut to `max` characters:
/// for echoing small untrusted, non-secret values (a status "Code") in errors.
std::string printable_excerpt(std::string_view s, std::size_t max = 64);

/// True when every byte of `s` is visible ASCII (0x21..0x7e); true for "".
bool is_visible_ascii(std::string_view s) noexcept;

/// The shape every credentials source requires of its values: an access key
/// id of 1..128 visible ASCII characters; a secret access key or session
/// token of 1..16 KiB of them.
bool is_valid_access_key_id(std::string_view v) noexcept;
bool is_valid_secret_value(std::string_view v) noexcept;

/// Leading and trailing ASCII whitespace removed.
std::string_view trim(std::string_view s) noexcept;

/// True when `v` is safe as an HTTP header value: non-empty, visible ASCII
/// or space/tab, no CR/LF/NUL (rules out header injection from a token file).
bool is_valid_header_value(std::string_view v) noexcept;

/// Masks an access key id for logs: "AKIA...MPLE" (first 4, last 4).
std::string mask_access_key_id(std::string_view id);

}  // namespace kp::credentials
