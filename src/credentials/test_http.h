// File: credentials/test_http.h (tests only)
//
// Loopback test doubles for the credentials tests:
//   FakeHttpServer  a Beast HTTP/1.1 server on 127.0.0.1:0 whose answers come
//                   from a callback (or never come, to provoke timeouts), and
//                   which records every request it saw;
//   BeastFetcher    a plain-TCP HttpFetcher (stand-in for net::UpstreamClient
//                   until the egress path adapter is tested against it);
//   run_for()       drives one coroutine to completion with a hard deadline.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/http_message.h"
#include "credentials/environment.h"
#include "credentials/http_fetcher.h"

namespace kp::credentials::testing {

struct RecordedRequest {
  std::string method;
  std::string target;
  Headers headers;
  std::string body;
};

/// nullopt: do not answer (keep the connection open, as a dropped PUT
/// response with hop limit 1 looks to the client).
using Responder = std::function<std::optional<HttpResponse>(const RecordedRequest&)>;

HttpResponse text_response(unsigned status, std::string body);

/// A fake credential host: the container endpoint at `container_path`
/// (ASIACONT / s1 / t1) and IMDSv2 under /latest/ (token "tok", role
/// "role-a": ASIAIMDS / s2 / t2; region "ap-southeast-2"), both credentials
/// expiring 2024-05-01T12:00:00Z.
Responder fake_credential_endpoints(std::string container_path);

class FakeHttpServer {
 public:
  FakeHttpServer(boost::asio::io_context& ioc, Responder responder);
  ~FakeHttpServer();

  std::uint16_t port() const;
  HttpEndpoint endpoint() const;  // http://127.0.0.1:<port>
  std::vector<RecordedRequest> requests() const;
  std::size_t count(std::string_view method, std::string_view target) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// An HTTP CONNECT proxy on 127.0.0.1:0 (like the enclave's egress proxy)
/// that records each CONNECT target and tunnels it to 127.0.0.1:`upstream_port`
/// whatever host was asked for. With `answer == false` it never replies.
class FakeConnectProxy {
 public:
  FakeConnectProxy(boost::asio::io_context& ioc, std::uint16_t upstream_port, bool answer = true);
  ~FakeConnectProxy();

  std::uint16_t port() const;
  std::vector<std::string> targets() const;  // "169.254.169.254:80", ...

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

class BeastFetcher final : public HttpFetcher {
 public:
  boost::asio::awaitable<Result<HttpResponse>> fetch(const HttpEndpoint& endpoint, HttpRequest req,
                                                     const FetchTimeouts& timeouts) override;
  std::size_t calls() const { return calls_.load(); }

 private:
  std::atomic<std::size_t> calls_{0};
};

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
std::uint16_t unused_port();

/// An environment holding exactly `vars` (for the sources' EnvLookup).
EnvLookup fake_env(std::map<std::string, std::string> vars);

/// Runs `aw` on `ioc` until it finishes or `timeout` passes (then throws, so
/// the test fails instead of hanging).
template <class T>
T run_for(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw,
          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  struct Slot {
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };
  auto slot = std::make_shared<Slot>();
  boost::asio::co_spawn(ioc, std::move(aw), [slot](std::exception_ptr e, T v) {
    slot->done = true;
    slot->error = e;
    if (!e) {
      slot->value.emplace(std::move(v));
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!slot->done && std::chrono::steady_clock::now() < deadline) {
    ioc.run_one_until(deadline);
    if (ioc.stopped()) {
      ioc.restart();
    }
  }
  if (!slot->done) {
    throw std::runtime_error("test coroutine did not finish within the timeout");
  }
  if (slot->error) {
    std::rethrow_exception(slot->error);
  }
  return std::move(*slot->value);
}

}  // namespace kp::credentials::testing
