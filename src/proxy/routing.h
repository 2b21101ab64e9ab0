// File: proxy/routing.h
// Which region a request is for. Pure logic (no I/O). The route for a
// region (endpoint and Host field) comes from proxy/route_table.h.
#pragma once

#include <optional>
#include <string>

#include "base/http_message.h"
#include "base/result.h"

namespace kp::proxy {

/// Region from the client's SigV4 credential scope (Authorization header);
/// falls back to `default_region`. A scope whose service is not `kms`, a
/// malformed Authorization header, an invalid region name, or neither a scope
/// nor a default region is an error (400).
Result<std::string> region_for_request(const std::optional<std::string>& default_region,
                                       const HttpRequest& req);

}  // namespace kp::proxy
