// Runs the real kms-emulator binary: port-0 readiness line, SIGKILL between
// requests with nothing lost, one process per data directory, HTTPS with
// --tls-cert/--tls-key, startup errors, and concurrent requests against the
// core.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "base/encoding.h"
#include "emulator/emulator.h"
#include "emulator/test_support.h"

namespace kp::emulator {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// A child kms-emulator with its stdout on a pipe.
class Server {
 public:
  Server(const std::string& data_dir, std::vector<std::string> extra = {}) {
    int out[2];
    if (::pipe(out) != 0) {
      return;
    }
    int err[2];
    if (::pipe(err) != 0) {
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close(out[0]);
      ::close(err[0]);
      std::vector<std::string> args = {KP_EMULATOR_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Server() {
    kill(SIGKILL);
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
  }

  // Waits (bounded) for "kms-emulator listening on http://127.0.0.1:<port>".
  std::optional<int> wait_port(std::chrono::milliseconds timeout = 10s) {
    return wait_port(ready_line_, timeout);
  }
  // The same, keeping the readiness line.
  std::optional<int> wait_port(std::string& line, std::chrono::milliseconds timeout = 10s) {
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[256];
        const ssize_t n = ::read(out_, buf, sizeof(buf));
        if (n <= 0) {
          return std::nullopt;  // exited
        }
        text.append(buf, static_cast<std::size_t>(n));
        const auto nl = text.find('\n');
        if (nl != std::string::npos) {
          line = text.substr(0, nl);
          const auto colon = text.rfind(':', nl);
          return std::stoi(text.substr(colon + 1, nl - colon - 1));
        }
      }
    }
    return std::nullopt;
  }

  // Waits (bounded) for the exit status.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  std::string stderr_text() {
    std::string s;
    char buf[512];
    pollfd p{err_, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
      const ssize_t n = ::read(err_, buf, sizeof(buf));
      if (n <= 0) break;
      s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
  }

  void kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string ready_line_;
};

struct Reply {
  int status = 0;
  json::object body;
};

// Sends `req` over TLS on the connected `fd` (verifying 127.0.0.1 against
// `ca_file`) and reads until close_notify/EOF. Empty on any TLS failure.
std::string tls_exchange(int fd, const std::string& ca_file, const std::string& req) {
  std::string resp;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  if (SSL_connect(ssl) == 1 && SSL_write(ssl, req.data(), static_cast<int>(req.size())) == static_cast<int>(req.size())) {
    char buf[4096];
    int n = 0;
    while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
      resp.append(buf, static_cast<std::size_t>(n));
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return resp;
}

// One request on a fresh connection (Connection: close), 10 s timeouts; over
// TLS when `tls_ca` (the CA file to verify the server with) is given.
Reply post(int port, std::string_view op, const json::object& body, const std::string& tls_ca = "") {
  Reply r;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return r;
  }
  const std::string payload = json::serialize(body);
  const std::string req = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
                          "X-Amz-Target: TrentService." + std::string(op) + "\r\nContent-Length: " +
                          std::to_string(payload.size()) + "\r\nConnection: close\r\n\r\n" + payload;
  std::string resp;
  if (!tls_ca.empty()) {
    resp = tls_exchange(fd, tls_ca, req);
  } else if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
      resp.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (resp.size() < 12 || resp.compare(0, 5, "HTTP/") != 0) {
    return r;
  }
  r.status = std::stoi(resp.substr(9, 3));
  const auto split = resp.find("\r\n\r\n");
  boost::system::error_code ec;
  auto v = json::parse(resp.substr(split + 4), ec);
  if (!ec && v.is_object()) {
    r.body = v.as_object();
  }
  return r;
}

std::string str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

TEST(EmulatorProcess, SurvivesKill9BetweenRequests) {
  testing::TempDir tmp;
  const std::string dir = (tmp.path() / "state").string();
  std::string key_id;
  std::string blob;
  {
    Server s(dir);
    const auto port = s.wait_port();
    ASSERT_TRUE(port) << s.stderr_text();
    auto created = post(*port, "CreateKey", {{"Description", "survivor"}});
    ASSERT_EQ(created.status, 200);
    key_id = str(created.body["KeyMetadata"].as_object(), "KeyId");
    ASSERT_EQ(post(*port, "CreateAlias", {{"AliasName", "alias/survivor"}, {"TargetKeyId", key_id}}).status, 200);
    auto enc = post(*port, "Encrypt", {{"KeyId", "alias/survivor"}, {"Plaintext", testing::b64("persist me")}});
    ASSERT_EQ(enc.status, 200);
    blob = str(enc.body, "CiphertextBlob");
    s.kill(SIGKILL);  // no chance to flush anything: every answered change must already be on disk
  }
  {
    Server s(dir);
    const auto port = s.wait_port();
    ASSERT_TRUE(port) << s.stderr_text();
    auto dec = post(*port, "Decrypt", {{"CiphertextBlob", blob}, {"KeyId", "alias/survivor"}});
    ASSERT_EQ(dec.status, 200);
    EXPECT_EQ(as_chars(testing::unb64(dec.body, "Plaintext")), "persist me");
    ASSERT_EQ(post(*port, "DisableKey", {{"KeyId", key_id}}).status, 200);
    s.kill(SIGKILL);
  }
  {
    Server s(dir);
    const auto port = s.wait_port();
    ASSERT_TRUE(port) << s.stderr_text();
    auto dis = post(*port, "Decrypt", {{"CiphertextBlob", blob}});
    EXPECT_EQ(dis.status, 400);
    EXPECT_EQ(str(dis.body, "__type"), "DisabledException");
    auto keys = post(*port, "ListKeys", {});
    EXPECT_EQ(keys.body["Keys"].as_array().size(), 1u);
    // SIGTERM: graceful exit 0.
    s.kill(SIGTERM);
  }
}

TEST(EmulatorProcess, RefusesSecondInstanceOnTheSameDirectory) {
  testing::TempDir tmp;
  const std::string dir = (tmp.path() / "state").string();
  Server first(dir);
  ASSERT_TRUE(first.wait_port());
  Server second(dir);
  const auto rc = second.wait_exit();
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 1);
  EXPECT_NE(second.stderr_text().find("in use by another kms-emulator"), std::string::npos);
}

TEST(EmulatorProcess, ReportsAllStartupErrorsTogether) {
  testing::TempDir tmp;
  Server s((tmp.path() / "state").string(),
           {"--trust-root", "/nonexistent.pem", "--credentials", "/nonexistent.txt", "--tls-cert",
            "/nonexistent.crt", "--tls-key", "/nonexistent.key", "--account", "12"});
  const auto rc = s.wait_exit();
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 2);
  const std::string err = s.stderr_text();
  EXPECT_NE(err.find("--trust-root /nonexistent.pem"), std::string::npos) << err;
  EXPECT_NE(err.find("--credentials /nonexistent.txt"), std::string::npos) << err;
  EXPECT_NE(err.find("certificate file '/nonexistent.crt': cannot read"), std::string::npos) << err;
  EXPECT_NE(err.find("key file '/nonexistent.key': cannot read"), std::string::npos) << err;
  EXPECT_NE(err.find("--account must be 12 digits"), std::string::npos) << err;
}

TEST(EmulatorProcess, TlsCertAndKeyComeTogether) {
  testing::TempDir tmp;
  for (const char* flag : {"--tls-cert", "--tls-key"}) {
    Server s((tmp.path() / "state").string(), {flag, "/some/file.pem"});
    const auto rc = s.wait_exit();
    ASSERT_TRUE(rc);
    EXPECT_EQ(*rc, 2) << flag;
    EXPECT_NE(s.stderr_text().find("--tls-cert and --tls-key go together"), std::string::npos) << flag;
  }
}

// A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI).
struct TestCerts {
  std::string ca, cert, key;
};
std::optional<TestCerts> make_certs(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  std::filesystem::create_directories(dir);
  const std::string cmd =
      "cd '" + d + "' && printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext.cnf"
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt"
      " -subj /CN=emu-test-ca -days 2 >/dev/null 2>&1"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr"
      " -subj /CN=127.0.0.1 >/dev/null 2>&1"
      " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2"
      " -extfile ext.cnf >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    return std::nullopt;
  }
  return TestCerts{d + "/ca.crt", d + "/server.crt", d + "/server.key"};
}

TEST(EmulatorProcess, ServesHttpsWithTlsCertAndKey) {
  testing::TempDir tmp;
  const auto certs = make_certs(tmp.path() / "pki");
  ASSERT_TRUE(certs) << "openssl CLI failed";
  Server s((tmp.path() / "state").string(), {"--tls-cert", certs->cert, "--tls-key", certs->key});
  std::string line;
  const auto port = s.wait_port(line);
  ASSERT_TRUE(port) << s.stderr_text();
  EXPECT_EQ(line, "kms-emulator listening on https://127.0.0.1:" + std::to_string(*port));
  auto created = post(*port, "CreateKey", {}, certs->ca);
  ASSERT_EQ(created.status, 200);
  const std::string key_id = str(created.body["KeyMetadata"].as_object(), "KeyId");
  auto enc = post(*port, "Encrypt", {{"KeyId", key_id}, {"Plaintext", testing::b64("over tls")}}, certs->ca);
  ASSERT_EQ(enc.status, 200);
  auto dec = post(*port, "Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}}, certs->ca);
  ASSERT_EQ(dec.status, 200);
  EXPECT_EQ(as_chars(testing::unb64(dec.body, "Plaintext")), "over tls");
  // Plain HTTP on the HTTPS port gets no HTTP answer; the server carries on.
  EXPECT_EQ(post(*port, "ListKeys", {}).status, 0);
  EXPECT_EQ(post(*port, "ListKeys", {}, certs->ca).status, 200);
  // The wrong CA: the client refuses the server.
  EXPECT_EQ(post(*port, "ListKeys", {}, certs->cert).status, 0);
}

TEST(EmulatorConcurrency, ParallelRequestsKeepConsistentState) {
  testing::TempDir tmp;
  EmulatorOptions o;
  o.data_dir = tmp.path() / "state";
  auto emu = KmsEmulator::open(std::move(o));
  ASSERT_TRUE(emu);
  auto created = testing::call(**emu, "CreateKey", {});
  const std::string shared_key(created.body["KeyMetadata"].as_object()["KeyId"].as_string());
  constexpr int kThreads = 6;
  constexpr int kRounds = 15;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string pt = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto enc = testing::call(**emu, "Encrypt", {{"KeyId", shared_key}, {"Plaintext", testing::b64(pt)}});
        auto dec = testing::call(**emu, "Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}});
        if (as_chars(testing::unb64(dec.body, "Plaintext")) != pt) {
          ++failures;
        }
        auto k = testing::call(**emu, "CreateKey", {});
        const std::string alias = "alias/t" + std::to_string(t) + "-" + std::to_string(i);
        if (testing::call(**emu, "CreateAlias", {{"AliasName", alias}, {"TargetKeyId", k.body["KeyMetadata"].as_object()["KeyId"]}})
                .status != 200) {
          ++failures;
        }
        // Everyone races for the same alias name: exactly one wins overall.
        (void)testing::call(**emu, "CreateAlias", {{"AliasName", "alias/contended"}, {"TargetKeyId", shared_key}});
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  auto keys = testing::call(**emu, "ListKeys", {{"Limit", 1000}});
  EXPECT_EQ(keys.body["Keys"].as_array().size(), 1u + kThreads * kRounds);
  auto aliases = testing::call(**emu, "ListAliases", {{"Limit", 100}});
  std::size_t total = aliases.body["Aliases"].as_array().size();
  while (aliases.body["Truncated"].as_bool()) {
    aliases = testing::call(**emu, "ListAliases", {{"Limit", 100}, {"Marker", aliases.body["NextMarker"]}});
    total += aliases.body["Aliases"].as_array().size();
  }
  EXPECT_EQ(total, 1u + kThreads * kRounds);
}

}  // namespace
}  // namespace kp::emulator
