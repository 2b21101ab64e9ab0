// File: credentials/profile.h
//
// The shared credentials file source (~/.aws/credentials), as the AWS SDKs
// read it, for static keys only:
//   file     AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials
//   profile  AWS_PROFILE, else "default"
//   keys     aws_access_key_id, aws_secret_access_key, aws_session_token
// Mostly for development outside an enclave (a simulated NSM against real
// KMS, with the developer's profile). Profiles that assume a role, use SSO or
// a credential_process, and the config file (~/.aws/config), are not read:
// such a profile does not apply, and says why.
//
// INI as botocore reads it: "[name]" sections (case-sensitive), "key = value"
// or "key: value" with case-insensitive keys, whole-line '#' / ';' comments,
// no inline comments; indented lines (nested settings) are skipped; a later
// value for the same key wins. The file is read into wiped memory; errors
// name the file, profile and key, never a value.
//
// Pure apart from reading the file (through an injectable reader).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret.h"
#include "credentials/environment.h"
#include "sigv4/credentials.h"

namespace kp::credentials {

/// Reads a whole file into wiped memory; nullopt when it does not exist or
/// cannot be read (the source then does not apply).
using SecretFileReader = std::function<std::optional<SecretBytes>(const std::string& path)>;
SecretFileReader read_secret_file();

struct ProfileCredentials {
  sigv4::Credentials credentials;
  std::string file;     // where they came from (for the startup log)
  std::string profile;  // which profile
};

/// The profile's static keys; nullopt with `*why_not` set when the source
/// does not apply (no file, no such profile, a profile without keys). One of
/// the two keys without the other, or a malformed value, is an error
/// (Errc::kCredentialsUnavailable), not a fall-through.
Result<std::optional<ProfileCredentials>> credentials_from_profile(const EnvLookup& env,
                                                                   const SecretFileReader& read,
                                                                   std::string* why_not);

/// The parsing step alone, for a file's text: nullopt (with `*why_not`) when
/// `profile` has no section or no keys in it.
Result<std::optional<sigv4::Credentials>> parse_shared_credentials(std::string_view text,
                                                                   std::string_view profile,
                                                                   std::string_view file_name,
                                                                   std::string* why_not);

}  // namespace kp::credentials
