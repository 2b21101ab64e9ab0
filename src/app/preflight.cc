#include "app/preflight.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <future>
#include <utility>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/secret.h"
#include "crypto/ec.h"
#include "kms/errors.h"
#include "net/io_pool.h"
#include "net/upstream_client.h"
#include "sigv4/credentials.h"
#include "sigv4/signer.h"

namespace kp::app {

namespace {

namespace json = boost::json;

constexpr std::string_view kJsonType = "application/x-amz-json-1.1";
constexpr std::size_t kRandomBytes = 32;

std::string quoted(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 256));
  out += '\'';
  return out;
}

// "TYPE: message" of an error answer (the proxy's own or KMS's).
kms::KmsErrorInfo error_of(const HttpResponse& resp) {
  auto info = kms::parse_error_body(resp.body, resp.headers.get("x-amzn-ErrorType").value_or(""));
  if (!info) {
    return {"HTTP " + std::to_string(resp.status), "an answer that is not a KMS error"};
  }
  return *info;
}

// An error message from the far end, fit for a terminal: control characters
// (escape sequences included) become '?', and it is cut at 512 bytes.
std::string printable(std::string_view s) {
  constexpr std::size_t kMax = 512;
  std::string out(s.substr(0, kMax));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      c = '?';
    }
  }
  if (s.size() > kMax) {
    out += "...";
  }
  return out;
}

std::string describe(const kms::KmsErrorInfo& e) {
  return e.message.empty() ? e.type : e.type + ": " + printable(e.message);
}

bool is_credentials_error(std::string_view type) {
  static constexpr std::array<std::string_view, 7> kTypes = {
      "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
      "ExpiredTokenException",       "InvalidClientTokenId",      "SignatureDoesNotMatch",
      "MissingAuthenticationToken"};
  for (auto t : kTypes) {
    if (t == type) {
      return true;
    }
  }
  return false;
}

bool mentions_attestation(std::string_view message) {
  return message.find("ttestation") != std::string_view::npos || message.find("Recipient") != std::string_view::npos;
}

// A hint for an error that is not specific to the step that met it. The
// proxy's own failures carry KMSProxy* types (base/error.cc).
std::string common_hint(const kms::KmsErrorInfo& e, bool attested) {
  if (is_credentials_error(e.type)) {
    return "KMS refused the proxy's credentials: check the role or keys the proxy uses "
           "(credentials= in the line above) and the enclave's clock";
  }
  if (e.type == "KMSProxyCredentialsException") {
    return "the proxy has no credentials: see docs/troubleshooting.md (IMDS hop limit, container "
           "credentials endpoint, environment)";
  }
  if (e.type == "KMSProxyUpstreamException" || e.type == "KMSProxyTimeoutException" ||
      e.type == "KMSProxyEgressException") {
    return "the proxy could not complete the call to KMS: check the endpoint, the route (vsock-proxy "
           "on the parent, egress allow list) and the CA bundle";
  }
  if (e.type == "KMSProxyCheckError") {
    return "the proxy did not answer within --timeout: KMS (or the NSM) is slow or unreachable; a --timeout "
           "longer than upstream.timeouts.request gets the proxy's own error, which names the step";
  }
  if (e.type == "KMSProxyAttestationException") {
    return "no attestation document: check the NSM device (attestation.device) or the simulator's PKI";
  }
  if (attested && e.type == "ValidationException" && mentions_attestation(e.message)) {
    return "KMS refused the attestation document: outside a Nitro Enclave (simulated attestation) only "
           "kms-emulator with --trust-root accepts it; inside one, check the NSM and the clock";
  }
  return {};
}

}  // namespace

std::string_view to_string(CheckStatus s) noexcept {
  switch (s) {
    case CheckStatus::kOk: return "ok";
    case CheckStatus::kWarn: return "warn";
    case CheckStatus::kFail: return "FAIL";
  }
  return "FAIL";
}

std::string report_json(const PreflightReport& report) {
  json::array checks;
  for (const auto& l : report.lines) {
    json::object o;
    o["status"] = l.status == CheckStatus::kOk ? "ok" : l.status == CheckStatus::kWarn ? "warn" : "fail";
    o["subject"] = l.subject;
    o["detail"] = l.detail;
    o["hint"] = l.hint;
    checks.push_back(std::move(o));
  }
  json::object doc;
  doc["ok"] = report.ok();
  doc["checks"] = std::move(checks);
  return json::serialize(doc);
}

bool PreflightReport::ok() const noexcept {
  for (const auto& l : lines) {
    if (l.status == CheckStatus::kFail) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> region_of_key_arn(std::string_view key_id) {
  // arn:PARTITION:kms:REGION:ACCOUNT:key/ID | alias/NAME
  if (!key_id.starts_with("arn:")) {
    return std::nullopt;
  }
  std::array<std::string_view, 4> parts{};
  std::string_view rest = key_id.substr(4);
  for (auto& p : parts) {
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    p = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  }
  if (parts[1] != "kms" || parts[2].empty()) {
    return std::nullopt;
  }
  return std::string(parts[2]);
}

CheckLine judge_generate_random(const HttpResponse& resp, bool attested) {
  CheckLine line;
  line.subject = attested ? "attestation + KMS" : "KMS";
  if (resp.status == 200) {
    boost::system::error_code ec;
    const json::value v = json::parse(resp.body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    const json::value* p = o != nullptr ? o->if_contains("Plaintext") : nullptr;
    std::optional<SecretBytes> bytes;
    if (p != nullptr && p->is_string()) {
      bytes = base64_decode_secret(std::string_view(p->as_string()));
    }
    if (!bytes || bytes->size() != kRandomBytes) {
      line.status = CheckStatus::kFail;
      line.detail = "GenerateRandom answered 200 without the expected 32-byte Plaintext";
      return line;
    }
    line.status = CheckStatus::kOk;
    line.detail = attested ? "GenerateRandom with this enclave's attestation document: KMS accepted the "
                             "document and the proxy decrypted CiphertextForRecipient (32 bytes)"
                           : "GenerateRandom without attestation (attestation: none): the credentials "
                             "and the route to KMS work";
    return line;
  }
  const auto e = error_of(resp);
  line.detail = "GenerateRandom: " + describe(e);
  if (e.type == "AccessDeniedException") {
    // GenerateRandom uses no key: only IAM can refuse it.
    line.status = CheckStatus::kWarn;
    line.hint = "the proxy's role may not call kms:GenerateRandom (an IAM permission), so this step "
                "could not show whether KMS accepts the attestation document; the key checks below can";
    return line;
  }
  line.status = CheckStatus::kFail;
  line.hint = common_hint(e, attested);
  return line;
}

bool is_checkable_operation(std::string_view op) noexcept {
  return op == "Decrypt" || op == "GenerateDataKey" || op == "GenerateDataKeyPair" || op == "DeriveSharedSecret";
}

std::optional<KeyFacts> key_facts_of(const HttpResponse& describe_key) {
  if (describe_key.status != 200) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(describe_key.body, ec);
  const json::object* meta = nullptr;
  if (!ec && doc.is_object()) {
    if (const auto* m = doc.as_object().if_contains("KeyMetadata"); m != nullptr) {
      meta = m->if_object();
    }
  }
  if (meta == nullptr) {
    return std::nullopt;
  }
  KeyFacts facts;
  const auto text = [&](std::string_view name) {
    const auto* v = meta->if_contains(name);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  facts.key_spec = text("KeySpec");
  facts.key_usage = text("KeyUsage");
  if (const auto* algs = meta->if_contains("EncryptionAlgorithms"); algs != nullptr && algs->is_array()) {
    for (const auto& a : algs->as_array()) {
      if (a.is_string()) {
        facts.encryption_algorithms.emplace_back(a.as_string());
      }
    }
  }
  return facts;
}

namespace {

// For a KEY_AGREEMENT or ENCRYPT_DECRYPT key.
bool key_can(const KeyFacts& facts, std::string_view op) {
  if (facts.key_usage == "KEY_AGREEMENT") {
    return op == "DeriveSharedSecret";
  }
  const bool symmetric = facts.key_spec.empty() || facts.key_spec == "SYMMETRIC_DEFAULT";
  return op == "Decrypt" || (symmetric && (op == "GenerateDataKey" || op == "GenerateDataKeyPair"));
}

}  // namespace

std::vector<std::string> operations_for(const std::optional<KeyFacts>& facts,
                                        const std::vector<std::string>& requested,
                                        std::vector<std::string>* not_applicable) {
  std::vector<std::string> defaults{facts && facts->key_usage == "KEY_AGREEMENT" ? "DeriveSharedSecret"
                                                                                  : "Decrypt"};
  if (requested.empty()) {
    return defaults;
  }
  if (!facts || facts->key_usage.empty()) {
    return requested;
  }
  if (facts->key_usage != "KEY_AGREEMENT" && facts->key_usage != "ENCRYPT_DECRYPT") {
    return requested;  // a signing or MAC key does none of them: KMS's own refusal says so
  }
  std::vector<std::string> out;
  for (const auto& op : requested) {
    if (key_can(*facts, op)) {
      out.push_back(op);
    } else if (not_applicable != nullptr) {
      not_applicable->push_back(op);
    }
  }
  return out.empty() ? defaults : out;
}

std::optional<std::string> decrypt_algorithm_for(const std::optional<KeyFacts>& facts) {
  if (!facts || facts->key_spec.empty() || facts->key_spec == "SYMMETRIC_DEFAULT" ||
      facts->encryption_algorithms.empty()) {
    return std::nullopt;  // KMS's default (SYMMETRIC_DEFAULT) is right
  }
  const auto& algs = facts->encryption_algorithms;
  if (std::find(algs.begin(), algs.end(), "RSAES_OAEP_SHA_256") != algs.end()) {
    return std::string("RSAES_OAEP_SHA_256");
  }
  return algs.front();
}

CheckLine judge_dry_run(std::string_view op, std::string_view key_id, std::string_view region,
                        const HttpResponse& resp, bool attested) {
  CheckLine line;
  line.subject = "key " + std::string(key_id.substr(0, 256));
  if (op != "Decrypt") {
    line.subject += " (" + std::string(op) + ")";
  }
  const auto e = error_of(resp);
  if (resp.status == 412 && e.type == "DryRunOperationException") {
    line.status = CheckStatus::kOk;
    line.detail = std::string(op) +
                  (attested ? " is allowed for this enclave (KMS answered a DryRun with "
                              "DryRunOperationException: the request would have succeeded)"
                            : " is allowed for these credentials without attestation (DryRun)");
    return line;
  }
  line.status = CheckStatus::kFail;
  if (resp.status == 200) {
    line.detail = std::string(op) + " with DryRun answered 200: KMS (or the endpoint) ignored DryRun";
    return line;
  }
  line.detail = std::string(op) + " would fail: " + describe(e);
  if (e.type == "AccessDeniedException") {
    line.hint = attested ? "the key policy (or the role's IAM policy) does not allow this enclave: compare "
                           "them with its measurements, e.g. kms-proxy attest --out doc.cbor; "
                           "kms-proxy policy-check --policy key-policy.json --attestation doc.cbor"
                         : "the key policy (or the role's IAM policy) does not allow these credentials";
  } else if (e.type == "NotFoundException") {
    line.hint = "no such key in this account in region " + quoted(region) +
                ": check the id or alias, the account and the region";
  } else if (e.type == "DisabledException" || e.type == "KMSInvalidStateException") {
    line.hint = "the key exists but cannot be used now (disabled or pending deletion)";
  } else if (e.type == "InvalidKeyUsageException") {
    line.hint = "the key is not for " + std::string(op) +
                " (its KeyUsage or KeySpec), or check could not tell which algorithm or operation this key "
                "takes because DescribeKey was refused: allow kms:DescribeKey to these credentials, or "
                "name the operation the app really calls (--operation)";
  } else {
    line.hint = common_hint(e, attested);
  }
  return line;
}

namespace {

// What an SDK would send: JSON 1.1, signed (with throwaway credentials: the
// proxy drops the signature and signs with its own) so that the proxy reads
// the region from the credential scope.
Result<HttpRequest> make_request(std::string_view op, std::string body, const std::string& region,
                                 std::string_view authority) {
  HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.headers.set("Host", authority);
  req.headers.set("Content-Type", kJsonType);
  req.headers.set("X-Amz-Target", "TrentService." + std::string(op));
  req.headers.set("User-Agent", "kms-proxy-check");
  req.body = std::move(body);
  sigv4::Credentials creds{"AKIDKMSPROXYCHECK", SecretBytes::copy_of(std::string_view("not-a-secret")), {}, {}};
  sigv4::SignOptions so;
  so.region = region;
  so.time = SystemClock::instance().now();
  if (auto s = sigv4::sign_request(req, creds, so); !s) {
    return s.error();
  }
  return req;
}

// The check could not get an answer from its own proxy (a timeout, most
// likely: --timeout is shorter than the proxy's own deadlines).
HttpResponse no_answer(std::string_view authority, std::string_view why) {
  return make_error_response(504, "KMSProxyCheckError",
                             "no answer from the proxy on " + std::string(authority) + ": " + std::string(why));
}

}  // namespace

Result<PreflightReport> preflight(config::Config cfg, DaemonExtras extras, const PreflightOptions& opts,
                                  const std::function<void(const CheckLine&)>& on_line) {
  // Never collide with a proxy already serving on the configured ports.
  cfg.listen.port = 0;
  cfg.metrics.listen.reset();
  extras.announce_chosen_ports = false;
  const bool attested = cfg.attestation.mode != config::AttestationMode::kNone;
  // GenerateRandom goes to the default region, else to the first key ARN's.
  const std::string region = cfg.upstream.default_region.value_or(
      opts.key_ids.empty() ? std::string() : region_of_key_arn(opts.key_ids.front()).value_or(""));

  auto daemon = Daemon::create(cfg, std::move(extras));
  if (!daemon) {
    return daemon.error();
  }
  auto port = (*daemon)->start();
  if (!port) {
    return port.error();
  }
  PreflightReport report;
  auto emit = [&](CheckLine l) {
    if (on_line) {
      on_line(l);
    }
    report.lines.push_back(std::move(l));
  };
  emit(CheckLine{CheckStatus::kOk, "proxy", "started: " + (*daemon)->description(), {}});

  // The client side runs on its own thread, as an app would.
  net::IoPool client_pool(1);
  std::optional<net::UpstreamClient> client;
  net::UpstreamOptions client_opts;
  client_opts.response_timeout = opts.timeout;
  client_opts.max_idle_per_endpoint = 1;
  client.emplace(client_pool, std::move(client_opts));
  client_pool.run();
  // The configured loopback host (127.0.0.1, ::1 or localhost), any free port.
  const std::string& host = cfg.listen.host;
  const net::Endpoint ep("http", host, *port);
  const std::string authority =
      (host.find(':') != std::string::npos && !host.starts_with('[') ? "[" + host + "]" : host) + ":" +
      std::to_string(*port);
  auto call = [&](std::string_view op, std::string body, const std::string& r) -> HttpResponse {
    auto req = make_request(op, std::move(body), r, authority);
    if (!req) {
      return no_answer(authority, req.error().message);
    }
    try {
      auto fut =
          boost::asio::co_spawn(client_pool.next(), client->send(ep, std::move(*req)), boost::asio::use_future);
      auto got = fut.get();
      if (!got && got.error().code == Errc::kUpstreamTimeout) {
        // Its own client's message would name the proxy's port as the silent
        // "upstream": the proxy was still working on it.
        return no_answer(authority, "nothing within --timeout (" + std::to_string(opts.timeout.count()) +
                                        " ms): the proxy was still waiting for KMS or the NSM");
      }
      if (!got) {
        return no_answer(authority, got.error().message);
      }
      return std::move(*got);
    } catch (const std::exception& e) {
      return no_answer(authority, e.what());
    }
  };

  if (region.empty()) {
    emit(CheckLine{CheckStatus::kFail, attested ? "attestation + KMS" : "KMS",
                   "no region to ask: the configuration has none and no key ARN names one",
                   "give --region (or kms_proxy.region, AWS_REGION) or a key ARN"});
  } else {
    HttpResponse r = call("GenerateRandom", R"({"NumberOfBytes":32})", region);
    emit(judge_generate_random(r, attested));
    secure_wipe(r.body.data(), r.body.size());
  }

  json::object context;  // the same for every key check
  for (const auto& [k, v] : opts.encryption_context) {
    context[k] = v;
  }
  for (const auto& key : opts.key_ids) {
    const std::string r = region_of_key_arn(key).value_or(region);
    if (r.empty()) {
      emit(CheckLine{CheckStatus::kFail, "key " + key.substr(0, 256), "no region for this key id",
                     "give its ARN, or --region"});
      continue;
    }
    // What kind of key it is, when the credentials may ask (DescribeKey,
    // passed through): an asymmetric key's Decrypt must name its algorithm,
    // and a key-agreement key is checked with DeriveSharedSecret.
    std::optional<KeyFacts> facts;
    HttpResponse described;
    {
      json::object body;
      body["KeyId"] = key;
      described = call("DescribeKey", json::serialize(body), r);
      facts = key_facts_of(described);
    }
    std::vector<std::string> skipped;
    const std::vector<std::string> ops = operations_for(facts, opts.operations, &skipped);
    // Said once, on the key's first line: --operation asked for something
    // this kind of key cannot do (not a failure of the enclave's access).
    std::string skipped_note;
    if (!skipped.empty()) {
      skipped_note = " (not checked: ";
      for (std::size_t i = 0; i < skipped.size(); ++i) {
        skipped_note += (i == 0 ? "" : ", ") + skipped[i];
      }
      skipped_note += ", not an operation of this " + facts->key_usage + " " + facts->key_spec + " key)";
    }
    const auto judged = [&](CheckLine line) {
      line.detail += skipped_note;
      skipped_note.clear();
      emit(std::move(line));
    };
    if (error_of(described).type == "KMSProxyCheckError") {
      // No answer at all (the proxy or KMS is silent): the checks would
      // wait as long again for nothing; each gets this answer.
      for (const auto& op : ops) {
        judged(judge_dry_run(op, key, r, described, attested));
      }
      continue;
    }
    for (const auto& op : ops) {
      json::object body;
      body["KeyId"] = key;
      body["DryRun"] = true;
      if (op == "Decrypt") {
        // Ignored with IGNORE_CIPHERTEXT; sent for endpoints that still require it.
        body["CiphertextBlob"] = "AA==";
        body["DryRunModifiers"] = json::array{"IGNORE_CIPHERTEXT"};
        if (auto alg = decrypt_algorithm_for(facts)) {
          body["EncryptionAlgorithm"] = *alg;
        }
      } else if (op == "GenerateDataKey") {
        body["KeySpec"] = "AES_256";
      } else if (op == "GenerateDataKeyPair") {
        body["KeyPairSpec"] = "ECC_NIST_P256";
      } else if (op == "DeriveSharedSecret") {
        // A fresh public key on the key's curve (P-256 when DescribeKey
        // could not say which, or the key is not an EC key: KMS then says
        // why it refuses): KMS checks it before it answers the DryRun.
        auto spec = facts ? crypto::key_pair_spec_from_name(facts->key_spec) : std::nullopt;
        if (!spec || !crypto::is_ecc(*spec)) {
          spec = crypto::KeyPairSpec::kEccNistP256;
        }
        auto pair = crypto::generate_key_pair(*spec);
        if (!pair) {
          judged(CheckLine{CheckStatus::kFail, "key " + key.substr(0, 256) + " (DeriveSharedSecret)",
                           "cannot make a public key to send: " + pair.error().message, {}});
          continue;
        }
        body["KeyAgreementAlgorithm"] = "ECDH";
        body["PublicKey"] = base64_encode(pair->public_key_spki);
      }
      if (!context.empty() && op != "DeriveSharedSecret") {  // it takes no encryption context
        body["EncryptionContext"] = context;
      }
      judged(judge_dry_run(op, key, r, call(op, json::serialize(body), r), attested));
    }
  }

  client.reset();
  client_pool.stop();
  client_pool.join();
  // Every answer is in (or was given up on after --timeout): nothing left
  // worth waiting for, so no grace period.
  (*daemon)->stop(std::chrono::milliseconds(0));
  return report;
}

}  // namespace kp::app
