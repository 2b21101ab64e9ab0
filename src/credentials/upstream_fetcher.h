// File: credentials/upstream_fetcher.h
//
// The production HttpFetcher: credential requests go through a
// net::UpstreamClient over the transport the caller configured, i.e. the same
// egress path as KMS traffic (direct TCP, an HTTP CONNECT proxy such as the
// enclave's egress proxy, or vsock). Inside an enclave this is the only way
// to reach IMDS or a container endpoint.
//
//   auto http = kp::credentials::make_upstream_fetcher(pool, egress_transport);
//   kp::credentials::ChainOptions opts;  opts.http = http;
//   auto chain = kp::credentials::make_default_chain(std::move(opts));
//
// Use a dedicated client (this file makes one): credential fetches need
// short timeouts and plain http to the link-local credential hosts, which
// the KMS client must not allow.
//
// Depends on credentials/http_fetcher.h and net/ (UpstreamClient, Transport).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "credentials/environment.h"
#include "credentials/http_fetcher.h"
#include "net/io_pool.h"
#include "net/transport.h"
#include "net/upstream_client.h"

namespace kp::credentials {

/// The link-local hosts the AWS credential endpoints use, which the SDKs
/// reach over plain http: IMDS (169.254.169.254, fd00:ec2::254), ECS
/// (169.254.170.2) and EKS Pod Identity (169.254.170.23, fd00:ec2::23).
const std::vector<std::string>& credential_plain_http_hosts();

/// UpstreamOptions for a credentials client: `transport` (null: direct TCP),
/// `timeouts.connect` for connect, `timeouts.total` for the response, a small
/// body limit, and plain http allowed to credential_plain_http_hosts() plus
/// `extra_plain_http_hosts` (e.g. the host of AWS_EC2_METADATA_SERVICE_ENDPOINT).
net::UpstreamOptions credentials_upstream_options(
    std::shared_ptr<net::Transport> transport, const FetchTimeouts& timeouts = {},
    const std::vector<std::string>& extra_plain_http_hosts = {});

/// The host of an http:// AWS_EC2_METADATA_SERVICE_ENDPOINT override (empty
/// otherwise), for `extra_plain_http_hosts`: without it the override is
/// refused by the client ("refusing plain http://").
std::vector<std::string> plain_http_hosts_from_env(const EnvLookup& env);

class UpstreamFetcher final : public HttpFetcher {
 public:
  explicit UpstreamFetcher(std::shared_ptr<net::UpstreamClient> client);

  /// The client's own deadlines apply; `timeouts` here is enforced by
  /// fetch_with_deadline() around this call.
  boost::asio::awaitable<Result<HttpResponse>> fetch(const HttpEndpoint& endpoint, HttpRequest req,
                                                     const FetchTimeouts& timeouts) override;

  const std::shared_ptr<net::UpstreamClient>& client() const noexcept { return client_; }

 private:
  std::shared_ptr<net::UpstreamClient> client_;
};

/// A fetcher with its own UpstreamClient on `pool`. The pool must outlive
/// it; destroy the chain holding it before the pool (and, as for any
/// UpstreamClient, not while a fetch is in flight: stop the pool first).
std::shared_ptr<UpstreamFetcher> make_upstream_fetcher(
    net::IoPool& pool, std::shared_ptr<net::Transport> transport,
    const FetchTimeouts& timeouts = {},
    const std::vector<std::string>& extra_plain_http_hosts = {});

}  // namespace kp::credentials
