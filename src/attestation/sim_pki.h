// File: attestation/sim_pki.h
//
// A development PKI for the simulated NSM: root -> intermediate -> leaf, all
// P-384 / ecdsa-with-SHA384 with the extensions real Nitro chains carry
// (root CA:TRUE without pathLen, KU keyCertSign+cRLSign+digitalSignature
// critical; intermediate CA:TRUE pathLen 0; leaf CA:FALSE critical, KU
// digitalSignature). Subjects are marked O=Simulated so nobody mistakes them
// for AWS's; documents signed with it verify only against the simulated root.
//
//   auto pki = kp::attestation::init_sim_pki("/var/lib/kp/sim-pki");  // once
//   auto pki = kp::attestation::load_sim_pki("/var/lib/kp/sim-pki");  // later
//
// Files: root.pem intermediate.pem leaf.pem (0644) and root.key
// intermediate.key leaf.key (PKCS#8 PEM, 0600).
// Depends on base/ and OpenSSL; no Asio.
#pragma once

#include <chrono>
#include <filesystem>
#include <string_view>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"
#include "base/secret.h"

namespace kp::attestation {

inline constexpr std::string_view kSimRootSubject = "CN=sim.nitro-enclaves,OU=AWS,O=Simulated,C=US";

struct SimPki {
  Bytes root_der;
  Bytes intermediate_der;
  Bytes leaf_der;
  SecretBytes intermediate_key_pem;  // signs short-lived leaves
  SecretBytes leaf_key_pem;          // signs documents
};

struct SimPkiOptions {
  /// Replace an existing PKI in the directory (init_sim_pki only).
  bool overwrite = false;
  /// Start of validity (certificates are back-dated one day from here).
  SysTime now = std::chrono::system_clock::now();
  /// Leaf lifetime; long by default because the simulator is for development.
  std::chrono::seconds leaf_lifetime = std::chrono::hours(24 * 365 * 10);
};

/// Generates a PKI in memory (tests; or to write with init_sim_pki).
/// Errors: Errc::kInternal (OpenSSL failure).
Result<SimPki> generate_sim_pki(const SimPkiOptions& options = {});

/// Generates a PKI and writes it to `dir` (created if missing, mode 0700).
/// Errors: Errc::kAlreadyExists if any PKI file exists and !overwrite;
/// Errc::kInternal on I/O or OpenSSL failure.
Result<SimPki> init_sim_pki(const std::filesystem::path& dir, const SimPkiOptions& options = {});

/// Loads and cross-checks a PKI written by init_sim_pki (each key matches its
/// certificate; leaf <- intermediate <- root signatures verify).
/// Errors: Errc::kNotFound (missing file), Errc::kValidation (inconsistent).
Result<SimPki> load_sim_pki(const std::filesystem::path& dir);

struct SimLeaf {
  Bytes cert_der;
  SecretBytes key_pem;
};
/// Mints a fresh leaf (new P-384 key) under the PKI's intermediate, valid
/// [not_before, not_after], CN=<common_name>. Errors: Errc::kInternal.
Result<SimLeaf> mint_sim_leaf(const SimPki& pki, std::string_view common_name, SysTime not_before,
                              SysTime not_after);

}  // namespace kp::attestation
