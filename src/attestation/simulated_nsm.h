// File: attestation/simulated_nsm.h
//
// SimulatedNsm: an NsmDevice for development and tests outside an enclave.
// It decodes the same request bytes and answers with the same response bytes
// a real NSM does (shared codec, nsm.h), minting COSE_Sign1 ES384 attestation
// documents shaped exactly like real ones: untagged; protected a1 01 38 22;
// unprotected {}; payload keys in the real order module_id
// ("i-<17 hex>-enc<16 hex>"), digest "SHA384", timestamp (ms, injected
// Clock), pcrs 0..15 (48 bytes each, plus configured 16..31), certificate,
// cabundle [root, intermediate], public_key / user_data / nonce (bytes or
// null). Documents verify against the simulated root (sim_pki.h), never
// against the AWS root.
//
//   auto pki = std::make_shared<const SimPki>(std::move(*kp::attestation::load_sim_pki(dir)));
//   auto nsm = kp::attestation::SimulatedNsm::create({.pki = pki, .clock = &clock});
//   kp::attestation::NsmClient client(*nsm);
//
// Also answers DescribeNSM, DescribePCR and GetRandom; other operations get
// {"Error":"InvalidOperation"}.
// @par Thread safety: one call at a time (internal mutex), like the device.
// Depends on base/, cbor/ and OpenSSL; no Asio.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "attestation/nsm.h"
#include "attestation/sim_pki.h"
#include "base/clock.h"

namespace kp::attestation {

struct SimulatedNsmOptions {
  std::shared_ptr<const SimPki> pki{};  // required
  const Clock* clock = &SystemClock::instance();
  /// "i-<17 hex>-enc<16 hex>"; random when empty.
  std::string module_id{};
  /// index (0..31) -> 48-byte value. Unset PCRs 0..15 are zero (like a debug
  /// enclave); PCRs >= 16 appear in documents only when set here.
  std::map<unsigned, Bytes> pcrs{};
  /// Unless pcrs[4] is given: PCR4 = SHA-384(48 zero bytes || instance id),
  /// the formula real parent-instance PCRs follow.
  bool derive_pcr4 = true;
  /// Artificial per-call latency (benchmarks); held under the call mutex.
  std::chrono::milliseconds latency{0};
  /// When set, sign documents with short-lived leaves minted on demand (real
  /// NSM leaves live 3h and are reused) instead of the PKI's long-lived leaf.
  std::optional<std::chrono::seconds> ephemeral_leaf_lifetime{};
};

class SimulatedNsm final : public NsmDevice {
 public:
  /// Errors: Errc::kValidation (bad module_id / PCR / missing PKI),
  /// Errc::kInternal (unusable PKI keys).
  static Result<std::shared_ptr<SimulatedNsm>> create(SimulatedNsmOptions options);
  ~SimulatedNsm() override;
  SimulatedNsm(const SimulatedNsm&) = delete;
  SimulatedNsm& operator=(const SimulatedNsm&) = delete;

  Result<Bytes> transact(ByteView request) override;

  const std::string& module_id() const noexcept;
  /// Current value of PCR `index` (48 bytes).
  Bytes pcr(unsigned index) const;
  /// Number of transact() calls served.
  std::uint64_t calls() const noexcept;

 private:
  struct Impl;
  explicit SimulatedNsm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// A random "i-<17 hex>-enc<16 hex>" module id.
std::string random_module_id();

}  // namespace kp::attestation
