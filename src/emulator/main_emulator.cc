// kms-emulator: serves the KMS emulator core (emulator.h) over HTTP/1.1 with
// kp::net, or HTTPS with --tls-cert/--tls-key. Thin: argv -> options (all
// problems reported together) -> open the state -> serve until SIGINT/SIGTERM.
//
//   kms-emulator serve --listen 127.0.0.1:0 --data-dir /tmp/kms
//       [--trust-root sim-root.pem]... [--credentials creds.txt]
//       [--tls-cert server.crt --tls-key server.key]
//
// Prints "kms-emulator listening on http://127.0.0.1:<port>" (https:// with
// TLS) on stdout once the socket is bound (port 0 picks a free port), so
// tests can read it.
//
// Requests run on a small worker pool, not on the I/O threads: state changes
// fsync files and RSA-4096 key generation takes a while.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "base/file_input.h"
#include "crypto/pem.h"
#include "crypto/random.h"
#include "emulator/emulator.h"
#include "net/http_server.h"
#include "net/io_pool.h"
#include "net/server_tls.h"
#include "net/transport.h"

namespace {

namespace asio = boost::asio;
using kp::emulator::KmsEmulator;

struct ServeFlags {
  std::string listen = "127.0.0.1:0";
  std::string data_dir;
  std::vector<std::string> trust_roots;
  std::string tls_cert;
  std::string tls_key;
  std::string credentials;
  std::string region = std::string(kp::emulator::kDefaultRegion);
  std::string account = std::string(kp::emulator::kDefaultAccount);
  unsigned io_threads = 1;
  unsigned workers = 2;
  long clock_offset_seconds = 0;
  bool allow_non_loopback = false;
  std::string log_level = "info";
};


// "HOST:PORT" or "[V6]:PORT".
bool split_listen(const std::string& s, std::string& host, std::uint16_t& port) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 >= s.size()) {
    return false;
  }
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned long p = 0;
  for (char c : s.substr(colon + 1)) {
    if (c < '0' || c > '9') {
      return false;
    }
    p = p * 10 + static_cast<unsigned long>(c - '0');
    if (p > 65535) {
      return false;
    }
  }
  port = static_cast<std::uint16_t>(p);
  return !host.empty();
}

// Runs the synchronous core on a worker thread; the caller's coroutine frame
// owns the request for the whole call.
asio::awaitable<kp::HttpResponse> run_on_worker(KmsEmulator* emulator, const kp::HttpRequest* request) {
  co_return emulator->handle(*request);
}

asio::awaitable<kp::HttpResponse> serve_request(KmsEmulator* emulator, asio::thread_pool* workers,
                                                kp::HttpRequest request) {
  kp::net::ScopedWipe wipe(request.body);  // may hold a plaintext (Encrypt)
  const auto started = std::chrono::steady_clock::now();
  kp::HttpResponse response =
      co_await asio::co_spawn(workers->get_executor(), run_on_worker(emulator, &request), asio::use_awaitable);
  if (spdlog::should_log(spdlog::level::debug)) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    spdlog::debug("{} {} -> {} in {} ms (request id {})", request.headers.get("X-Amz-Target").value_or("-"),
                  request.target, response.status, ms.count(),
                  response.headers.get("x-amzn-RequestId").value_or("-"));
  }
  co_return response;
}

int serve(const ServeFlags& f) {
  std::vector<std::string> errors;
  kp::emulator::EmulatorOptions options;
  options.data_dir = f.data_dir;
  options.region = f.region;
  options.default_account = f.account;
  if (f.account.size() != 12 || f.account.find_first_not_of("0123456789") != std::string::npos) {
    errors.push_back("--account must be 12 digits");
  }
  std::shared_ptr<const kp::net::ServerTls> tls;
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    errors.push_back("--tls-cert and --tls-key go together: give both (HTTPS) or neither (HTTP)");
  } else if (!f.tls_cert.empty()) {
    auto loaded = kp::net::ServerTls::load(f.tls_cert, f.tls_key);
    if (!loaded) {
      errors.push_back("--tls-cert/--tls-key: " + loaded.error().message);
    } else {
      tls = std::move(*loaded);
    }
  }
  for (const auto& path : f.trust_roots) {
    const auto text = kp::read_input_file(path);
    if (!text) {
      errors.push_back("--trust-root " + text.error().message);
      continue;
    }
    auto certs = kp::crypto::certificates_der_from_pem(*text);
    if (certs.empty()) {
      errors.push_back("--trust-root " + path + ": no PEM CERTIFICATE in the file");
      continue;
    }
    for (auto& c : certs) {
      options.extra_trust_roots_der.push_back(std::move(c));
    }
  }
  if (!f.credentials.empty()) {
    auto text = kp::read_input_file(f.credentials);
    if (!text) {
      errors.push_back("--credentials " + text.error().message);
    } else {
      auto creds = kp::emulator::parse_credentials(*text);
      kp::secure_wipe(text->data(), text->size());
      if (!creds) {
        errors.push_back("--credentials " + f.credentials + ": " + creds.error().message);
      } else {
        options.credentials = std::move(*creds);
      }
    }
  }
  constexpr long kMaxClockOffset = 10L * 365 * 24 * 3600;
  if (f.clock_offset_seconds < -kMaxClockOffset || f.clock_offset_seconds > kMaxClockOffset) {
    errors.push_back("--clock-offset-seconds must be within +-10 years");
  }
  kp::OffsetClock clock(kp::SystemClock::instance(), std::chrono::seconds(f.clock_offset_seconds));
  options.clock = &clock;
  kp::net::ServerOptions server_options;
  if (!split_listen(f.listen, server_options.host, server_options.port)) {
    errors.push_back("--listen must be HOST:PORT (e.g. 127.0.0.1:0), got '" + f.listen + "'");
  } else if (!f.allow_non_loopback && !kp::net::is_loopback_host(server_options.host)) {
    errors.push_back("--listen " + f.listen + " is not a loopback address (add --allow-non-loopback to serve it)");
  }
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), f.log_level) == std::end(kLevels)) {
    errors.push_back("--log-level must be one of trace, debug, info, warn, error, off; got '" + f.log_level + "'");
  }
  server_options.allow_non_loopback = f.allow_non_loopback;
  server_options.tls = tls;
  // Answers the listener gives itself (malformed HTTP, too large, too many
  // connections) carry a request id, as every KMS answer does.
  server_options.make_request_id = [] { return kp::crypto::random_uuid(); };
  options.secure_transport = tls != nullptr;
  if (f.workers == 0 || f.io_threads == 0) {
    errors.push_back("--workers and --io-threads must be at least 1");
  }
  if (!errors.empty()) {
    for (const auto& e : errors) {
      std::cerr << "kms-emulator: " << e << "\n";
    }
    return 2;
  }

  auto emulator = KmsEmulator::open(std::move(options));
  if (!emulator) {
    std::cerr << "kms-emulator: " << emulator.error().message << "\n";
    return 1;
  }

  // Signals are taken synchronously by this thread (sigwait), so block them
  // before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kp::net::IoPool io(f.io_threads);
  asio::thread_pool workers(f.workers);
  KmsEmulator* emu = emulator->get();
  asio::thread_pool* pool = &workers;
  int rc = 0;
  {
    kp::net::HttpServer server(io, server_options, [emu, pool](kp::HttpRequest req) {
      return serve_request(emu, pool, std::move(req));
    });
    auto port = server.start();
    if (!port) {
      std::cerr << "kms-emulator: " << port.error().message << "\n";
      return 1;
    }
    io.run();
    const bool v6 = server_options.host.find(':') != std::string::npos;
    const std::string bound = (v6 ? "[" : "") + server_options.host + (v6 ? "]:" : ":") + std::to_string(*port);
    std::cout << "kms-emulator listening on " << (tls ? "https" : "http") << "://" << bound
              << std::endl;  // flushes: tests wait
    spdlog::info("kms-emulator: serving {} over {} (data dir {}, region {}, {})", bound,
                 tls ? "HTTPS, certificate " + tls->subject() : std::string("HTTP"), f.data_dir, f.region,
                 f.credentials.empty() ? "no SigV4 check, caller = account " + f.account + " root"
                                       : "SigV4 required");
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("kms-emulator: signal {}, shutting down", sig);
    if (!server.shutdown()) {
      rc = 0;  // requests cut after the grace period; state on disk is consistent regardless
    }
  }
  workers.join();
  io.stop();
  io.join();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kms-emulator: a local AWS KMS (JSON 1.1) that honours Recipient and attestation key policies"};
  app.require_subcommand(1);
  ServeFlags f;
  auto* serve_cmd = app.add_subcommand("serve", "Serve the KMS API over HTTP/1.1 (HTTPS with --tls-cert/--tls-key)");
  serve_cmd->add_option("--listen", f.listen, "HOST:PORT to bind; port 0 picks a free port")
      ->capture_default_str();
  serve_cmd->add_option("--data-dir", f.data_dir, "State directory (keys, aliases, policies); created 0700")
      ->required();
  serve_cmd->add_option("--trust-root", f.trust_roots,
                        "Extra PEM/DER root accepted for attestation documents (repeatable); the AWS Nitro root "
                        "is always trusted");
  serve_cmd->add_option("--tls-cert", f.tls_cert,
                        "Serve HTTPS with this PEM certificate chain (leaf first, then intermediates); needs "
                        "--tls-key. TLS 1.2 and 1.3 only");
  serve_cmd->add_option("--tls-key", f.tls_key, "Unencrypted PEM private key of --tls-cert");
  serve_cmd->add_option("--credentials", f.credentials,
                        "Access keys to accept (enables SigV4 checking): JSON {\"credentials\":[...]} or lines "
                        "'AKID SECRET ACCOUNT [user/NAME|role/NAME]'");
  serve_cmd->add_option("--region", f.region, "Region of key ARNs and of the SigV4 scope")->capture_default_str();
  serve_cmd->add_option("--account", f.account, "Caller account when --credentials is not given")
      ->capture_default_str();
  serve_cmd->add_option("--io-threads", f.io_threads, "HTTP I/O threads")->capture_default_str();
  serve_cmd->add_option("--workers", f.workers, "Worker threads running requests")->capture_default_str();
  serve_cmd->add_option("--clock-offset-seconds", f.clock_offset_seconds,
                        "Run this many seconds ahead of the machine's clock (negative: behind) for SigV4 "
                        "checks and the Date header, as if the caller's clock were off: tests kms-proxy's "
                        "clock-skew correction")
      ->capture_default_str();
  serve_cmd->add_flag("--allow-non-loopback", f.allow_non_loopback, "Allow binding a non-loopback address");
  serve_cmd->add_option("--log-level", f.log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  serve_cmd->footer(
      "Without --credentials no SigV4 signature is checked and every caller is the root of --account.\n"
      "Examples:\n"
      "  kms-proxy sim-pki init ./pki\n"
      "  kms-emulator serve --data-dir ./kms-data --trust-root ./pki/root.pem --listen 127.0.0.1:4566\n"
      "  kms-emulator serve --data-dir ./kms-data --listen 127.0.0.1:0 \\\n"
      "      --tls-cert server.pem --tls-key server.key --credentials creds.txt");
  app.footer("Example:\n  kms-emulator serve --data-dir ./kms-data --trust-root ./pki/root.pem");
  app.set_version_flag("--version", "kms-emulator 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // usage errors: 2, as the other startup problems
  }

  auto logger = spdlog::stderr_color_mt("kms-emulator");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  return serve(f);
}
