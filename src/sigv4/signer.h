// File: sigv4/signer.h
// AWS Signature Version 4 tasks 3-4 (signing key, signature, Authorization
// header) and sign_request(), which signs a kp::HttpRequest in place for an
// AWS JSON service such as KMS. Pure: base, sigv4 stages and OpenSSL; no Asio.
//
//   kp::sigv4::SignOptions opts{.region = "us-east-1", .time = clock.now()};
//   req.headers.set("Host", "kms.us-east-1.amazonaws.com");
//   if (auto r = kp::sigv4::sign_request(req, creds, opts); !r) return r.error();
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/http_message.h"
#include "base/result.h"
#include "base/secret.h"
#include "sigv4/canonical.h"
#include "sigv4/credentials.h"
#include "sigv4/payload_hash.h"

namespace kp::sigv4 {

/// Task 3: kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service), "aws4_request").
/// Costs four HMACs; sign_request() goes through SigningKeyCache instead.
kp::SecretBytes signing_key(const kp::SecretBytes& secret_access_key, std::string_view date8,
                            std::string_view region, std::string_view service);

/// Small thread-safe LRU cache of derived signing keys, keyed by (date,
/// region, service, access key id). Each entry keeps a (wiped-on-free) copy
/// of the secret it was derived from and compares it in constant time, so a
/// different secret under the same access key id (rotated or wrong
/// credentials) is re-derived, never served a stale key. A hit costs a short
/// lock and a few compares: no hashing.
class SigningKeyCache {
 public:
  explicit SigningKeyCache(std::size_t capacity = 16);

  /// The signing key for the scope, derived on a miss.
  std::shared_ptr<const kp::SecretBytes> get(std::string_view access_key_id,
                                             const kp::SecretBytes& secret_access_key,
                                             std::string_view date8, std::string_view region,
                                             std::string_view service);

  /// The same key through a one-entry cache of the calling thread, checked
  /// first (the secret again in constant time): a hit takes no lock and
  /// touches no memory another thread writes, so signing threads do not take
  /// cache lines from each other. The reference is valid until this thread's
  /// next key_for() (sign_request uses it at once).
  const kp::SecretBytes& key_for(std::string_view access_key_id, const kp::SecretBytes& secret_access_key,
                                 std::string_view date8, std::string_view region, std::string_view service);

  std::size_t size() const;
  /// How many keys this cache has derived (misses); for tests and metrics.
  std::uint64_t derivations() const;
  /// Forgets every key. Threads' one-entry caches stop serving theirs at once
  /// (a generation) and drop them at their next key_for().
  void clear();

  /// The process-wide cache used when SignOptions/verify get none.
  static SigningKeyCache& process_default();

 private:
  struct Entry {
    std::string access_key_id;
    std::string date8;
    std::string region;
    std::string service;
    kp::SecretBytes secret;
    std::shared_ptr<const kp::SecretBytes> key;
    std::uint64_t last_used = 0;

    /// Same scope and key id (public fields: plain compares).
    bool same_scope(std::string_view akid, std::string_view d8, std::string_view r, std::string_view s) const {
      return access_key_id == akid && date8 == d8 && region == r && service == s;
    }
  };

  const std::size_t capacity_;
  const std::uint64_t id_;                     // unique per cache (addresses are reused)
  std::atomic<std::uint64_t> generation_{0};  // bumped by clear(): threads' entries are stale
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  std::uint64_t tick_ = 0;
  std::uint64_t derivations_ = 0;
};

/// Task 4: lower-case hex HMAC-SHA256(signing_key, string_to_sign).
std::string signature(const kp::SecretBytes& signing_key, std::string_view string_to_sign);

/// "AWS4-HMAC-SHA256 Credential=<akid>/<scope>, SignedHeaders=<list>, Signature=<hex>".
std::string authorization_header(std::string_view access_key_id, std::string_view scope,
                                 std::string_view signed_headers, std::string_view signature);

struct SignOptions {
  std::string_view region;            // credential-scope region, e.g. "us-east-1"
  std::string_view service = "kms";   // signing name
  kp::SysTime time{};                 // signing time (must be set; read from a kp::Clock)
  bool add_content_sha256 = false;    // also send and sign x-amz-content-sha256
  HeaderPolicy headers = HeaderPolicy::kAwsDefault;
  SigningKeyCache* key_cache = nullptr;  // nullptr: SigningKeyCache::process_default()
  // SHA-256 of req.body when the caller already has it (PrefixedSha256);
  // nullptr: computed here. A wrong one yields a signature KMS rejects.
  const PayloadHash* payload_hash = nullptr;
};

/// Signs `req` in place. Requires a Host header (the caller sets it to the
/// upstream authority). Sets X-Amz-Date; sets X-Amz-Security-Token when the
/// credentials carry a session token (and signs it), otherwise removes any
/// X-Amz-Security-Token already present so a client's token never rides along
/// with our signature; sets x-amz-content-sha256 when asked or when the header
/// is already present (the value is always recomputed); replaces
/// Authorization. Payload hash = SHA-256 of the exact body bytes (or
/// *opts.payload_hash).
/// Errors: kCredentialsUnavailable (empty key id/secret, control characters
/// in the token), kInternal (no Host, unset time, bad region/service).
kp::Result<void> sign_request(kp::HttpRequest& req, const Credentials& creds,
                              const SignOptions& opts);

}  // namespace kp::sigv4
