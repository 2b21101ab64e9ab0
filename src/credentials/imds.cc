#include "credentials/imds.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

#include "credentials/parse.h"

namespace kp::credentials {

namespace {

constexpr std::string_view kTokenPath = "/latest/api/token";
constexpr std::string_view kTokenHeader = "X-aws-ec2-metadata-token";
constexpr std::string_view kTokenTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
constexpr std::string_view kRolesPath = "/latest/meta-data/iam/security-credentials/";
constexpr std::string_view kRegionPath = "/latest/meta-data/placement/region";
constexpr std::size_t kMaxToken = 4096;
constexpr std::chrono::seconds kMaxTokenMargin{300};

// A token PUT that times out is what a hop limit of 1 looks like from a
// container or through a proxy: IMDS sends the PUT response with IP TTL 1 and
// the extra hop drops it (enclaver-reference.md section 4.4).
constexpr std::string_view kHopLimitHint =
    "; if the proxy runs in a container or behind an egress proxy, the instance's metadata hop "
    "limit (HttpPutResponseHopLimit) may need to be 2 or more";
// Nothing listening (refused, unreachable): not a hop limit, which drops only
// the answer. Most often the proxy is not on EC2 at all.
constexpr std::string_view kNoImdsHint =
    "; no instance metadata service here: outside EC2 give credentials through AWS_ACCESS_KEY_ID / "
    "AWS_SECRET_ACCESS_KEY or AWS_PROFILE";

// The hint for a token PUT that got no HTTP answer (an egress refusal
// explains itself).
std::string_view hint_for(const Error& e) noexcept {
  if (e.code == Errc::kEgressDenied) {
    return {};
  }
  return e.code == Errc::kUpstreamTimeout ? kHopLimitHint : kNoImdsHint;
}

std::string describe_error(const Error& e) {
  return "(" + std::string(errc_name(e.code)) + "): " + e.message;
}

bool is_role_name(std::string_view s) noexcept {
  // IAM role names: [\w+=,.@-]{1,64}.
  if (s.empty() || s.size() > 64) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' ||
                    c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_region_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 32) {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

/// When to stop reusing a token fetched at `now` with lifetime `ttl`.
SysTime token_refresh_time(SysTime now, std::chrono::seconds ttl) {
  auto margin = ttl / 10;
  if (margin > kMaxTokenMargin) {
    margin = kMaxTokenMargin;
  }
  return now + (ttl - margin);
}

}  // namespace

Result<std::optional<HttpEndpoint>> imds_endpoint_from_env(const EnvLookup& env) {
  auto v = env_value(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (!v) {
    // The SDKs' other switch: IMDS's IPv6 address instead of 169.254.169.254.
    const auto mode = env_value(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (!mode || iequals(trim(*mode), "IPv4")) {
      return std::optional<HttpEndpoint>{};
    }
    if (!iequals(trim(*mode), "IPv6")) {
      return fail(Errc::kCredentialsUnavailable,
                  "credentials: AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6");
    }
    HttpEndpoint ep;
    ep.host = std::string(kImdsIpv6Host);
    return std::optional<HttpEndpoint>(std::move(ep));
  }
  auto parsed = boost::urls::parse_uri(*v);
  if (!parsed ||
      (parsed->scheme_id() != boost::urls::scheme::http &&
       parsed->scheme_id() != boost::urls::scheme::https) ||
      parsed->host_address().empty()) {
    return fail(Errc::kCredentialsUnavailable,
                "credentials: AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http(s) URL");
  }
  HttpEndpoint ep;
  const bool https = parsed->scheme_id() == boost::urls::scheme::https;
  ep.scheme = https ? "https" : "http";
  ep.host = std::string(parsed->host_address());
  ep.port = parsed->has_port() ? parsed->port_number() : (https ? 443 : 80);
  if (ep.port == 0) {
    return fail(Errc::kCredentialsUnavailable,
                "credentials: AWS_EC2_METADATA_SERVICE_ENDPOINT has an invalid port");
  }
  return std::optional<HttpEndpoint>(std::move(ep));
}

bool imds_disabled_by_env(const EnvLookup& env) {
  auto v = env_value(env, "AWS_EC2_METADATA_DISABLED");
  return v && iequals(trim(*v), "true");
}

ImdsClient::ImdsClient(std::shared_ptr<HttpFetcher> http, ImdsOptions opts)
    : http_(std::move(http)),
      opts_(std::move(opts)),
      name_("IMDSv2 " + opts_.endpoint.to_string()) {
  if (opts_.clock == nullptr) {
    opts_.clock = &SystemClock::instance();
  }
  if (opts_.token_ttl < std::chrono::seconds(1)) {
    opts_.token_ttl = std::chrono::seconds(1);
  }
}

std::uint64_t ImdsClient::tokens_fetched() const {
  std::lock_guard lk(mu_);
  return tokens_fetched_;
}

boost::asio::awaitable<Result<std::string>> ImdsClient::token(bool force_new) {
  {
    std::lock_guard lk(mu_);
    if (!force_new && !token_.empty() && opts_.clock->now() < token_refresh_at_) {
      co_return std::string(token_.chars());
    }
  }
  // Step 1 of IMDSv2: PUT /latest/api/token with the requested TTL.
  HttpRequest req;
  req.method = "PUT";
  req.target = std::string(kTokenPath);
  req.headers.set(kTokenTtlHeader, std::to_string(opts_.token_ttl.count()));
  const SysTime asked_at = opts_.clock->now();
  auto resp = co_await fetch_with_deadline(*http_, opts_.endpoint, std::move(req), opts_.timeouts);
  if (!resp) {
    co_return Error{resp.error().code,
                    name_ + ": session token request (PUT " + std::string(kTokenPath) +
                        ") failed " + describe_error(resp.error()) + std::string(hint_for(resp.error()))};
  }
  SecretBytes body = SecretBytes::take(std::move(resp->body));
  if (resp->status != 200) {
    co_return Error{Errc::kCredentialsUnavailable,
                    name_ + ": session token request (PUT " + std::string(kTokenPath) +
                        ") answered HTTP " + std::to_string(resp->status) +
                        (resp->status == 403 ? " (IMDS may be disabled for this instance; IMDSv2 also refuses "
                                               "token requests that carry X-Forwarded-For, which some proxies add)"
                                             : "")};
  }
  const std::string_view tok = trim(body.chars());
  if (tok.size() > kMaxToken || !is_valid_header_value(tok)) {
    co_return Error{Errc::kUpstreamProtocol,
                    name_ + ": session token response is empty or malformed"};
  }
  // IMDS echoes the granted TTL; trust the shorter of the two.
  auto ttl = opts_.token_ttl;
  if (auto granted = resp->headers.get(kTokenTtlHeader)) {
    long long secs = 0;
    const auto* end = granted->data() + granted->size();
    if (std::from_chars(granted->data(), end, secs).ptr == end && secs > 0 && secs < ttl.count()) {
      ttl = std::chrono::seconds(secs);
    }
  }
  std::string out(tok);
  {
    std::lock_guard lk(mu_);
    token_ = SecretBytes::copy_of(tok);
    token_refresh_at_ = token_refresh_time(asked_at, ttl);
    ++tokens_fetched_;
  }
  co_return out;
}

boost::asio::awaitable<Result<HttpResponse>> ImdsClient::get(std::string_view path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto tok = co_await token(attempt > 0);
    if (!tok) {
      co_return tok.error();
    }
    HttpRequest req;
    req.method = "GET";
    req.target = std::string(path);
    req.headers.set(kTokenHeader, *tok);
    secure_wipe(tok->data(), tok->size());
    auto resp =
        co_await fetch_with_deadline(*http_, opts_.endpoint, std::move(req), opts_.timeouts);
    if (!resp) {
      co_return Error{resp.error().code, name_ + ": GET " + std::string(path) + " failed " +
                                             describe_error(resp.error())};
    }
    // 401: the token expired or IMDS restarted; fetch a new one and retry once.
    if (resp->status == 401 && attempt == 0) {
      continue;
    }
    co_return std::move(*resp);
  }
  co_return Error{Errc::kCredentialsUnavailable, name_ + ": GET " + std::string(path) +
                                                     " answered HTTP 401 twice, even with a "
                                                     "fresh session token"};
}

boost::asio::awaitable<Result<std::string>> ImdsClient::region() {
  auto resp = co_await get(kRegionPath);
  if (!resp) {
    co_return resp.error();
  }
  if (resp->status != 200) {
    co_return Error{Errc::kUpstreamProtocol, name_ + ": GET " + std::string(kRegionPath) +
                                                 " answered HTTP " + std::to_string(resp->status)};
  }
  const auto r = trim(resp->body);
  if (!is_region_name(r)) {
    co_return Error{Errc::kUpstreamProtocol,
                    name_ + ": region \"" + printable_excerpt(r) + "\" is not a valid region name"};
  }
  co_return std::string(r);
}

ImdsCredentialsSource::ImdsCredentialsSource(std::shared_ptr<ImdsClient> client)
    : client_(std::move(client)) {}

boost::asio::awaitable<Result<sigv4::Credentials>> ImdsCredentialsSource::fetch() {
  const auto& name = client_->name();
  const auto unavailable = [](std::string msg) {
    return Error{Errc::kCredentialsUnavailable, std::move(msg)};
  };
  // Step 2: which role is attached (the first line of the listing).
  auto roles = co_await client_->get(kRolesPath);
  if (!roles) {
    co_return unavailable(std::move(roles.error().message));
  }
  if (roles->status == 404) {
    co_return unavailable(name + ": no IAM role is attached to this instance (GET " +
                          std::string(kRolesPath) + " answered 404); attach an instance profile");
  }
  if (roles->status != 200) {
    co_return unavailable(name + ": GET " + std::string(kRolesPath) + " answered HTTP " +
                          std::to_string(roles->status));
  }
  std::string_view listing = roles->body;
  const auto nl = listing.find('\n');
  const std::string role(trim(nl == std::string_view::npos ? listing : listing.substr(0, nl)));
  if (!is_role_name(role)) {
    co_return unavailable(name + ": role listing \"" + printable_excerpt(role) +
                          "\" is not a valid IAM role name");
  }

  // Step 3: that role's temporary credentials.
  const std::string path = std::string(kRolesPath) + role;
  auto creds = co_await client_->get(path);
  if (!creds) {
    co_return unavailable(std::move(creds.error().message));
  }
  SecretBytes body = SecretBytes::take(std::move(creds->body));
  if (creds->status != 200) {
    co_return unavailable(name + ": GET " + path + " answered HTTP " +
                          std::to_string(creds->status));
  }
  if (body.size() > kMaxResponseBody) {
    co_return unavailable(name + ": credentials response body is too large");
  }
  CredentialsDocumentRules rules;
  rules.require_success_code = true;
  rules.require_token = true;
  rules.require_expiration = true;
  co_return parse_credentials_document(body.chars(), name + " role " + role, rules);
}

boost::asio::awaitable<Result<std::string>> fetch_region_from_imds(
    std::shared_ptr<HttpFetcher> http, ImdsOptions opts) {
  ImdsClient client(std::move(http), std::move(opts));
  co_return co_await client.region();
}

}  // namespace kp::credentials
