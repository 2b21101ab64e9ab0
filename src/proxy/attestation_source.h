// File: proxy/attestation_source.h
//
// Coalesced ("single-flight") attestation documents for attested requests.
//
// The NSM serves one request at a time and each call takes milliseconds, so
// one NSM call per request would serialise all attested traffic. The rule
// implemented here (docs/architecture.md): every request is served with a
// document whose NSM call STARTED AFTER the request arrived, and concurrent
// requests share the next such document:
//   - at most one NSM call is in flight;
//   - a request arriving while a call is in flight waits for the next call
//     (the current one started before it arrived);
//   - every request waiting when a call starts is served by that call; a call
//     starts when the NSM worker begins it (which may be a while after it was
//     scheduled, when the worker waits for a CPU), not when it is queued.
// No document is older than with one call per request; under load N requests
// cost about N / (arrivals per call) NSM calls.
//
// Optional reuse: with max_age > 0 a document whose call started at most
// max_age ago is served immediately.
//
// The NSM call is blocking (ioctl): it runs on a dedicated worker thread,
// never on an I/O thread. Waiters resume on their own executor. A waiter gives
// up after `timeout` (the NSM driver's own timeout is 2 minutes) and leaves
// the queue: a hung call holds only the batch it started with.
//
// @par Thread safety
// get() may be called concurrently from coroutines on any executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"
#include "kms/rewrite.h"
#include "sigv4/payload_hash.h"

namespace kp::proxy {

/// One attestation document, shared by every request it serves.
struct Attestation {
  Bytes document;             // COSE_Sign1 bytes from the NSM
  // Built once on the NSM worker, used by every request the document serves:
  // the Recipient member spliced into each body, and the SHA-256 state after
  // "{" + that member, from which each body's SigV4 payload hash resumes.
  kms::RecipientMember recipient;
  sigv4::PrefixedSha256 body_prefix_hash;
  SysTime call_started{};     // when the NSM call began (wall clock)
  std::chrono::steady_clock::time_point started_steady{};
  std::uint64_t sequence = 0; // 1, 2, 3... per NSM call
};

/// Blocking producer of a document binding `public_key` (the NSM client).
using AttestFn = std::function<Result<Bytes>(ByteView public_key)>;

struct AttestationSourceOptions {
  std::chrono::milliseconds max_age{0};   // 0 = a fresh call for every arrival
  std::chrono::milliseconds timeout{10000};
  // Run the worker at the lowest scheduling priority (nice 19). For the
  // simulated NSM: its ES384 signing stands for work the Nitro hypervisor does
  // outside the enclave's vCPUs, so it only takes CPU the proxy leaves idle
  // instead of half the core. The real NSM worker just blocks in the ioctl.
  bool background_worker = false;
};

struct AttestationStats {
  std::uint64_t nsm_calls = 0;
  std::uint64_t nsm_failures = 0;
  std::uint64_t requests_served = 0;  // given a document (not those that timed out first)
  std::uint64_t cache_hits = 0;
  std::uint64_t waiting = 0;          // queued for the next call now
};

class AttestationSource {
 public:
  AttestationSource(AttestFn fn, Bytes public_key, AttestationSourceOptions opts,
                    const Clock& clock = SystemClock::instance());
  ~AttestationSource();
  AttestationSource(const AttestationSource&) = delete;
  AttestationSource& operator=(const AttestationSource&) = delete;

  /// A document whose NSM call started after this call was made.
  boost::asio::awaitable<Result<std::shared_ptr<const Attestation>>> get();

  AttestationStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kp::proxy
