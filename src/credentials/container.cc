#include "credentials/container.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "credentials/parse.h"

namespace kp::credentials {

namespace {

constexpr std::size_t kMaxTokenFile = 16 * 1024;

Error bad(std::string what) { return Error{Errc::kCredentialsUnavailable, std::move(what)}; }

/// The SDKs allow plain http only to loopback and to the ECS / EKS Pod
/// Identity link-local agents; everything else must be https.
bool plain_http_allowed(const boost::urls::url_view& u) {
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: {
      const auto a = u.host_ipv4_address();
      const auto s = a.to_string();
      return a.is_loopback() || s == "169.254.170.2" || s == "169.254.170.23";
    }
    case boost::urls::host_type::ipv6: {
      const auto a = u.host_ipv6_address();
      return a.is_loopback() || a.to_string() == "fd00:ec2::23";
    }
    case boost::urls::host_type::name:
      return iequals(u.host_address(), "localhost");
    default:
      return false;
  }
}

Result<ContainerSettings> from_full_uri(std::string_view uri) {
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI is not a valid URI");
  }
  const boost::urls::url_view u = *parsed;
  ContainerSettings s;
  const auto scheme = u.scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI must be http or https");
  }
  if (u.has_userinfo()) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI must not contain user info");
  }
  const auto host_type = u.host_type();
  if (host_type != boost::urls::host_type::ipv4 && host_type != boost::urls::host_type::ipv6 &&
      host_type != boost::urls::host_type::name) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI has no usable host");
  }
  if (u.host_address().empty()) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI has an empty host");
  }
  s.endpoint.scheme = scheme == boost::urls::scheme::https ? "https" : "http";
  s.endpoint.host = std::string(u.host_address());
  if (u.has_port()) {
    const auto p = u.port_number();
    if (p == 0) {
      return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI has an invalid port");
    }
    s.endpoint.port = p;
  } else {
    s.endpoint.port = scheme == boost::urls::scheme::https ? 443 : 80;
  }
  if (scheme == boost::urls::scheme::http && !plain_http_allowed(u)) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI uses plain http to host \"" +
               printable_excerpt(u.host_address()) +
               "\"; only loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23 may use "
               "http, anything else needs https");
  }
  s.target = std::string(u.encoded_target());
  if (s.target.empty()) {
    s.target = "/";
  }
  if (!is_visible_ascii(s.target)) {
    return bad("credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI has an invalid path");
  }
  return s;
}

Result<ContainerSettings> from_relative_uri(std::string_view uri, const ContainerOptions& opts) {
  if (uri.front() != '/' || !is_visible_ascii(uri) || uri.find('#') != std::string_view::npos) {
    return bad(
        "credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with '/'");
  }
  ContainerSettings s;
  s.endpoint = opts.relative_base;
  s.target = std::string(uri);
  return s;
}

}  // namespace

std::string ContainerSettings::describe() const {
  std::string out = "container endpoint " + endpoint.to_string();
  const auto q = target.find('?');
  out += q == std::string::npos ? target : target.substr(0, q);
  return out;
}

Result<std::optional<ContainerSettings>> container_settings_from_env(const EnvLookup& env,
                                                                     const ContainerOptions& opts) {
  Result<ContainerSettings> settings = bad("unset");
  if (auto rel = env_value(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    settings = from_relative_uri(*rel, opts);
  } else if (auto full = env_value(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    settings = from_full_uri(*full);
  } else {
    return std::optional<ContainerSettings>{};
  }
  if (!settings) {
    return settings.error();
  }
  settings->timeouts = opts.timeouts;
  if (auto file = env_value(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    settings->token_file = std::move(*file);
  } else if (auto token = env_value(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    if (!is_valid_header_value(*token)) {
      secure_wipe(token->data(), token->size());
      return bad("credentials: AWS_CONTAINER_AUTHORIZATION_TOKEN contains control characters");
    }
    settings->token = SecretBytes::take(std::move(*token));
  }
  return std::optional<ContainerSettings>(std::move(*settings));
}

ContainerCredentialsSource::ContainerCredentialsSource(std::shared_ptr<HttpFetcher> http,
                                                       ContainerSettings settings)
    : http_(std::move(http)), settings_(std::move(settings)), name_(settings_.describe()) {}

Result<std::string> ContainerCredentialsSource::authorization_value() const {
  if (settings_.token_file.empty()) {
    return std::string(settings_.token.chars());
  }
  // Re-read on every fetch: EKS Pod Identity rotates the file. The file is
  // tiny and a fetch happens about once an hour, so reading it inline on the
  // I/O thread is acceptable for a regular file; anything else (a FIFO
  // without a writer would block the thread, and with it every request on
  // it) is refused without waiting.
  const int fd = ::open(settings_.token_file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return bad(name_ + ": cannot open AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " +
               printable_excerpt(settings_.token_file, 256) + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return bad(name_ + ": AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + printable_excerpt(settings_.token_file, 256) +
               " is not a regular file");
  }
  std::string raw;
  raw.resize(kMaxTokenFile + 1);
  std::size_t got = 0;
  while (got < raw.size()) {
    const ssize_t n = ::read(fd, raw.data() + got, raw.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  raw.resize(got);
  SecretBytes guard = SecretBytes::take(std::move(raw));  // wipes the file bytes on return
  if (guard.size() > kMaxTokenFile) {
    return bad(name_ + ": AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is larger than 16 KiB");
  }
  const std::string_view token = trim(guard.chars());
  if (!is_valid_header_value(token)) {
    return bad(name_ +
               ": AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is empty or contains "
               "control characters");
  }
  return std::string(token);
}

boost::asio::awaitable<Result<sigv4::Credentials>> ContainerCredentialsSource::fetch() {
  HttpRequest req;
  req.method = "GET";
  req.target = settings_.target;
  req.headers.set("Accept", "application/json");
  {
    auto auth = authorization_value();
    if (!auth) {
      co_return auth.error();
    }
    if (!auth->empty()) {
      req.headers.set("Authorization", *auth);
      secure_wipe(auth->data(), auth->size());
    }
  }
  auto resp =
      co_await fetch_with_deadline(*http_, settings_.endpoint, std::move(req), settings_.timeouts);
  if (!resp) {
    co_return bad(name_ + ": request failed (" + std::string(errc_name(resp.error().code)) +
                  "): " + resp.error().message);
  }
  // The body holds the secrets: wipe it whatever happens next.
  SecretBytes body = SecretBytes::take(std::move(resp->body));
  if (resp->status != 200) {
    co_return bad(
        name_ + ": endpoint answered HTTP " + std::to_string(resp->status) +
        (resp->status == 401 || resp->status == 403 ? " (check the authorization token)" : ""));
  }
  if (body.size() > kMaxResponseBody) {
    co_return bad(name_ + ": response body is too large");
  }
  co_return parse_credentials_document(body.chars(), name_, CredentialsDocumentRules{});
}

}  // namespace kp::credentials
