#include "net/net_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace kp::net::testing {

namespace {

using SteadyClock = std::chrono::steady_clock;

int remaining_ms(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool wait_readable(int fd, SteadyClock::time_point deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r > 0) {
      return true;
    }
    if (r == 0 || errno != EINTR) {
      return false;
    }
  }
}

std::optional<RawResponse> parse_response(std::string& buf) {
  const auto head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    return std::nullopt;
  }
  RawResponse r;
  std::string_view head(buf.data(), head_end);
  const auto line_end = head.find("\r\n");
  r.status_line = std::string(head.substr(0, line_end));
  if (r.status_line.size() < 12) {
    return std::nullopt;
  }
  r.status = static_cast<unsigned>(std::atoi(r.status_line.substr(9, 3).c_str()));
  std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto e = head.find("\r\n", pos);
    if (e == std::string_view::npos) {
      e = head.size();
    }
    const auto line = head.substr(pos, e - pos);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      r.headers.add(line.substr(0, colon), value);
    }
    pos = e + 2;
  }
  std::size_t len = 0;
  if (auto cl = r.headers.get("content-length")) {
    len = static_cast<std::size_t>(std::atoll(std::string(*cl).c_str()));
  }
  if (buf.size() < head_end + 4 + len) {
    return std::nullopt;
  }
  r.body = buf.substr(head_end + 4, len);
  buf.erase(0, head_end + 4 + len);
  return r;
}

class RawPeer final : public PeerConn {
 public:
  explicit RawPeer(int fd) : fd_(fd) {}
  ~RawPeer() override { ::close(fd_); }
  bool write(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool read_some(std::string& out, std::chrono::milliseconds timeout) override {
    if (!wait_readable(fd_, SteadyClock::now() + timeout)) {
      return false;
    }
    char b[16384];
    const ssize_t n = ::recv(fd_, b, sizeof(b), 0);
    if (n <= 0) {
      return false;
    }
    out.append(b, static_cast<std::size_t>(n));
    return true;
  }
  int fd() const override { return fd_; }

 private:
  int fd_;
};

class TlsPeer final : public PeerConn {
 public:
  TlsPeer(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~TlsPeer() override {
    SSL_free(ssl_);
    ::close(fd_);
  }
  bool write(std::string_view data) override {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
  }
  bool read_some(std::string& out, std::chrono::milliseconds timeout) override {
    if (SSL_pending(ssl_) == 0 && !wait_readable(fd_, SteadyClock::now() + timeout)) {
      return false;
    }
    char b[16384];
    const int n = SSL_read(ssl_, b, sizeof(b));
    if (n <= 0) {
      return false;
    }
    out.append(b, static_cast<std::size_t>(n));
    return true;
  }
  int fd() const override { return fd_; }
  bool close_notify() override { return SSL_shutdown(ssl_) >= 0; }

 private:
  int fd_;
  SSL* ssl_;
};

void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<long>(t.count() / 1000);
  tv.tv_usec = static_cast<long>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// ---------------------------------------------------------------- RawConn ---

RawConn::RawConn(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  set_timeouts(fd_, 5s);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConn::~RawConn() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void RawConn::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool RawConn::fill(SteadyClock::time_point deadline) {
  if (!wait_readable(fd_, deadline)) {
    return false;
  }
  char b[16384];
  const ssize_t n = ::recv(fd_, b, sizeof(b), 0);
  if (n <= 0) {
    return false;
  }
  buf_.append(b, static_cast<std::size_t>(n));
  return true;
}

std::optional<RawResponse> RawConn::read_response(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (auto r = parse_response(buf_)) {
      return r;
    }
    if (!fill(deadline)) {
      return parse_response(buf_);
    }
  }
}

std::optional<std::string> RawConn::read_head(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const auto e = buf_.find("\r\n\r\n");
    if (e != std::string::npos) {
      std::string head = buf_.substr(0, e + 4);
      buf_.erase(0, e + 4);
      return head;
    }
    if (!fill(deadline)) {
      return std::nullopt;
    }
  }
}

bool RawConn::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (!wait_readable(fd_, deadline)) {
      return false;
    }
    char b[4096];
    const ssize_t n = ::recv(fd_, b, sizeof(b), 0);
    if (n <= 0) {
      return true;
    }
  }
}

// --------------------------------------------------------------- PeerConn ---

std::optional<std::string> PeerConn::read_request(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const auto e = pending.find("\r\n\r\n");
    if (e != std::string::npos) {
      std::size_t len = 0;
      const std::string head = pending.substr(0, e);
      std::string lower = head;
      for (auto& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      const auto cl = lower.find("content-length:");
      if (cl != std::string::npos) {
        len = static_cast<std::size_t>(std::atoll(lower.c_str() + cl + 15));
      }
      if (pending.size() >= e + 4 + len) {
        std::string req = pending.substr(0, e + 4 + len);
        pending.erase(0, e + 4 + len);
        return req;
      }
    }
    if (remaining_ms(deadline) == 0 || !read_some(pending, std::chrono::milliseconds(remaining_ms(deadline)))) {
      return std::nullopt;
    }
  }
}

bool PeerConn::wait_eof(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string sink;
  while (remaining_ms(deadline) > 0) {
    if (!wait_readable(fd(), deadline)) {
      return false;
    }
    if (!read_some(sink, 10ms)) {
      return true;
    }
  }
  return false;
}

void PeerConn::reset() {
  linger l{1, 0};
  ::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::shutdown(fd(), SHUT_RDWR);
}

// -------------------------------------------------------------- test PKI ---

const TlsFiles& test_pki() {
  static const TlsFiles files = [] {
    TlsFiles f;
    char tmpl[] = "/tmp/kp-net-test-XXXXXX";
    f.dir = ::mkdtemp(tmpl);
    f.ca_cert = f.dir + "/ca.crt";
    f.ca_key = f.dir + "/ca.key";
    f.leaf_cert = f.dir + "/leaf.crt";
    f.leaf_key = f.dir + "/leaf.key";
    std::ofstream(f.dir + "/leaf.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                          "basicConstraints=CA:FALSE\n"
                                          "extendedKeyUsage=serverAuth\n";
    const std::string d = f.dir;
    const std::string cmd =
        "cd " + d +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt"
        " -subj /CN=kp-net-test-ca -days 2 -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1"
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr"
        " -subj /CN=localhost >/dev/null 2>&1"
        " && openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out leaf.crt -days 2"
        " -extfile leaf.ext >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("test_pki: openssl CLI failed");
    }
    return f;
  }();
  // Removes the temp dir when the test binary exits.
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(files.dir, ec);
    }
  } cleanup;
  return files;
}

// --------------------------------------------------------- ScriptedServer ---

ScriptedServer::ScriptedServer(Script script, const TlsFiles* tls) : script_(std::move(script)), tls_(tls) {
  if (tls_ != nullptr) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_file(ctx, tls_->leaf_cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, tls_->leaf_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("ScriptedServer: cannot load the test certificate");
    }
    ssl_ctx_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("ScriptedServer: bind/listen failed");
  }
  socklen_t len = sizeof(a);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) {
    t.join();
  }
  ::close(listen_fd_);
  if (ssl_ctx_ != nullptr) {
    SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
  }
}

void ScriptedServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      continue;
    }
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      continue;
    }
    const int index = accepted_.fetch_add(1);
    std::lock_guard lock(mu_);
    workers_.emplace_back([this, fd, index] {
      set_timeouts(fd, 5s);
      std::unique_ptr<PeerConn> conn;
      if (ssl_ctx_ != nullptr) {
        SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1) {
          ERR_clear_error();
          SSL_free(ssl);
          ::close(fd);
          return;
        }
        conn = std::make_unique<TlsPeer>(fd, ssl);
      } else {
        conn = std::make_unique<RawPeer>(fd);
      }
      script_(index, *conn);
    });
  }
}

std::vector<std::string> ScriptedServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void ScriptedServer::record(std::string req) {
  std::lock_guard lock(mu_);
  requests_.push_back(std::move(req));
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string patterned(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7919) % 26);
  }
  return s;
}

std::string http_response(unsigned status, std::string_view body, std::string_view extra_headers) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/x-amz-json-1.1\r\n";
  r += extra_headers;
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

}  // namespace kp::net::testing
