// File: app/daemon.h
//
// Wiring of `kms-proxy serve`: turns a validated config::Config into running
// components (the only place that sees the whole Config):
//   RSA key pair -> NSM backend (real | simulated | none) -> coalesced
//   attestation source -> credentials -> upstream client over the configured
//   transport (direct | CONNECT proxy | vsock) -> request handler -> loopback
//   HTTP server (+ optional metrics listener).
// Startup problems are collected and returned together; nothing starts then.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace kp::credentials {
class CredentialsProvider;
}

namespace kp::app {

struct DaemonExtras {
  /// Tests/benchmarks: artificial latency of the simulated NSM per call.
  std::chrono::milliseconds sim_nsm_latency{0};
  /// Overrides the credentials chain (tests).
  std::shared_ptr<credentials::CredentialsProvider> credentials;
  /// Log the listeners' system-chosen ports (port 0 configured) also when
  /// info lines are off: the operator can learn them nowhere else. `check`
  /// turns it off (its proxy's port is its own business).
  bool announce_chosen_ports = true;
};

class Daemon {
 public:
  /// Builds every component. On failure, returns every problem found.
  static Result<std::unique_ptr<Daemon>> create(const config::Config& cfg, DaemonExtras extras = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Binds the listener(s) and starts the I/O threads. Returns the KMS port.
  Result<std::uint16_t> start();
  /// Graceful stop: stop accepting, finish in-flight requests within the
  /// grace period (`grace`, else the listener's configured one; 0 cuts what
  /// is still in flight), stop threads. Returns whether everything drained
  /// in time.
  bool stop(std::optional<std::chrono::milliseconds> grace = std::nullopt);

  std::uint16_t port() const noexcept;
  /// One line describing the mode (for the startup log and `run`).
  const std::string& description() const noexcept;

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kp::app
