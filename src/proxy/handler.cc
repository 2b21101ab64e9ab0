#include "proxy/handler.h"

#include <spdlog/spdlog.h>

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>

#include "attestation/document.h"
#include "base/encoding.h"
#include "base/error.h"
#include "base/time_format.h"
#include "crypto/cms.h"
#include "crypto/random.h"
#include "crypto/rsa_key.h"
#include "kms/errors.h"
#include "kms/operations.h"
#include "kms/rewrite.h"
#include "net/http_server.h"
#include "net/upstream_client.h"
#include "proxy/attestation_source.h"
#include "proxy/clock_skew.h"
#include "credentials/provider.h"
#include "proxy/metrics.h"
#include "proxy/routing.h"
#include "sigv4/signer.h"

namespace kp::proxy {

namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

namespace {

constexpr std::string_view kJsonType = "application/x-amz-json-1.1";
constexpr std::string_view kTargetPrefix = "TrentService.";

HttpResponse error_response(const Error& e) {
  const auto h = to_http(e.code);
  return make_error_response(h.status, h.type, e.message);
}

bool is_json_content_type(std::string_view ct) {
  // application/x-amz-json-1.1 (SDKs), also accept 1.0 and parameters.
  const auto semi = ct.find(';');
  std::string_view base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') {
    base.remove_suffix(1);
  }
  return iequals(base, "application/x-amz-json-1.1") || iequals(base, "application/x-amz-json-1.0");
}

// On AccessDenied for an attested call, tell the operator which measurements
// were attested so the key policy can be fixed (never logs the document).
void warn_access_denied(std::string_view op, const Attestation& doc) {
  auto parsed = attestation::parse_document(doc.document);
  if (!parsed) {
    spdlog::warn("kms: AccessDeniedException for attested {}; attested document unreadable: {}", op,
                 parsed.error().message);
    return;
  }
  auto pcr = [&](unsigned i) -> std::string {
    auto it = parsed->pcrs.find(i);
    return it == parsed->pcrs.end() ? std::string("absent") : hex_encode(it->second);
  };
  auto is_zero = [&](unsigned i) {
    auto it = parsed->pcrs.find(i);
    if (it == parsed->pcrs.end()) {
      return true;
    }
    for (auto b : it->second) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  };
  const bool debug = is_zero(0) && is_zero(1) && is_zero(2);
  // GenerateRandom names no key: its conditions live in IAM policies.
  const std::string_view where = op == "GenerateRandom" ? "the caller's IAM policy's" : "the key policy's";
  spdlog::warn(
      "kms: AccessDeniedException for attested {}: check {} "
      "kms:RecipientAttestation conditions against the attested measurements: "
      "PCR0 (ImageSha384)={} PCR1={} PCR2={} PCR3={} PCR4={} PCR8={}{}",
      op, where, pcr(0), pcr(1), pcr(2), pcr(3), pcr(4), pcr(8),
      debug ? " -- PCR0/1/2 are all zero: this is a debug-mode enclave, which production key "
              "policies reject"
            : "");
}

}  // namespace

ProxyHandler::ProxyHandler(HandlerOptions opts, HandlerDeps deps)
    : opts_(std::move(opts)), deps_(deps), routes_(opts_.upstream) {}

const Clock& ProxyHandler::signing_clock() const noexcept {
  return deps_.skew != nullptr ? deps_.skew->clock() : SystemClock::instance();
}

bool ProxyHandler::check_clock(const HttpResponse& resp, SysTime signed_at) {
  if (deps_.skew == nullptr) {
    return false;
  }
  const auto date_field = resp.headers.get("Date");
  if (!date_field) {
    return false;
  }
  const auto date = parse_http_date(*date_field, deps_.skew->machine().now());
  if (!date) {
    return false;
  }
  if (const auto change = deps_.skew->observe(*date)) {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    const auto to_s = duration_cast<seconds>(change->to).count();
    spdlog::warn(
        "clock: KMS's Date ({}) puts this machine's clock {} s {}; signing with a correction of {:+} s from now on "
        "(was {:+} s). Synchronise the enclave's clock to remove it",
        format_http_date(*date), to_s < 0 ? -to_s : to_s, to_s < 0 ? "ahead" : "behind", to_s,
        duration_cast<seconds>(change->from).count());
    if (deps_.metrics != nullptr) {
      deps_.metrics->clock_offset(change->to);
    }
  }
  if (resp.status != 400 && resp.status != 401 && resp.status != 403) {
    return false;
  }
  if (!ClockSkew::signed_far_from(signed_at, *date)) {
    return false;
  }
  const auto err = kms::parse_error_body(resp.body, resp.headers.get("x-amzn-ErrorType").value_or(""));
  return err && kms::is_clock_skew_error(err->type);
}

asio::awaitable<HttpResponse> ProxyHandler::handle(HttpRequest req) {
  const auto t0 = Steady::now();
  // The server cancels a request whose client left (net::HttpServer): its
  // line says 499, nginx's "client closed request", whatever the cut step
  // made of it, and nobody reads the answer. A cut at the end of the
  // shutdown grace is answered 503 (ServiceUnavailable: SDKs retry it),
  // whatever step was cut.
  const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  const auto cut = [&] { return cancellation.cancelled() != asio::cancellation_type::none; };
  const auto stopping = [&] { return deps_.stopping != nullptr && deps_.stopping->load(std::memory_order_relaxed); };
  const auto client_left = [&] { return cut() && !stopping(); };
  PhaseTimes times;
  std::string_view target = req.headers.get("X-Amz-Target").value_or("");
  const kms::OperationInfo* const op_info = kms::find_target_operation(target);
  const std::string_view op_name = op_info != nullptr ? op_info->name : std::string_view("Other");

  auto finish = [&](HttpResponse resp, std::string_view request_id) {
    times.total = Steady::now() - t0;
    const unsigned status = client_left() ? 499 : resp.status;
    if (deps_.metrics != nullptr) {
      const auto ops = kms::all_operations();
      deps_.metrics->record(op_info != nullptr ? static_cast<std::size_t>(op_info - ops.data()) : ops.size(), status,
                            times);
    }
    if (!spdlog::should_log(spdlog::level::info)) {
      return resp;
    }
    using std::chrono::duration_cast;
    using us = std::chrono::microseconds;
    spdlog::info("request op={} status={} attest_us={} upstream_us={} decrypt_us={} total_us={} request_id={}",
                 op_name, status, duration_cast<us>(times.attestation).count(),
                 duration_cast<us>(times.upstream).count(), duration_cast<us>(times.decryption).count(),
                 duration_cast<us>(times.total).count(),
                 request_id.empty() ? std::string("-") : kms::loggable_request_id(request_id));
    return resp;
  };
  // The proxy's own failures: the reason goes to the app in the body and to
  // the operator here (messages never carry bodies or secrets).
  // The answer carries a request id of the proxy's own making, as KMS's do:
  // the app's SDK reports it (boto3's ResponseMetadata.RequestId) and the
  // proxy's log lines name it.
  auto fail_with = [&](const Error& cause) {
    const Error e = cut() && stopping()
                        ? Error{Errc::kShuttingDown,
                                "proxy: stopping: the request was cut at the end of the shutdown grace period (" +
                                    cause.message + "); retry"}
                        : cause;
    const std::string request_id = crypto::random_uuid();
    if (!client_left()) {  // else the step failed because it was cut: the 499 line says it
      spdlog::warn("proxy error op={} type={} reason={} request_id={}", op_name, to_http(e.code).type, e.message,
                   request_id);
    }
    HttpResponse resp = error_response(e);
    resp.headers.set("x-amzn-RequestId", request_id);
    return finish(std::move(resp), request_id);
  };

  // --- 1. Validate the local request -------------------------------------
  if (req.method != "POST") {
    co_return fail_with(Error{Errc::kMalformedRequest,
                              "proxy: KMS requests are POST /, got " + req.method.substr(0, 16)});
  }
  if (req.target != "/") {
    co_return fail_with(Error{Errc::kMalformedRequest, "proxy: KMS requests use the path /"});
  }
  if (target.empty()) {
    co_return fail_with(Error{Errc::kUnknownOperation, "proxy: missing X-Amz-Target header"});
  }
  if (op_info == nullptr) {
    co_return fail_with(Error{Errc::kUnknownOperation,
                              "proxy: unknown X-Amz-Target (expected TrentService.<KMS operation>)"});
  }
  if (auto ct = req.headers.get("Content-Type"); !ct || !is_json_content_type(*ct)) {
    co_return fail_with(Error{Errc::kUnsupportedMediaType,
                              "proxy: Content-Type must be application/x-amz-json-1.1"});
  }
  auto region = region_for_request(opts_.upstream.default_region, req);
  if (!region) {
    co_return fail_with(region.error());
  }
  Route scratch_route;  // for a region not resolved at start-up
  const Route& route = routes_.find(*region, scratch_route);

  // --- 2. Attach an attestation document (attested operations) ----------
  const auto attested = kms::attested_op(target);
  std::shared_ptr<const Attestation> doc;
  std::string body = std::move(req.body);
  net::ScopedWipe wipe_body(body);  // every way out, a thrown cancellation included
  if (attested && deps_.attestation != nullptr) {
    // AWS JSON services read a request without a payload as {} (the SDKs
    // always send {}); so does the proxy, and KMS names what is missing.
    if (body.empty()) {
      body = "{}";
    }
    // A body that already carries a Recipient is the app's own attestation:
    // forward it unchanged and leave the response alone.
    auto scan = kms::scan_request(body);
    if (!scan) {
      secure_wipe(body.data(), body.size());
      co_return fail_with(scan.error());
    }
    if (!scan->has_recipient) {
      const auto ta = Steady::now();
      auto got = co_await deps_.attestation->get();
      times.attestation = Steady::now() - ta;
      if (!got) {
        secure_wipe(body.data(), body.size());
        co_return fail_with(got.error());
      }
      if (auto ins = kms::insert_recipient(body, *scan, (*got)->recipient); !ins) {
        secure_wipe(body.data(), body.size());
        co_return fail_with(ins.error());
      }
      doc = std::move(*got);
    }
  }

  // --- 3. Re-sign with the proxy's own credentials ----------------------
  auto creds = co_await deps_.credentials->get();
  if (!creds) {
    secure_wipe(body.data(), body.size());
    co_return fail_with(creds.error());
  }
  HttpRequest up;
  up.method = "POST";
  up.target = "/";
  // A fresh message with distinct names: add(), not set() (no search).
  up.headers.add("Host", route.host_field);
  up.headers.add("Content-Type", kJsonType);
  // The model's spelling: the client's may differ in case (accepted above).
  if (target.size() == kTargetPrefix.size() + op_name.size() && target.starts_with(kTargetPrefix) &&
      target.ends_with(op_name)) {
    up.headers.add("X-Amz-Target", target);  // already the model's spelling
  } else {
    std::string spelled(kTargetPrefix);
    spelled += op_name;
    up.headers.add("X-Amz-Target", spelled);
  }
  if (auto ua = req.headers.get("User-Agent")) {
    up.headers.add("User-Agent", *ua);
  }
  up.body = std::move(body);
  net::ScopedWipe wipe_up(up.body);  // Encrypt & co. carry plaintext
  sigv4::SignOptions sign_opts;
  sign_opts.region = *region;
  sign_opts.service = "kms";
  // An attested body starts with "{" and the document's Recipient member:
  // its hash resumes after them (checked byte for byte, else hashed whole).
  std::optional<sigv4::PayloadHash> payload_hash;
  if (doc) {
    payload_hash = doc->body_prefix_hash.hash(up.body);
    if (payload_hash) {
      sign_opts.payload_hash = &*payload_hash;
    }
  }

  // --- 4. Upstream: signed with the corrected clock; signed again and sent
  //        once more when KMS refused the signature's time -------------------
  const auto tu = Steady::now();
  std::optional<Result<HttpResponse>> sent;
  for (int attempt = 0;; ++attempt) {
    sign_opts.time = signing_clock().now();
    if (auto signed_ok = sigv4::sign_request(up, **creds, sign_opts); !signed_ok) {
      co_return fail_with(signed_ok.error());
    }
    sent = co_await deps_.upstream->send_borrowed(route.endpoint, up, kms::replay_safe(op_name));
    const bool refused_for_time = *sent && check_clock(**sent, sign_opts.time);
    if (!refused_for_time || attempt > 0) {
      break;
    }
    if (deps_.metrics != nullptr) {
      deps_.metrics->clock_skew_retry();
    }
  }
  times.upstream = Steady::now() - tu;
  Result<HttpResponse>& upstream = *sent;
  if (!upstream) {
    co_return fail_with(upstream.error());
  }
  HttpResponse& uresp = *upstream;
  // Views uresp's headers, which stay as they are until the end.
  const std::string_view request_id = uresp.headers.get("x-amzn-RequestId").value_or("");

  HttpResponse out;
  out.status = uresp.status;
  out.headers.add("Content-Type", uresp.headers.get("Content-Type").value_or(kJsonType));
  if (!request_id.empty()) {
    out.headers.add("x-amzn-RequestId", request_id);
  }
  // Some SDKs (JavaScript v3, Go v2) read an error's code from this header
  // before the body's "__type".
  const auto error_type =
      uresp.status != 200 ? uresp.headers.get("x-amzn-ErrorType") : std::optional<std::string_view>();
  if (error_type) {
    out.headers.add("x-amzn-ErrorType", *error_type);
  }

  // --- 5. Open CiphertextForRecipient -------------------------------------
  if (doc && uresp.status == 200) {
    const auto td = Steady::now();
    auto opened = kms::open_recipient_response(
        uresp.body, *attested, [&](ByteView cms) { return crypto::open_enveloped(cms, *deps_.key); });
    times.decryption = Steady::now() - td;
    if (!opened) {
      spdlog::warn("proxy error op={} type={} reason={}", op_name, to_http(opened.error().code).type,
                   opened.error().message);
      HttpResponse failed = error_response(opened.error());
      if (!request_id.empty()) {  // KMS did answer: its id lets AWS support find the call
        failed.headers.set("x-amzn-RequestId", request_id);
      }
      co_return finish(std::move(failed), request_id);
    }
    out.body = std::move(*opened);
    out.sensitive_body = true;
    co_return finish(std::move(out), request_id);
  }
  if (doc && uresp.status != 200) {
    if (auto err = kms::parse_error_body(uresp.body, error_type.value_or(""));
        err && err->type == "AccessDeniedException") {
      warn_access_denied(op_name, *doc);
    }
  }
  out.body = std::move(uresp.body);
  // Decrypt & co. return plaintext even when passed through (no attestation).
  out.sensitive_body = attested.has_value();
  co_return finish(std::move(out), request_id);
}

}  // namespace kp::proxy
