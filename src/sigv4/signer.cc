#include "sigv4/signer.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>

#include "base/instance_id.h"
#include "base/time_format.h"
#include "sigv4/digest.h"

namespace kp::sigv4 {

namespace {

// Region and service end up between '/' in the scope and inside a header.
bool valid_scope_component(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool same_secret(const kp::SecretBytes& a, const kp::SecretBytes& b) noexcept {
  return a.size() == b.size() && (a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

// X-Amz-Date changes once per second: format it once per second per thread
// (snprintf was ~2 % of a pass-through request's instructions).
std::string_view amz_date_of(kp::SysTime t) {
  thread_local std::int64_t cached_second = INT64_MIN;
  thread_local std::string cached;
  const std::int64_t second = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  if (second != cached_second) {
    cached = kp::format_amz_date(t);
    cached_second = second;
  }
  return cached;
}

}  // namespace

kp::SecretBytes signing_key(const kp::SecretBytes& secret_access_key, std::string_view date8,
                            std::string_view region, std::string_view service) {
  kp::SecretBytes k_secret(4 + secret_access_key.size());
  std::memcpy(k_secret.data(), "AWS4", 4);
  if (!secret_access_key.empty()) {
    std::memcpy(k_secret.data() + 4, secret_access_key.data(), secret_access_key.size());
  }
  detail::Digest k_date = detail::hmac_sha256(k_secret.view(), as_bytes(date8));
  detail::Digest k_region = detail::hmac_sha256(k_date, as_bytes(region));
  detail::Digest k_service = detail::hmac_sha256(k_region, as_bytes(service));
  detail::Digest k_signing = detail::hmac_sha256(k_service, as_bytes(kScopeTerminator));
  kp::SecretBytes out = kp::SecretBytes::copy_of(ByteView(k_signing));
  secure_wipe(k_date.data(), k_date.size());
  secure_wipe(k_region.data(), k_region.size());
  secure_wipe(k_service.data(), k_service.size());
  secure_wipe(k_signing.data(), k_signing.size());
  return out;
}

SigningKeyCache::SigningKeyCache(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)), id_(next_instance_id()) {
  entries_.reserve(capacity_);
}

const kp::SecretBytes& SigningKeyCache::key_for(std::string_view access_key_id,
                                                const kp::SecretBytes& secret_access_key, std::string_view date8,
                                                std::string_view region, std::string_view service) {
  struct Front {
    std::uint64_t cache_id = 0;
    std::uint64_t generation = 0;
    Entry entry;  // its secret is wiped when replaced and at thread exit
  };
  thread_local Front front;
  const std::uint64_t generation = generation_.load(std::memory_order_acquire);
  if (front.entry.key && front.cache_id == id_ && front.generation == generation &&
      front.entry.same_scope(access_key_id, date8, region, service) &&
      same_secret(front.entry.secret, secret_access_key)) {
    return *front.entry.key;
  }
  // Built aside and moved in (no-throw): an allocation that fails half-way
  // must not leave a key paired with another secret.
  front.entry.key.reset();
  Front fresh{id_, generation,
              Entry{std::string(access_key_id), std::string(date8), std::string(region), std::string(service),
                    kp::SecretBytes::copy_of(secret_access_key.view()), nullptr, 0}};
  fresh.entry.key = get(access_key_id, secret_access_key, date8, region, service);
  front = std::move(fresh);
  return *front.entry.key;
}

std::shared_ptr<const kp::SecretBytes> SigningKeyCache::get(std::string_view access_key_id,
                                                            const kp::SecretBytes& secret_access_key,
                                                            std::string_view date8,
                                                            std::string_view region,
                                                            std::string_view service) {
  auto matches = [&](const Entry& e) { return e.same_scope(access_key_id, date8, region, service); };
  {
    std::lock_guard lock(mu_);
    for (auto& e : entries_) {
      // The secret is compared in constant time; the scope fields are public.
      if (matches(e) && same_secret(e.secret, secret_access_key)) {
        e.last_used = ++tick_;
        return e.key;
      }
    }
  }
  // Derive outside the lock; a concurrent miss may derive the same key twice,
  // which is harmless.
  auto key = std::make_shared<const kp::SecretBytes>(signing_key(secret_access_key, date8, region, service));
  std::lock_guard lock(mu_);
  ++derivations_;
  auto it = std::find_if(entries_.begin(), entries_.end(), matches);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) {
      it = std::min_element(entries_.begin(), entries_.end(),
                            [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; });
    } else {
      it = entries_.emplace(entries_.end());
    }
    it->access_key_id.assign(access_key_id);
    it->date8.assign(date8);
    it->region.assign(region);
    it->service.assign(service);
  }
  it->secret = kp::SecretBytes::copy_of(secret_access_key.view());
  it->key = key;
  it->last_used = ++tick_;
  return key;
}

std::size_t SigningKeyCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::uint64_t SigningKeyCache::derivations() const {
  std::lock_guard lock(mu_);
  return derivations_;
}

void SigningKeyCache::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

SigningKeyCache& SigningKeyCache::process_default() {
  static SigningKeyCache cache(32);
  return cache;
}

std::string signature(const kp::SecretBytes& signing_key, std::string_view string_to_sign) {
  std::string out;
  out.reserve(2 * detail::kSha256Size);
  detail::append_hex(detail::hmac_sha256(signing_key.view(), as_bytes(string_to_sign)), out);
  return out;
}

namespace {

void authorization_header_into(std::string& out, std::string_view access_key_id, std::string_view scope,
                               std::string_view signed_headers, std::string_view signature) {
  static constexpr std::string_view kCredential = " Credential=";
  static constexpr std::string_view kSignedHeaders = ", SignedHeaders=";
  static constexpr std::string_view kSignature = ", Signature=";
  out.clear();
  out.reserve(kAlgorithm.size() + kCredential.size() + access_key_id.size() + 1 + scope.size() +
              kSignedHeaders.size() + signed_headers.size() + kSignature.size() + signature.size());
  out += kAlgorithm;
  out += kCredential;
  out += access_key_id;
  out.push_back('/');
  out += scope;
  out += kSignedHeaders;
  out += signed_headers;
  out += kSignature;
  out += signature;
}

// The signer's working strings, one set per thread: each request reuses
// their capacity instead of allocating about ten strings. Nothing secret is
// kept here (canonical request, string to sign, scope, Authorization value).
struct Scratch {
  CanonicalHeaders headers;
  std::string creq;
  std::string scope;
  std::string sts;
  std::string auth;
};

}  // namespace

std::string authorization_header(std::string_view access_key_id, std::string_view scope,
                                 std::string_view signed_headers, std::string_view signature) {
  std::string out;
  authorization_header_into(out, access_key_id, scope, signed_headers, signature);
  return out;
}

kp::Result<void> sign_request(kp::HttpRequest& req, const Credentials& creds,
                              const SignOptions& opts) {
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) {
    return kp::fail(Errc::kCredentialsUnavailable,
                    "sigv4: credentials have an empty access key id or secret access key");
  }
  if (!kp::is_safe_field_value(creds.access_key_id) || !kp::is_safe_field_value(creds.session_token.chars())) {
    return kp::fail(Errc::kCredentialsUnavailable,
                    "sigv4: access key id or session token contains CR, LF or NUL");
  }
  if (!valid_scope_component(opts.region) || !valid_scope_component(opts.service)) {
    return kp::fail(Errc::kInternal, "sigv4: signing region or service is empty or malformed");
  }
  if (opts.time == kp::SysTime{}) {
    return kp::fail(Errc::kInternal, "sigv4: SignOptions.time is not set");
  }
  if (!req.headers.contains("host")) {
    return kp::fail(Errc::kInternal, "sigv4: request has no Host header (set it before signing)");
  }

  thread_local Scratch scratch;
  const std::string_view amz_date = amz_date_of(opts.time);
  req.headers.erase("authorization");
  req.headers.set("X-Amz-Date", amz_date);
  if (!creds.session_token.empty()) {
    req.headers.set("X-Amz-Security-Token", creds.session_token.chars());
  } else {
    req.headers.erase("x-amz-security-token");
  }
  const detail::HexDigest body_hash(opts.payload_hash != nullptr ? *opts.payload_hash
                                                                  : detail::sha256(as_bytes(req.body)));
  if (opts.add_content_sha256 || req.headers.contains("x-amz-content-sha256")) {
    req.headers.set("x-amz-content-sha256", body_hash.view());
  }

  const auto [path, query] = split_target(req.target);
  canonical_headers_into(req.headers, opts.headers, scratch.headers);
  canonical_request_into(scratch.creq, req.method, canonical_uri(path), canonical_query_string(query),
                         scratch.headers, body_hash.view());
  const std::string_view date8 = amz_date.substr(0, 8);
  credential_scope_into(scratch.scope, date8, opts.region, opts.service);
  string_to_sign_into(scratch.sts, amz_date, scratch.scope, scratch.creq);

  SigningKeyCache& cache = opts.key_cache != nullptr ? *opts.key_cache : SigningKeyCache::process_default();
  const kp::SecretBytes& key =
      cache.key_for(creds.access_key_id, creds.secret_access_key, date8, opts.region, opts.service);
  const detail::HexDigest sig(detail::hmac_sha256(key.view(), as_bytes(scratch.sts)));
  authorization_header_into(scratch.auth, creds.access_key_id, scratch.scope, scratch.headers.signed_headers,
                            sig.view());
  req.headers.set("Authorization", scratch.auth);
  return {};
}

}  // namespace kp::sigv4
