// File: sigv4/credentials.h
// AWS credentials as the signer consumes them. The secret access key and the
// session token live in SecretBytes (wiped, never printed). Pure: standard
// library and base only.
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "base/secret.h"

namespace kp::sigv4 {

struct Credentials {
  std::string access_key_id;
  kp::SecretBytes secret_access_key;
  /// Empty for long-term keys; set for STS/instance-role credentials (then
  /// it is sent as X-Amz-Security-Token and signed).
  kp::SecretBytes session_token;
  /// When temporary credentials stop working; nullopt for long-term keys.
  std::optional<kp::SysTime> expiration;

  /// An explicit deep copy (Credentials is move-only because of the secrets).
  Credentials clone() const {
    return Credentials{access_key_id, secret_access_key.clone(), session_token.clone(), expiration};
  }
};

}  // namespace kp::sigv4
