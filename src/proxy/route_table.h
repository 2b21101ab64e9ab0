// File: proxy/route_table.h
//
// Where each region's requests go, resolved once. Per request the handler
// needs the upstream endpoint and the Host field for the request's region.
// Resolving them costs a map lookup, for a region without an override the
// default host name "kms.<region>.amazonaws.com" (longer than std::string's
// inline buffer, so allocated), and copies of it into the Host field and the
// upstream client's endpoint. The table resolves the regions known at start-up
// (the default region and every configured override) once; any other region
// is resolved per request into the caller's scratch route.
//
// Immutable after construction: the I/O threads share it without locks.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "net/upstream_client.h"

namespace kp::proxy {

struct Route {
  net::Endpoint endpoint;
  std::string host_field;  // the Host field of requests sent to `endpoint`
};

/// The route for `region` as UpstreamOptions::endpoint_for() names it.
Route resolve_route(const config::UpstreamOptions& upstream, std::string_view region);

class RouteTable {
 public:
  explicit RouteTable(config::UpstreamOptions upstream);

  /// The route for `region`: a resolved one when the region was known at
  /// start-up, else `scratch`, filled in. The result lives as long as the
  /// table or `scratch`, whichever it is.
  const Route& find(std::string_view region, Route& scratch) const;

  /// How many regions were resolved ahead.
  std::size_t resolved() const noexcept { return routes_.size(); }

 private:
  config::UpstreamOptions upstream_;
  std::vector<std::pair<std::string, Route>> routes_;  // few: a linear search
};

}  // namespace kp::proxy
