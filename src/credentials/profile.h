// File: credentials/profile.h
//
// The shared credentials and config files as the AWS SDKs read them, for
// static keys only:
//   files    AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials: [name];
//            then AWS_CONFIG_FILE, else $HOME/.aws/config: [profile name]
//            ([default] for the default profile)
//   profile  AWS_PROFILE, else "default"
//   keys     aws_access_key_id, aws_secret_access_key, aws_session_token
// Mostly for development outside an enclave (a simulated NSM against real
// KMS, with the developer's profile). Where the SDKs would stop or sign as
// that profile, so does this source, so the proxy never signs as someone
// else: an AWS_PROFILE that names no profile in either file, and a profile
// that assumes a role, uses SSO, web identity or a credential_process, are
// errors. A missing file, or a profile without keys (only a region, say),
// does not apply, and says why.
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

/// Reads a whole file into wiped memory: nullopt when it does not exist (the
/// source then does not apply); an error with the reason when it exists but
/// cannot be read (no permission, a directory, over 1 MiB, a FIFO that sends
/// nothing), so the proxy does not go on to sign as someone else.
using SecretFileReader = std::function<Result<std::optional<SecretBytes>>(const std::string& path)>;
SecretFileReader read_secret_file();

struct ProfileCredentials {
  sigv4::Credentials credentials;
  std::string file;     // where they came from (for the startup log)
  std::string profile;  // which profile
};

/// The profile's static keys; nullopt with `*why_not` set when the source
/// does not apply (no file, no default profile, a profile without keys). An
/// AWS_PROFILE naming no profile, a role/SSO/process profile, one of the two
/// keys without the other, or a malformed value is an error
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
