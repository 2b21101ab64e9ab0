// File: net/http_client_util.h
//
// One-shot HTTP requests by URL through the same UpstreamClient (pool, TLS
// verification, transport, plain-http rules). Meant for small control-plane
// calls: IMDS, the container credentials endpoint, health checks.
//
//   auto r = co_await kp::net::fetch(client, "GET", "http://127.0.0.1:8080/creds",
//                                    {{"Authorization", token}});
//
// Depends on net/upstream_client.h only.
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "base/http_message.h"
#include "base/result.h"
#include "net/upstream_client.h"

namespace kp::net {

struct Url {
  Endpoint endpoint;
  std::string target = "/";  // origin form: path[?query]
};

/// Parses "http[s]://host[:port][/path][?query][#fragment]" (fragment
/// dropped, IPv6 in brackets). Userinfo ("user@host") is refused so that
/// credentials never travel in URLs. Errors: kValidation.
kp::Result<Url> parse_url(std::string_view url);

/// parse_url + client.send. `client` must outlive the call.
boost::asio::awaitable<kp::Result<kp::HttpResponse>> fetch(UpstreamClient& client, std::string method,
                                                           std::string url, kp::Headers headers = {},
                                                           std::string body = {});

}  // namespace kp::net
