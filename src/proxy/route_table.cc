#include "proxy/route_table.h"

#include <algorithm>

#include "net/transport.h"

namespace kp::proxy {

Route resolve_route(const config::UpstreamOptions& upstream, std::string_view region) {
  config::EndpointSpec spec = upstream.endpoint_for(region);
  Route r;
  r.host_field = net::host_field(spec.host, spec.port, spec.scheme == "https");
  r.endpoint = net::Endpoint{std::move(spec.scheme), std::move(spec.host), spec.port};
  return r;
}

RouteTable::RouteTable(config::UpstreamOptions upstream) : upstream_(std::move(upstream)) {
  const auto add = [&](const std::string& region) {
    // The handler looks up only valid region names; an invalid one (refused
    // by the configuration anyway) could never match.
    const bool known = std::any_of(routes_.begin(), routes_.end(), [&](const auto& e) { return e.first == region; });
    if (config::is_valid_region(region) && !known) {
      routes_.emplace_back(region, resolve_route(upstream_, region));
    }
  };
  if (upstream_.default_region) {
    add(*upstream_.default_region);
  }
  for (const auto& [region, spec] : upstream_.endpoints) {
    add(region);
  }
}

const Route& RouteTable::find(std::string_view region, Route& scratch) const {
  for (const auto& [name, route] : routes_) {
    if (name == region) {
      return route;
    }
  }
  scratch = resolve_route(upstream_, region);
  return scratch;
}

}  // namespace kp::proxy
