#include "net/http_client_util.h"

#include <charconv>

#include "base/error.h"

namespace kp::net {

kp::Result<Url> parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return kp::fail(Errc::kValidation, "url: " + std::string(why));
  };
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    return bad("missing scheme");
  }
  Url out;
  const auto scheme = url.substr(0, sep);
  if (kp::iequals(scheme, "https")) {
    out.endpoint.scheme = "https";
    out.endpoint.port = 443;
  } else if (kp::iequals(scheme, "http")) {
    out.endpoint.scheme = "http";
    out.endpoint.port = 80;
  } else {
    return bad("unsupported scheme (http or https)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    rest = rest.substr(0, hash);
  }
  const auto auth_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, auth_end);
  if (auth_end != std::string_view::npos) {
    const auto path = rest.substr(auth_end);
    out.target = path.front() == '?' ? "/" + std::string(path) : std::string(path);
  }
  if (authority.find('@') != std::string_view::npos) {
    return bad("credentials in URLs are not accepted");
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return bad("unterminated IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return bad("junk after IPv6 literal");
      }
      port = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    return bad("missing host");
  }
  if (!port.empty()) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) {
      return bad("invalid port");
    }
    out.endpoint.port = static_cast<std::uint16_t>(v);
  }
  out.endpoint.host = std::string(host);
  return out;
}

boost::asio::awaitable<kp::Result<kp::HttpResponse>> fetch(UpstreamClient& client, std::string method,
                                                           std::string url, kp::Headers headers,
                                                           std::string body) {
  auto parsed = parse_url(url);
  if (!parsed) {
    co_return parsed.error();
  }
  kp::HttpRequest req;
  req.method = std::move(method);
  req.target = std::move(parsed->target);
  req.headers = std::move(headers);
  req.body = std::move(body);
  co_return co_await client.send(std::move(parsed->endpoint), std::move(req));
}

}  // namespace kp::net
