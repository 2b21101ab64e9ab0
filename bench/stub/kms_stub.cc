// File: bench/stub/kms_stub.cc
//
// kp_kms_stub: a cheap upstream that answers like AWS KMS (JSON 1.1), for
// benchmarks only. It serves TLS (the proxy's realistic upstream path) and
// plain HTTP (the direct baseline) from the same handler:
//   Encrypt        -> fixed CiphertextBlob
//   Decrypt        -> Plaintext, or with a Recipient: CiphertextForRecipient
//                     sealed to the document's public_key (the document is
//                     parsed, NOT verified: the stub must never be the
//                     bottleneck)
//   GenerateRandom / GenerateDataKey -> the same two shapes
//   anything else  -> 400 UnsupportedOperationException
// A request without an Authorization header gets 400
// MissingAuthenticationTokenException, so a load run that loses its
// signature somewhere shows up as errors, not as fast answers.
//
// TLS is 1.3 only (see main). Sealing costs one RSA public operation; by
// default each thread keeps the last (public key -> sealed blob) pair, so
// repeated requests from the same proxy key cost a JSON parse, a CBOR parse
// and a compare. --fresh-seal seals every response.
//
//   kp_kms_stub --cert server.pem --key server.key [--tls-port 0] [--http-port 0]
//               [--threads 1] [--fresh-seal]
// prints "ready tls=<port> http=<port>" on stdout when listening; SIGTERM or
// SIGINT stops it and prints the request counters on stderr.
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "attestation/document.h"
#include "base/bytes.h"
#include "base/encoding.h"
#include "crypto/cms.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kKeyArn =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Options {
  std::string cert;
  std::string key;
  std::uint16_t tls_port = 0;
  std::uint16_t http_port = 0;
  unsigned threads = 1;
  bool fresh_seal = false;
};

struct Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> sealed{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> connections{0};
};

Counters g_counters;
Options g_options;

// Fixed answers, built once.
std::string g_ciphertext_blob_b64;
std::string g_plaintext_b64;
kp::Bytes g_plaintext;

// Concatenation by append (GCC 12 flags std::string operator+ chains with
// -Wnull-dereference false positives).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (auto p : parts) {
    n += p.size();
  }
  std::string out;
  out.reserve(n);
  for (auto p : parts) {
    out.append(p);
  }
  return out;
}

std::string json_error(std::string_view type, std::string_view message) {
  return cat({"{\"__type\":\"", type, "\",\"message\":\"", message, "\"}"});
}

struct Answer {
  unsigned status = 200;
  std::string body;
};

// Per-thread one-entry cache: the proxy's public key and the blob sealed to it.
struct SealCache {
  kp::Bytes spki;
  std::string blob_b64;
};
thread_local SealCache t_seal_cache;

// Returns the base64 CiphertextForRecipient for the Recipient in `body`, or an
// error answer.
std::optional<std::string> sealed_for_recipient(std::string_view body, Answer& err) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) {
    err = {400, json_error("SerializationException", "body is not a JSON object")};
    return std::nullopt;
  }
  const auto* recipient = v.as_object().if_contains("Recipient");
  const boost::json::value* doc_b64 = nullptr;
  if (recipient != nullptr && recipient->is_object()) {
    doc_b64 = recipient->as_object().if_contains("AttestationDocument");
  }
  if (doc_b64 == nullptr || !doc_b64->is_string()) {
    err = {400, json_error("ValidationException", "Recipient.AttestationDocument missing")};
    return std::nullopt;
  }
  const auto& s = doc_b64->as_string();
  auto doc_bytes = kp::base64_decode(std::string_view(s.data(), s.size()));
  if (!doc_bytes) {
    err = {400, json_error("ValidationException", "AttestationDocument is not base64")};
    return std::nullopt;
  }
  auto doc = kp::attestation::parse_document(*doc_bytes);
  if (!doc || !doc->public_key) {
    err = {400, json_error("ValidationException", "attestation document has no public_key")};
    return std::nullopt;
  }
  SealCache& cache = t_seal_cache;
  if (!g_options.fresh_seal && !cache.blob_b64.empty() && cache.spki == *doc->public_key) {
    return cache.blob_b64;
  }
  auto sealed = kp::crypto::seal_enveloped(g_plaintext, *doc->public_key);
  if (!sealed) {
    err = {400, json_error("ValidationException", "public_key is not an RSA SubjectPublicKeyInfo")};
    return std::nullopt;
  }
  g_counters.sealed.fetch_add(1, std::memory_order_relaxed);
  cache.spki = *doc->public_key;
  cache.blob_b64 = kp::base64_encode(*sealed);
  return cache.blob_b64;
}

Answer answer(const http::request<http::string_body>& req) {
  if (req.method() != http::verb::post || req.target() != "/") {
    return {404, json_error("UnknownOperationException", "POST / expected")};
  }
  if (req[http::field::authorization].empty()) {
    return {400, json_error("MissingAuthenticationTokenException", "Authorization header missing")};
  }
  std::string_view target = req["X-Amz-Target"];
  std::string_view body = req.body();
  const bool has_recipient = body.find("\"Recipient\"") != std::string_view::npos;

  if (target == "TrentService.Encrypt") {
    return {200, cat({"{\"CiphertextBlob\":\"", g_ciphertext_blob_b64, "\",\"KeyId\":\"", kKeyArn,
                      "\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}"})};
  }
  if (target == "TrentService.Decrypt" || target == "TrentService.GenerateDataKey" ||
      target == "TrentService.GenerateRandom") {
    std::string out = "{";
    if (target != "TrentService.GenerateRandom") {
      out += "\"KeyId\":\"";
      out += kKeyArn;
      out += "\",";
    }
    if (target == "TrentService.Decrypt") {
      out += "\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",";
    }
    if (target == "TrentService.GenerateDataKey") {
      out += cat({"\"CiphertextBlob\":\"", g_ciphertext_blob_b64, "\","});
    }
    if (has_recipient) {
      Answer err;
      auto blob = sealed_for_recipient(body, err);
      if (!blob) {
        return err;
      }
      out += "\"CiphertextForRecipient\":\"";
      out += *blob;
      out += "\"}";
    } else {
      out += cat({"\"Plaintext\":\"", g_plaintext_b64, "\"}"});
    }
    return {200, std::move(out)};
  }
  return {400, json_error("UnsupportedOperationException", "operation not implemented by the stub")};
}

template <class Stream>
asio::awaitable<void> serve_requests(Stream& stream) {
  beast::flat_buffer buffer;
  std::uint64_t request_id = 0;
  for (;;) {
    http::request<http::string_body> req;
    auto [rec, rn] = co_await http::async_read(stream, buffer, req, kNoThrow);
    (void)rn;
    if (rec) {
      co_return;  // EOF, reset, or garbage: just drop the connection
    }
    g_counters.requests.fetch_add(1, std::memory_order_relaxed);
    Answer a = answer(req);
    if (a.status != 200) {
      g_counters.errors.fetch_add(1, std::memory_order_relaxed);
    }
    http::response<http::string_body> res{static_cast<http::status>(a.status), req.version()};
    res.set(http::field::content_type, "application/x-amz-json-1.1");
    res.set("x-amzn-RequestId", cat({"00000000-0000-4000-8000-", std::to_string(++request_id)}));
    res.keep_alive(req.keep_alive());
    res.body() = std::move(a.body);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kNoThrow);
    (void)wn;
    if (wec || !res.keep_alive()) {
      co_return;
    }
  }
}

asio::awaitable<void> plain_session(tcp::socket socket) {
  g_counters.connections.fetch_add(1, std::memory_order_relaxed);
  socket.set_option(tcp::no_delay(true));
  co_await serve_requests(socket);
  boost::system::error_code ec;
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> tls_session(tcp::socket socket, ssl::context& tls) {
  g_counters.connections.fetch_add(1, std::memory_order_relaxed);
  socket.set_option(tcp::no_delay(true));
  ssl::stream<tcp::socket> stream(std::move(socket), tls);
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
  if (hec) {
    co_return;
  }
  co_await serve_requests(stream);
  boost::system::error_code ec;
  stream.next_layer().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, ssl::context* tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      continue;
    }
    auto ex = acceptor.get_executor();
    if (tls != nullptr) {
      asio::co_spawn(ex, tls_session(std::move(socket), *tls), asio::detached);
    } else {
      asio::co_spawn(ex, plain_session(std::move(socket)), asio::detached);
    }
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "kp_kms_stub: %s\nusage: kp_kms_stub --cert PEM --key PEM [--tls-port N] "
               "[--http-port N] [--threads N] [--fresh-seal]\n",
               why);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage("missing value");
      }
      return argv[++i];
    };
    if (a == "--cert") {
      o.cert = value();
    } else if (a == "--key") {
      o.key = value();
    } else if (a == "--tls-port") {
      o.tls_port = static_cast<std::uint16_t>(std::stoul(value()));
    } else if (a == "--http-port") {
      o.http_port = static_cast<std::uint16_t>(std::stoul(value()));
    } else if (a == "--threads") {
      o.threads = static_cast<unsigned>(std::stoul(value()));
    } else if (a == "--fresh-seal") {
      o.fresh_seal = true;
    } else {
      usage("unknown argument");
    }
  }
  if (o.cert.empty() || o.key.empty()) {
    usage("--cert and --key are required");
  }
  if (o.threads == 0) {
    o.threads = 1;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  g_options = parse_args(argc, argv);

  // Fixed payloads: a 32-byte data key and a KMS-sized (184 bytes) blob.
  g_plaintext.assign(32, 0);
  for (std::size_t i = 0; i < g_plaintext.size(); ++i) {
    g_plaintext[i] = static_cast<std::uint8_t>(0xA0 + i);
  }
  g_plaintext_b64 = kp::base64_encode(g_plaintext);
  kp::Bytes blob(184);
  for (std::size_t i = 0; i < blob.size(); ++i) {
    blob[i] = static_cast<std::uint8_t>(i * 7 + 1);
  }
  g_ciphertext_blob_b64 = kp::base64_encode(blob);

  try {
    asio::io_context ioc(static_cast<int>(g_options.threads));
    ssl::context tls(ssl::context::tls_server);
    // TLS 1.3 only: kms-proxy and nginx must pay for the same record protocol
    // (nginx 1.22 stops at TLS 1.2 unless told otherwise; a 1.2 record costs
    // OpenSSL 3.0 fewer instructions), so a reference that fell back to 1.2
    // fails its handshake and shows up as errors instead of as a cheaper run.
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::no_tlsv1_2);
    tls.use_certificate_chain_file(g_options.cert);
    tls.use_private_key_file(g_options.key, ssl::context::pem);

    const auto loopback = asio::ip::make_address("127.0.0.1");
    tcp::acceptor tls_acceptor(ioc, {loopback, g_options.tls_port});
    tcp::acceptor http_acceptor(ioc, {loopback, g_options.http_port});
    asio::co_spawn(ioc, accept_loop(tls_acceptor, &tls), asio::detached);
    asio::co_spawn(ioc, accept_loop(http_acceptor, nullptr), asio::detached);

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });

    std::cout << "ready tls=" << tls_acceptor.local_endpoint().port()
              << " http=" << http_acceptor.local_endpoint().port() << std::endl;

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < g_options.threads; ++i) {
      threads.emplace_back([&ioc] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : threads) {
      t.join();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kp_kms_stub: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "kp_kms_stub: requests=%llu errors=%llu sealed=%llu connections=%llu\n",
               static_cast<unsigned long long>(g_counters.requests.load()),
               static_cast<unsigned long long>(g_counters.errors.load()),
               static_cast<unsigned long long>(g_counters.sealed.load()),
               static_cast<unsigned long long>(g_counters.connections.load()));
  return 0;
}
