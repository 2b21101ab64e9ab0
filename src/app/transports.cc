#include "app/transports.h"

#include "config/config.h"

namespace kp::app {

EgressTransport::EgressTransport(config::EgressPolicy policy, std::shared_ptr<net::Transport> inner)
    : policy_(std::move(policy)), inner_(std::move(inner)) {}

boost::asio::awaitable<Result<net::Socket>> EgressTransport::connect(std::string host, std::uint16_t port,
                                                                     net::Deadline deadline) {
  if (!net::is_loopback_host(host)) {
    if (const auto d = policy_.decide(host); !d.allowed) {
      co_return Error{Errc::kEgressDenied, "egress: the egress policy does not admit " + host.substr(0, 255) + ": " +
                                               config::refusal_reason(host, d)};
    }
  }
  co_return co_await inner_->connect(std::move(host), port, deadline);
}

NoProxyTransport::NoProxyTransport(std::shared_ptr<net::Transport> proxy, std::vector<std::string> no_proxy,
                                   bool loopback_direct)
    : proxy_(std::move(proxy)), no_proxy_(std::move(no_proxy)), loopback_direct_(loopback_direct) {}

boost::asio::awaitable<Result<net::Socket>> NoProxyTransport::connect(std::string host, std::uint16_t port,
                                                                      net::Deadline deadline) {
  if ((loopback_direct_ && net::is_loopback_host(host)) || config::no_proxy_matches(no_proxy_, host)) {
    co_return co_await direct_.connect(std::move(host), port, deadline);
  }
  co_return co_await proxy_->connect(std::move(host), port, deadline);
}

std::string NoProxyTransport::describe() const {
  std::string list;
  for (const auto& h : no_proxy_) {
    list += list.empty() ? h : "," + h;
  }
  return list.empty() ? proxy_->describe() : proxy_->describe() + " no_proxy=" + list;
}

}  // namespace kp::app
