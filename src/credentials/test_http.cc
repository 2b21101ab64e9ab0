#include "credentials/test_http.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <mutex>

namespace kp::credentials::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

HttpResponse text_response(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "text/plain");
  r.body = std::move(body);
  return r;
}

Responder fake_credential_endpoints(std::string container_path) {
  return [container_path = std::move(container_path)](const RecordedRequest& r) -> std::optional<HttpResponse> {
    if (r.target == container_path) {
      return text_response(200, R"({"AccessKeyId":"ASIACONT","SecretAccessKey":"s1","Token":"t1",)"
                                R"("Expiration":"2024-05-01T12:00:00Z"})");
    }
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      return text_response(200, "tok");
    }
    if (r.headers.get("X-aws-ec2-metadata-token") != std::optional<std::string_view>("tok")) {
      return text_response(401, "");
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/") {
      return text_response(200, "role-a");
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/role-a") {
      return text_response(200,
                           R"({"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"s2",)"
                           R"("Token":"t2","Expiration":"2024-05-01T12:00:00Z"})");
    }
    if (r.target == "/latest/meta-data/placement/region") {
      return text_response(200, "ap-southeast-2");
    }
    return text_response(404, "");
  };
}

struct FakeHttpServer::Impl {
  explicit Impl(asio::io_context& ioc) : acceptor(ioc) {}
  tcp::acceptor acceptor;
  Responder responder;
  mutable std::mutex mu;
  std::vector<RecordedRequest> seen;
};

namespace {

asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<FakeHttpServer::Impl> impl) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
    if (ec) {
      co_return;
    }
    RecordedRequest rec;
    rec.method = std::string(req.method_string());
    rec.target = std::string(req.target());
    for (const auto& f : req) {
      rec.headers.add(f.name_string(), f.value());
    }
    rec.body = req.body();
    {
      std::lock_guard lk(impl->mu);
      impl->seen.push_back(rec);
    }
    auto answer = impl->responder(rec);
    if (!answer) {
      // Never answer: wait until the client gives up and closes.
      http::request<http::string_body> ignored;
      co_await http::async_read(stream, buffer, ignored, kTuple);
      co_return;
    }
    http::response<http::string_body> out{static_cast<http::status>(answer->status), 11};
    for (const auto& [name, value] : answer->headers.fields()) {
      out.set(name, value);
    }
    out.body() = answer->body;
    out.keep_alive(req.keep_alive());
    out.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, out, kTuple);
    if (wec || !req.keep_alive()) {
      co_return;
    }
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<FakeHttpServer::Impl> impl) {
  for (;;) {
    auto [ec, socket] = co_await impl->acceptor.async_accept(kTuple);
    if (ec) {
      co_return;
    }
    asio::co_spawn(impl->acceptor.get_executor(), serve(std::move(socket), impl), asio::detached);
  }
}

Error net_error(const boost::system::error_code& ec, Errc code, std::string_view what) {
  if (ec == beast::error::timeout) {
    return Error{Errc::kUpstreamTimeout, std::string(what) + ": timed out"};
  }
  return Error{code, std::string(what) + ": " + ec.message()};
}

}  // namespace

FakeHttpServer::FakeHttpServer(asio::io_context& ioc, Responder responder)
    : impl_(std::make_shared<Impl>(ioc)) {
  impl_->responder = std::move(responder);
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  asio::co_spawn(ioc, accept_loop(impl_), asio::detached);
}

FakeHttpServer::~FakeHttpServer() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::uint16_t FakeHttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

HttpEndpoint FakeHttpServer::endpoint() const { return HttpEndpoint{"http", "127.0.0.1", port()}; }

std::vector<RecordedRequest> FakeHttpServer::requests() const {
  std::lock_guard lk(impl_->mu);
  return impl_->seen;
}

std::size_t FakeHttpServer::count(std::string_view method, std::string_view target) const {
  std::lock_guard lk(impl_->mu);
  std::size_t n = 0;
  for (const auto& r : impl_->seen) {
    if (r.method == method && r.target == target) {
      ++n;
    }
  }
  return n;
}

struct FakeConnectProxy::Impl {
  explicit Impl(asio::io_context& ioc) : acceptor(ioc) {}
  tcp::acceptor acceptor;
  std::uint16_t upstream_port = 0;
  bool answer = true;
  mutable std::mutex mu;
  std::vector<std::string> targets;
};

namespace {

asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::array<char, 4096> buf{};
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), kTuple);
    if (ec) {
      break;
    }
    auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), kTuple);
    if (wec) {
      break;
    }
  }
  boost::system::error_code ignored;
  to->shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> tunnel(std::shared_ptr<tcp::socket> client,
                             std::shared_ptr<FakeConnectProxy::Impl> impl) {
  asio::streambuf head;
  auto [ec, n] = co_await asio::async_read_until(*client, head, "\r\n\r\n", kTuple);
  if (ec) {
    co_return;
  }
  std::string text(asio::buffers_begin(head.data()), asio::buffers_begin(head.data()) + n);
  head.consume(n);
  // "CONNECT host:port HTTP/1.1"
  const auto sp1 = text.find(' ');
  const auto sp2 = text.find(' ', sp1 + 1);
  if (text.rfind("CONNECT ", 0) != 0 || sp2 == std::string::npos) {
    co_await asio::async_write(*client, asio::buffer(std::string_view("HTTP/1.1 400 Bad\r\n\r\n")),
                               kTuple);
    co_return;
  }
  {
    std::lock_guard lk(impl->mu);
    impl->targets.push_back(text.substr(sp1 + 1, sp2 - sp1 - 1));
  }
  if (!impl->answer) {
    std::array<char, 64> sink{};
    co_await client->async_read_some(asio::buffer(sink), kTuple);  // until the client gives up
    co_return;
  }
  auto upstream = std::make_shared<tcp::socket>(client->get_executor());
  auto [cec] = co_await upstream->async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), impl->upstream_port), kTuple);
  if (cec) {
    co_await asio::async_write(
        *client, asio::buffer(std::string_view("HTTP/1.1 503 Unavailable\r\n\r\n")), kTuple);
    co_return;
  }
  co_await asio::async_write(
      *client, asio::buffer(std::string_view("HTTP/1.1 200 Connection established\r\n\r\n")),
      kTuple);
  if (head.size() > 0) {
    co_await asio::async_write(*upstream, head.data(), kTuple);
  }
  asio::co_spawn(client->get_executor(), pipe(upstream, client), asio::detached);
  co_await pipe(client, upstream);
}

asio::awaitable<void> proxy_accept_loop(std::shared_ptr<FakeConnectProxy::Impl> impl) {
  for (;;) {
    auto [ec, socket] = co_await impl->acceptor.async_accept(kTuple);
    if (ec) {
      co_return;
    }
    asio::co_spawn(impl->acceptor.get_executor(),
                   tunnel(std::make_shared<tcp::socket>(std::move(socket)), impl), asio::detached);
  }
}

}  // namespace

FakeConnectProxy::FakeConnectProxy(asio::io_context& ioc, std::uint16_t upstream_port, bool answer)
    : impl_(std::make_shared<Impl>(ioc)) {
  impl_->upstream_port = upstream_port;
  impl_->answer = answer;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  asio::co_spawn(ioc, proxy_accept_loop(impl_), asio::detached);
}

FakeConnectProxy::~FakeConnectProxy() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::uint16_t FakeConnectProxy::port() const { return impl_->acceptor.local_endpoint().port(); }

std::vector<std::string> FakeConnectProxy::targets() const {
  std::lock_guard lk(impl_->mu);
  return impl_->targets;
}

asio::awaitable<Result<HttpResponse>> BeastFetcher::fetch(const HttpEndpoint& endpoint,
                                                          HttpRequest req,
                                                          const FetchTimeouts& timeouts) {
  ++calls_;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    co_return Error{Errc::kUpstreamUnreachable, "test fetcher takes IP literals only"};
  }
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeouts.connect);
  auto [cec] = co_await stream.async_connect(tcp::endpoint(addr, endpoint.port), kTuple);
  if (cec) {
    co_return net_error(cec, Errc::kUpstreamUnreachable, "connect to " + endpoint.to_string());
  }
  http::request<http::string_body> out;
  out.method_string(req.method);
  out.target(req.target);
  out.version(11);
  for (const auto& [name, value] : req.headers.fields()) {
    out.set(name, value);
  }
  if (!req.headers.contains("Host")) {
    out.set(http::field::host, endpoint.host + ":" + std::to_string(endpoint.port));
  }
  out.body() = req.body;
  out.keep_alive(false);
  out.prepare_payload();
  stream.expires_after(timeouts.total);
  auto [wec, wn] = co_await http::async_write(stream, out, kTuple);
  if (wec) {
    co_return net_error(wec, Errc::kUpstreamUnreachable, "write");
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
  if (rec) {
    co_return net_error(rec, Errc::kUpstreamProtocol, "read");
  }
  auto msg = parser.release();
  HttpResponse resp;
  resp.status = msg.result_int();
  for (const auto& f : msg) {
    resp.headers.add(f.name_string(), f.value());
  }
  resp.body = std::move(msg.body());
  co_return resp;
}

std::uint16_t unused_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

}  // namespace kp::credentials::testing
