// File: sigv4/payload_hash.h
//
// SigV4's payload hash (SHA-256 of the exact body) for bodies that all begin
// with the same long prefix. The proxy's attested requests do: every request
// that one attestation document serves starts with '{' and the same Recipient
// member of ~4-6 KB, and only the app's few hundred bytes follow.
// PrefixedSha256 absorbs the prefix once (off the I/O threads: the NSM worker
// builds it with the document); hash(body) checks that the body really starts
// with the prefix and resumes from a copy of that state, so each request
// hashes only its own bytes. Pure: OpenSSL's SHA-256, no Asio (implemented in
// digest.cc, beside the other SHA-256 code).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kp::sigv4 {

/// A SHA-256 digest of a request body (SignOptions::payload_hash).
using PayloadHash = std::array<std::uint8_t, 32>;

class PrefixedSha256 {
 public:
  explicit PrefixedSha256(std::string_view prefix);
  ~PrefixedSha256();
  PrefixedSha256(PrefixedSha256&&) noexcept;
  PrefixedSha256& operator=(PrefixedSha256&&) noexcept;
  PrefixedSha256(const PrefixedSha256&) = delete;
  PrefixedSha256& operator=(const PrefixedSha256&) = delete;

  /// SHA-256 of `body` if it begins with the prefix (compared byte for byte,
  /// never assumed); std::nullopt otherwise, and the caller hashes it whole.
  std::optional<PayloadHash> hash(std::string_view body) const;

  std::size_t prefix_size() const noexcept { return prefix_.size(); }

 private:
  struct State;
  std::string prefix_;
  std::unique_ptr<State> state_;  // SHA-256 after the prefix
};

}  // namespace kp::sigv4
