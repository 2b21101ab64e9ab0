// File: app/transports.h
//
// Transport wrappers the daemon stacks on the upstream path (KMS and the
// credential endpoints):
//
//   EgressTransport   refuses hosts the egress policy (enclaver.yaml
//                     egress.allow / egress.deny) does not admit, before any
//                     connection is made: 502 KMSProxyEgressException.
//   NoProxyTransport  no_proxy / NO_PROXY: the hosts it names go direct,
//                     everything else through the CONNECT proxy.
//
//   auto t = std::make_shared<EgressTransport>(policy, inner);
//   auto sock = co_await t->connect("kms.us-east-1.amazonaws.com", 443, deadline);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/egress.h"
#include "net/transport.h"

namespace kp::app {

/// Enforces the egress policy on every connection it opens. Loopback hosts
/// (the enclave's own, e.g. a local credentials agent or emulator) are not
/// egress and always pass, as the startup checks treat them.
class EgressTransport final : public net::Transport {
 public:
  EgressTransport(config::EgressPolicy policy, std::shared_ptr<net::Transport> inner);

  boost::asio::awaitable<Result<net::Socket>> connect(std::string host, std::uint16_t port,
                                                      net::Deadline deadline) override;
  std::string describe() const override { return inner_->describe(); }

 private:
  config::EgressPolicy policy_;
  std::shared_ptr<net::Transport> inner_;
};

/// no_proxy / NO_PROXY (docs/configuration.md section 4). With
/// `loopback_direct` (the credential endpoints' transport) loopback hosts
/// are direct too: a container credentials endpoint on localhost is an agent
/// on this machine, and on the far side of the egress proxy "localhost" is
/// another one. (KMS endpoints keep going through the proxy: the egress tests
/// tunnel to a local KMS.)
class NoProxyTransport final : public net::Transport {
 public:
  NoProxyTransport(std::shared_ptr<net::Transport> proxy, std::vector<std::string> no_proxy, bool loopback_direct);

  boost::asio::awaitable<Result<net::Socket>> connect(std::string host, std::uint16_t port,
                                                      net::Deadline deadline) override;
  std::string describe() const override;

 private:
  std::shared_ptr<net::Transport> proxy_;
  net::DirectTcpTransport direct_;
  std::vector<std::string> no_proxy_;
  bool loopback_direct_;
};

}  // namespace kp::app
