// File: net/server_tls.h
//
// A server certificate chain and private key loaded once at startup, for
// HttpServer's optional TLS listener (ServerOptions::tls). TLS 1.2 and 1.3
// only; TLS 1.2 limited to ECDHE + AEAD suites; no compression, no
// renegotiation; ALPN answers "http/1.1" when the client offers it.
//
//   auto tls = kp::net::ServerTls::load("server.crt", "server.key");
//   if (!tls) { report(tls.error().message); }          // every problem in one message
//   kp::net::ServerOptions o;  o.tls = *tls;            // then HttpServer as usual
//
// Depends on base/. OpenSSL and Asio.SSL stay behind the pimpl
// (net/detail/server_tls_impl.h, for net's .cc files only).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace kp::net {

/// Immutable once loaded; share one between servers and threads.
class ServerTls {
 public:
  /// `cert_chain_file`: PEM, the leaf first, then any intermediates.
  /// `key_file`: PEM private key (PKCS#8 or traditional), unencrypted.
  /// Errors (kValidation), all found problems in one message: a file that
  /// cannot be read, holds no PEM certificate / key, an encrypted key, or a
  /// key that does not match the leaf certificate. The key bytes read from
  /// disk are wiped after parsing.
  static kp::Result<std::shared_ptr<const ServerTls>> load(const std::string& cert_chain_file,
                                                           const std::string& key_file);

  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  /// Subject of the leaf certificate (one line, for logs).
  const std::string& subject() const noexcept;

  struct Impl;  // net/detail/server_tls_impl.h
  Impl& impl() const noexcept { return *impl_; }

 private:
  explicit ServerTls(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kp::net
