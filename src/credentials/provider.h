// File: credentials/provider.h
// The seam through which the request path gets the proxy's own AWS
// credentials. Implementations (environment, container endpoint, IMDSv2 and
// the chain of them) live in credentials/; tests inject fixed credentials.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "base/result.h"
#include "sigv4/credentials.h"

namespace kp::credentials {

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  /// Current credentials; cheap when cached (the hot path calls it per request).
  virtual boost::asio::awaitable<Result<std::shared_ptr<const sigv4::Credentials>>> get() = 0;
};

/// Always returns the same credentials (environment variables, tests).
class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(sigv4::Credentials creds)
      : creds_(std::make_shared<const sigv4::Credentials>(std::move(creds))) {}
  boost::asio::awaitable<Result<std::shared_ptr<const sigv4::Credentials>>> get() override {
    co_return creds_;
  }

 private:
  std::shared_ptr<const sigv4::Credentials> creds_;
};

}  // namespace kp::credentials
