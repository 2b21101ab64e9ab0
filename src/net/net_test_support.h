// File: net/net_test_support.h
// Test-only helpers for net_test: run a coroutine on a pool with a timeout,
// a raw blocking HTTP client with poll()-bounded reads, a scripted peer
// server (plain or TLS, one thread per connection), and a throw-away test PKI.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "base/http_message.h"

namespace kp::net::testing {

using namespace std::chrono_literals;

template <class T>
boost::asio::awaitable<void> fulfil(boost::asio::awaitable<T> aw, std::shared_ptr<std::promise<T>> p) {
  try {
    T v = co_await std::move(aw);
    p->set_value(std::move(v));
  } catch (...) {
    p->set_exception(std::current_exception());
  }
}

/// Runs `aw` on `ctx` (whose thread must be running) and waits at most `timeout`.
template <class T>
T run_on(boost::asio::io_context& ctx, boost::asio::awaitable<T> aw, std::chrono::milliseconds timeout = 10s) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  boost::asio::co_spawn(ctx, fulfil(std::move(aw), p), [](std::exception_ptr) {});
  if (f.wait_for(timeout) != std::future_status::ready) {
    throw std::runtime_error("run_on: coroutine did not finish in time");
  }
  return f.get();
}

/// Polls `pred` until true or timeout.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s);

// ------------------------------------------------------------ raw client ---

struct RawResponse {
  unsigned status = 0;
  std::string status_line;
  kp::Headers headers;
  std::string body;
};

/// A blocking TCP connection to 127.0.0.1 with bounded reads.
class RawConn {
 public:
  explicit RawConn(std::uint16_t port);
  ~RawConn();
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void send(std::string_view data);
  /// Reads one response (Content-Length framed). nullopt on EOF/timeout/garbage.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = 5s);
  /// send() then read_response().
  std::optional<RawResponse> exchange(std::string_view request, std::chrono::milliseconds timeout = 5s) {
    send(request);
    return read_response(timeout);
  }
  /// Reads exactly "HTTP/1.1 100 Continue\r\n\r\n"-style interim head.
  std::optional<std::string> read_head(std::chrono::milliseconds timeout = 5s);
  /// Whether the peer closes (EOF or reset) within `timeout`; data read on the
  /// way is discarded.
  bool wait_closed(std::chrono::milliseconds timeout);

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);  // false on EOF/timeout
  int fd_ = -1;
  std::string buf_;
};

// ---------------------------------------------------------- scripted peer ---

/// One accepted connection of a ScriptedServer (plain or TLS).
class PeerConn {
 public:
  virtual ~PeerConn() = default;
  virtual bool write(std::string_view data) = 0;
  /// Reads some bytes (appends to `out`); false on EOF/error/timeout.
  virtual bool read_some(std::string& out, std::chrono::milliseconds timeout) = 0;
  virtual int fd() const = 0;

  /// Reads one request head + Content-Length body. nullopt on EOF/timeout.
  std::optional<std::string> read_request(std::chrono::milliseconds timeout = 5s);
  /// Waits for EOF from the client (true) or timeout (false).
  bool wait_eof(std::chrono::milliseconds timeout);
  /// Closes with an RST (SO_LINGER 0).
  void reset();
  /// TLS only: sends close_notify (a plain peer returns false).
  virtual bool close_notify() { return false; }

  std::string pending;  // bytes read past the last request
};

struct TlsFiles {
  std::string dir, ca_cert, ca_key, leaf_cert, leaf_key;
};
/// A CA and a leaf for "localhost" / 127.0.0.1, made once per process with
/// the openssl CLI in a temp dir.
const TlsFiles& test_pki();

class ScriptedServer {
 public:
  /// Called once per accepted connection (index 0, 1, ...) on its own thread.
  using Script = std::function<void(int index, PeerConn& conn)>;

  explicit ScriptedServer(Script script, const TlsFiles* tls = nullptr);
  ~ScriptedServer();

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> requests() const;  // every request read via record()
  void record(std::string req);

 private:
  void accept_loop();

  Script script_;
  const TlsFiles* tls_;
  void* ssl_ctx_ = nullptr;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<std::string> requests_;
};

/// A port on 127.0.0.1 with nothing listening (bound, then closed).
std::uint16_t closed_port();

/// `n` printable bytes in a non-repeating-looking order, for bodies whose
/// every byte a test compares.
std::string patterned(std::size_t n);

/// Minimal HTTP response text.
std::string http_response(unsigned status, std::string_view body, std::string_view extra_headers = "");

}  // namespace kp::net::testing
