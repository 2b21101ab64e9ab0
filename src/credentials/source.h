// File: credentials/source.h
//
// A credentials source fetches a fresh set of credentials each time it is
// asked (container endpoint, IMDSv2). It does not cache: CachingProvider
// (caching_provider.h) decides when to call it and coalesces callers.
//
// Depends on base/, sigv4/credentials.h and Asio (awaitable).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "base/result.h"
#include "sigv4/credentials.h"

namespace kp::credentials {

class CredentialsSource {
 public:
  virtual ~CredentialsSource() = default;
  /// Names the source for logs and error messages, without secrets
  /// ("IMDSv2 http://169.254.169.254:80").
  virtual const std::string& name() const = 0;
  /// One fetch. Errors are Errc::kCredentialsUnavailable with a message that
  /// starts with name(). Must not throw; bounded by the source's timeouts.
  virtual boost::asio::awaitable<Result<sigv4::Credentials>> fetch() = 0;
};

}  // namespace kp::credentials
