// KmsEmulator: request framing (target, content type, SigV4, JSON, model
// validation), dispatch to the operation files, and response/error shapes.
#include "emulator/emulator.h"

#include <algorithm>
#include <array>
#include <utility>

#include <boost/json.hpp>

#include "attestation/verifier.h"
#include "base/time_format.h"
#include "emulator/internal.h"
#include "emulator/validation.h"
#include "kms/operations.h"
#include "sigv4/verify.h"

namespace kp::emulator {

namespace json = boost::json;

namespace {

constexpr std::string_view kContentType = "application/x-amz-json-1.1";

struct OperationEntry {
  std::string_view name;
  Operation fn;
};

// Every operation the emulator implements; the model knows the rest and they
// get UnsupportedOperationException naming them.
constexpr std::array kOperations = {
    OperationEntry{"CancelKeyDeletion", &op_cancel_key_deletion},
    OperationEntry{"CreateAlias", &op_create_alias},
    OperationEntry{"CreateKey", &op_create_key},
    OperationEntry{"Decrypt", &op_decrypt},
    OperationEntry{"DeleteAlias", &op_delete_alias},
    OperationEntry{"DeriveSharedSecret", &op_derive_shared_secret},
    OperationEntry{"DescribeKey", &op_describe_key},
    OperationEntry{"DisableKey", &op_disable_key},
    OperationEntry{"EnableKey", &op_enable_key},
    OperationEntry{"Encrypt", &op_encrypt},
    OperationEntry{"GenerateDataKey", &op_generate_data_key},
    OperationEntry{"GenerateDataKeyPair", &op_generate_data_key_pair},
    OperationEntry{"GenerateDataKeyPairWithoutPlaintext", &op_generate_data_key_pair_without_plaintext},
    OperationEntry{"GenerateDataKeyWithoutPlaintext", &op_generate_data_key_without_plaintext},
    OperationEntry{"GenerateRandom", &op_generate_random},
    OperationEntry{"GetKeyPolicy", &op_get_key_policy},
    OperationEntry{"GetKeyRotationStatus", &op_get_key_rotation_status},
    OperationEntry{"GetPublicKey", &op_get_public_key},
    OperationEntry{"ListAliases", &op_list_aliases},
    OperationEntry{"ListGrants", &op_list_grants},
    OperationEntry{"ListKeyPolicies", &op_list_key_policies},
    OperationEntry{"ListKeys", &op_list_keys},
    OperationEntry{"ListResourceTags", &op_list_resource_tags},
    OperationEntry{"PutKeyPolicy", &op_put_key_policy},
    OperationEntry{"ReEncrypt", &op_re_encrypt},
    OperationEntry{"ScheduleKeyDeletion", &op_schedule_key_deletion},
    OperationEntry{"Sign", &op_sign},
    OperationEntry{"TagResource", &op_tag_resource},
    OperationEntry{"UntagResource", &op_untag_resource},
    OperationEntry{"UpdateAlias", &op_update_alias},
    OperationEntry{"UpdateKeyDescription", &op_update_key_description},
    OperationEntry{"Verify", &op_verify},
};

Operation find_operation(std::string_view name) {
  for (const auto& e : kOperations) {
    if (e.name == name) {
      return e.fn;
    }
  }
  return nullptr;
}

HttpResponse error_response(const Error& e) {
  const auto h = to_http(e.code);
  return make_error_response(h.status, h.type, e.message);
}

bool content_type_ok(const HttpRequest& req) {
  const auto ct = req.headers.get("Content-Type");
  if (!ct) {
    return true;  // lenient: curl-style callers; every SDK sends it
  }
  std::string_view v = *ct;
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') {
    v.remove_suffix(1);
  }
  return iequals(v, kContentType) || iequals(v, "application/x-amz-json-1.0") || iequals(v, "application/json");
}

}  // namespace

KmsEmulator::KmsEmulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KmsEmulator::~KmsEmulator() = default;

Result<std::unique_ptr<KmsEmulator>> KmsEmulator::open(EmulatorOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock != nullptr ? options.clock : &SystemClock::instance();
  auto store = Store::open(options.data_dir);
  if (!store) {
    return store.error();
  }
  impl->store = std::move(*store);
  impl->trust_roots = attestation::default_trusted_roots();
  for (const auto& r : options.extra_trust_roots_der) {
    impl->trust_roots.push_back(r);
  }
  (void)Model::embedded();  // parse the table now, not on the first request
  impl->options = std::move(options);
  return std::unique_ptr<KmsEmulator>(new KmsEmulator(std::move(impl)));
}

HttpResponse KmsEmulator::handle(const HttpRequest& request) {
  Impl& e = *impl_;
  const std::string request_id = random_uuid();
  const auto respond = [&](HttpResponse r) {
    r.headers.set("Content-Type", kContentType);
    r.headers.set("x-amzn-RequestId", request_id);
    r.headers.set("Date", format_http_date(e.clock->now()));  // the emulator's time, as KMS sends its own
    return r;
  };

  if (request.method != "POST") {
    return respond(error_response(fail(Errc::kMalformedRequest, "kms-emulator: only POST is supported")));
  }
  // X-Amz-Target goes through the parser the proxy uses (kp::kms), so both
  // agree on what names an operation.
  const auto target = kms::parse_target(request.headers.get("X-Amz-Target").value_or(""));
  if (!target) {
    return respond(error_response(target.error()));
  }
  const std::string op(*target);
  if (!content_type_ok(request)) {
    return respond(error_response(fail(Errc::kUnsupportedMediaType, "Unsupported Content-Type; expected " +
                                                                        std::string(kContentType))));
  }

  Caller caller{e.options.default_account, "arn:aws:iam::" + e.options.default_account + ":root"};
  if (e.options.credentials) {
    const auto& creds = *e.options.credentials;
    auto lookup = [&creds](std::string_view akid) -> std::optional<SecretBytes> {
      for (const auto& c : creds) {
        if (c.access_key_id == akid) {
          return c.secret_access_key.clone();
        }
      }
      return std::nullopt;
    };
    auto who = sigv4::verify_request(request, lookup, e.clock->now());
    if (!who) {
      return respond(error_response(who.error()));
    }
    if (who->service != "kms") {
      return respond(error_response(
          fail(Errc::kInvalidSignature, "Credential should be scoped to correct service: 'kms'. ")));
    }
    if (who->region != e.options.region) {
      return respond(error_response(fail(Errc::kInvalidSignature, "Credential should be scoped to a valid region. ")));
    }
    const auto it = std::find_if(creds.begin(), creds.end(),
                                 [&](const Credential& c) { return c.access_key_id == who->access_key_id; });
    caller = Caller{it->account, it->principal_arn};
  }
  caller.request_time = e.clock->now();
  caller.secure_transport = e.options.secure_transport;

  const Model& model = Model::embedded();
  if (!model.has_operation(op)) {  // kp::kms and our table derive from the same model
    return respond(error_response(fail(Errc::kUnknownOperation, "Unknown operation " + op)));
  }
  const Operation fn = find_operation(op);
  if (fn == nullptr) {
    return respond(error_response(fail(Errc::kUnsupportedOperation, "kms-emulator does not implement " + op)));
  }

  json::value body;
  if (!request.body.empty()) {
    boost::system::error_code ec;
    body = json::parse(request.body, ec);
    if (ec) {
      return respond(error_response(fail(Errc::kMalformedRequest, "Malformed JSON request body")));
    }
  } else {
    body = json::object();
  }
  if (!body.is_object()) {
    return respond(error_response(fail(Errc::kMalformedRequest, "Request body must be a JSON object")));
  }
  json::object& in = body.as_object();
  if (auto v = validate_request(model, op, in); !v) {
    return respond(error_response(v.error()));
  }
  {
    std::lock_guard<std::mutex> lock(e.mu);
    e.purge_expired_locked();
  }

  Result<Reply> reply = fail(Errc::kInternal, "");
  try {
    reply = fn(e, caller, in);
  } catch (const std::exception&) {
    reply = fail(Errc::kInternal, "kms-emulator: internal error in " + op);
  }
  if (!reply) {
    return respond(error_response(reply.error()));
  }
  if (reply->dry_run) {
    return respond(make_error_response(412, "DryRunOperationException",
                                       "The request would have succeeded, but the DryRun parameter was set."));
  }
  HttpResponse out;
  out.status = 200;
  out.sensitive_body = reply->sensitive();
  out.body = reply->take_body();
  return respond(std::move(out));
}

}  // namespace kp::emulator
