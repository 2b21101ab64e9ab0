#include "credentials/upstream_fetcher.h"

#include "credentials/imds.h"

namespace kp::credentials {

const std::vector<std::string>& credential_plain_http_hosts() {
  static const std::vector<std::string> kHosts = {
      "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"};
  return kHosts;
}

net::UpstreamOptions credentials_upstream_options(
    std::shared_ptr<net::Transport> transport, const FetchTimeouts& timeouts,
    const std::vector<std::string>& extra_plain_http_hosts) {
  net::UpstreamOptions o;
  o.connect_timeout = timeouts.connect;
  o.tls_handshake_timeout = timeouts.connect;
  o.response_timeout = timeouts.total;
  o.max_response_body = kMaxResponseBody;
  o.max_idle_per_endpoint = 2;  // one refresh at a time; keep a spare
  o.plain_http_hosts = credential_plain_http_hosts();
  o.plain_http_hosts.insert(o.plain_http_hosts.end(), extra_plain_http_hosts.begin(),
                            extra_plain_http_hosts.end());
  o.transport = std::move(transport);
  return o;
}

std::vector<std::string> plain_http_hosts_from_env(const EnvLookup& env) {
  std::vector<std::string> out;
  auto ep = imds_endpoint_from_env(env);
  if (ep && *ep && (*ep)->scheme == "http") {
    out.push_back((*ep)->host);
  }
  return out;
}

UpstreamFetcher::UpstreamFetcher(std::shared_ptr<net::UpstreamClient> client)
    : client_(std::move(client)) {}

boost::asio::awaitable<Result<HttpResponse>> UpstreamFetcher::fetch(
    const HttpEndpoint& endpoint, HttpRequest req, const FetchTimeouts& /*timeouts*/) {
  net::Endpoint ep;
  ep.scheme = endpoint.scheme;
  ep.host = endpoint.host;
  ep.port = endpoint.port;
  co_return co_await client_->send(std::move(ep), std::move(req));
}

std::shared_ptr<UpstreamFetcher> make_upstream_fetcher(
    net::IoPool& pool, std::shared_ptr<net::Transport> transport, const FetchTimeouts& timeouts,
    const std::vector<std::string>& extra_plain_http_hosts) {
  return std::make_shared<UpstreamFetcher>(std::make_shared<net::UpstreamClient>(
      pool, credentials_upstream_options(std::move(transport), timeouts, extra_plain_http_hosts)));
}

}  // namespace kp::credentials
