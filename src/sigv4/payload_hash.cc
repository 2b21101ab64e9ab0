#include "sigv4/payload_hash.h"

// The low-level SHA-256 API, as in digest.cc: its state is a plain struct,
// so resuming from the prefix is a copy rather than an EVP context clone.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>

namespace kp::sigv4 {

namespace {

void check(int openssl_result, const char* what) {
  if (openssl_result != 1) {
    std::fprintf(stderr, "kp::sigv4: fatal OpenSSL failure: %s\n", what);
    std::abort();
  }
}

}  // namespace

struct PrefixedSha256::State {
  SHA256_CTX ctx{};
};

PrefixedSha256::PrefixedSha256(std::string_view prefix) : prefix_(prefix), state_(std::make_unique<State>()) {
  check(SHA256_Init(&state_->ctx), "SHA256_Init");
  check(SHA256_Update(&state_->ctx, prefix_.data(), prefix_.size()), "SHA256_Update");
}

PrefixedSha256::~PrefixedSha256() = default;
PrefixedSha256::PrefixedSha256(PrefixedSha256&&) noexcept = default;
PrefixedSha256& PrefixedSha256::operator=(PrefixedSha256&&) noexcept = default;

std::optional<PayloadHash> PrefixedSha256::hash(std::string_view body) const {
  if (!state_ || !body.starts_with(prefix_)) {
    return std::nullopt;
  }
  SHA256_CTX c = state_->ctx;
  const std::string_view rest = body.substr(prefix_.size());
  check(SHA256_Update(&c, rest.data(), rest.size()), "SHA256_Update");
  PayloadHash out{};
  check(SHA256_Final(out.data(), &c), "SHA256_Final");
  return out;
}

}  // namespace kp::sigv4
