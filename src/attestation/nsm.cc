#include "attestation/nsm.h"

#include <algorithm>
#include <array>
#include <limits>

#include "base/encoding.h"
#include "cbor/decoder.h"
#include "cbor/writer.h"

namespace kp::attestation {

namespace {

using cbor::Item;

constexpr std::array<std::string_view, 9> kErrorNames = {
    "Success",         "InvalidArgument", "InvalidIndex",  "InvalidResponse", "ReadOnlyIndex",
    "InvalidOperation", "BufferTooSmall", "InputTooLarge", "InternalError"};

constexpr std::string_view kErrorMarker = "NSM error ";

cbor::Limits message_limits() {
  cbor::Limits l;
  l.max_depth = 4;
  l.max_items = 512;
  l.max_string_bytes = 64 * 1024;
  l.max_entries = 64;
  return l;
}

Error nsm_error(std::string_view op, NsmErrorCode code) {
  return Error{Errc::kNsmFailed, "nsm: " + std::string(op) + ": " + std::string(kErrorMarker) +
                                     std::string(nsm_error_name(code))};
}

Error malformed(std::string_view op, std::string_view what) {
  return Error{Errc::kNsmFailed, "nsm: " + std::string(op) + ": malformed response: " + std::string(what)};
}

void optional_bstr(cbor::Writer& w, const std::optional<Bytes>& v) {
  if (v) {
    w.bstr(*v);
  } else {
    w.null();
  }
}

// The one-entry-map body of a response {op: {...}}, after mapping {"Error": ...}.
Result<Item> response_body(std::string_view op, ByteView response) {
  auto item = cbor::decode(response, message_limits());
  if (!item) {
    return malformed(op, item.error().message);
  }
  const auto* m = item->as_map();
  if (m == nullptr || m->size() != 1 || (*m)[0].key.as_text() == nullptr) {
    return malformed(op, "expected a one-entry map");
  }
  const std::string& name = *(*m)[0].key.as_text();
  const Item& body = (*m)[0].value;
  if (name == "Error") {
    const auto* code = body.as_text();
    if (code == nullptr) {
      return malformed(op, "Error value is not a text string");
    }
    auto c = nsm_error_from_name(*code);
    if (!c) {
      return Error{Errc::kNsmFailed, "nsm: " + std::string(op) + ": unknown NSM error code"};
    }
    return nsm_error(op, *c);
  }
  if (name != op) {
    return malformed(op, "unexpected response variant '" + name + "'");
  }
  if (body.as_map() == nullptr) {
    return malformed(op, "body is not a map");
  }
  return body;
}

Result<Bytes> bytes_member(std::string_view op, const Item& body, std::string_view key) {
  const Item* v = body.find(key);
  if (v == nullptr || v->as_bytes() == nullptr) {
    return malformed(op, "missing byte string '" + std::string(key) + "'");
  }
  return *v->as_bytes();
}

Result<std::uint16_t> u16_member(std::string_view op, const Item& body, std::string_view key) {
  const Item* v = body.find(key);
  if (v == nullptr || !v->as_uint() || *v->as_uint() > std::numeric_limits<std::uint16_t>::max()) {
    return malformed(op, "missing u16 '" + std::string(key) + "'");
  }
  return static_cast<std::uint16_t>(*v->as_uint());
}

Result<std::optional<Bytes>> optional_request_field(const Item& body, std::string_view key) {
  const Item* v = body.find(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<Bytes>{};
  }
  if (v->as_bytes() == nullptr) {
    return Error{Errc::kNsmFailed, "nsm: Attestation: '" + std::string(key) +
                                       "' is not bytes or null: NSM error InvalidArgument"};
  }
  return std::optional<Bytes>(*v->as_bytes());
}

}  // namespace

std::string_view nsm_error_name(NsmErrorCode code) noexcept {
  const auto i = static_cast<std::size_t>(code);
  return i < kErrorNames.size() ? kErrorNames[i] : "InternalError";
}

std::optional<NsmErrorCode> nsm_error_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kErrorNames.size(); ++i) {
    if (kErrorNames[i] == name) {
      return static_cast<NsmErrorCode>(i);
    }
  }
  return std::nullopt;
}

std::optional<NsmErrorCode> nsm_error_code(const Error& e) noexcept {
  if (e.code != Errc::kNsmFailed) {
    return std::nullopt;
  }
  const auto pos = e.message.find(kErrorMarker);
  if (pos == std::string::npos) {
    return std::nullopt;
  }
  std::string_view rest(e.message);
  rest.remove_prefix(pos + kErrorMarker.size());
  const auto end = rest.find_first_not_of(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  return nsm_error_from_name(rest.substr(0, end));
}

// --- requests ---------------------------------------------------------------

Bytes encode_attestation_request(const AttestationRequest& req) {
  cbor::Writer w(64 + (req.public_key ? req.public_key->size() : 0) +
                 (req.user_data ? req.user_data->size() : 0) + (req.nonce ? req.nonce->size() : 0));
  // Field order as declared in nsm-api's Request::Attestation.
  w.map_header(1).tstr("Attestation").map_header(3);
  w.tstr("user_data");
  optional_bstr(w, req.user_data);
  w.tstr("nonce");
  optional_bstr(w, req.nonce);
  w.tstr("public_key");
  optional_bstr(w, req.public_key);
  return std::move(w).take();
}

Bytes encode_describe_nsm_request() { return std::move(cbor::Writer().tstr("DescribeNSM")).take(); }

Bytes encode_describe_pcr_request(std::uint16_t index) {
  cbor::Writer w;
  w.map_header(1).tstr("DescribePCR").map_header(1).tstr("index").uint(index);
  return std::move(w).take();
}

Bytes encode_get_random_request() { return std::move(cbor::Writer().tstr("GetRandom")).take(); }

Result<NsmRequest> decode_request(ByteView request) {
  auto bad = [](std::string what) {
    return Error{Errc::kNsmFailed, "nsm: request: " + std::move(what) + ": NSM error InvalidArgument"};
  };
  auto item = cbor::decode(request, message_limits());
  if (!item) {
    return bad(item.error().message);
  }
  NsmRequest out;
  if (const auto* unit = item->as_text()) {
    out.name = *unit;
    if (*unit == "DescribeNSM") {
      out.kind = NsmRequest::Kind::kDescribeNsm;
    } else if (*unit == "GetRandom") {
      out.kind = NsmRequest::Kind::kGetRandom;
    }
    return out;
  }
  const auto* m = item->as_map();
  if (m == nullptr || m->size() != 1 || (*m)[0].key.as_text() == nullptr ||
      (*m)[0].value.as_map() == nullptr) {
    return bad("expected a text string or a one-entry map");
  }
  out.name = *(*m)[0].key.as_text();
  const Item& body = (*m)[0].value;
  if (out.name == "Attestation") {
    out.kind = NsmRequest::Kind::kAttestation;
    for (auto [key, slot] : {std::pair{"user_data", &out.attestation.user_data},
                             std::pair{"nonce", &out.attestation.nonce},
                             std::pair{"public_key", &out.attestation.public_key}}) {
      auto v = optional_request_field(body, key);
      if (!v) {
        return v.error();
      }
      *slot = std::move(*v);
    }
  } else if (out.name == "DescribePCR") {
    const Item* idx = body.find("index");
    if (idx == nullptr || !idx->as_uint() || *idx->as_uint() > std::numeric_limits<std::uint16_t>::max()) {
      return bad("DescribePCR index is not a u16");
    }
    out.kind = NsmRequest::Kind::kDescribePcr;
    out.index = static_cast<std::uint16_t>(*idx->as_uint());
  }
  return out;
}

// --- responses --------------------------------------------------------------

Bytes encode_attestation_response(ByteView document) {
  cbor::Writer w(document.size() + 32);
  w.map_header(1).tstr("Attestation").map_header(1).tstr("document").bstr(document);
  return std::move(w).take();
}

Bytes encode_describe_nsm_response(const NsmDescription& d) {
  cbor::Writer w;
  // Field order of nsm-api's Response::DescribeNSM.
  w.map_header(1).tstr("DescribeNSM").map_header(7);
  w.tstr("version_major").uint(d.version_major);
  w.tstr("version_minor").uint(d.version_minor);
  w.tstr("version_patch").uint(d.version_patch);
  w.tstr("module_id").tstr(d.module_id);
  w.tstr("max_pcrs").uint(d.max_pcrs);
  w.tstr("locked_pcrs").array_header(d.locked_pcrs.size());
  for (auto p : d.locked_pcrs) {
    w.uint(p);
  }
  w.tstr("digest").tstr(d.digest);
  return std::move(w).take();
}

Bytes encode_describe_pcr_response(const PcrDescription& d) {
  cbor::Writer w;
  w.map_header(1).tstr("DescribePCR").map_header(2).tstr("lock").boolean(d.locked).tstr("data").bstr(
      d.data);
  return std::move(w).take();
}

Bytes encode_get_random_response(ByteView random) {
  cbor::Writer w;
  w.map_header(1).tstr("GetRandom").map_header(1).tstr("random").bstr(random);
  return std::move(w).take();
}

Bytes encode_error_response(NsmErrorCode code) {
  cbor::Writer w;
  w.map_header(1).tstr("Error").tstr(nsm_error_name(code));
  return std::move(w).take();
}

std::optional<NsmErrorCode> decode_error_response(ByteView response) {
  auto item = cbor::decode(response, message_limits());
  if (!item) {
    return std::nullopt;
  }
  const auto* m = item->as_map();
  if (m == nullptr || m->size() != 1 || (*m)[0].key.as_text() == nullptr ||
      *(*m)[0].key.as_text() != "Error" || (*m)[0].value.as_text() == nullptr) {
    return std::nullopt;
  }
  return nsm_error_from_name(*(*m)[0].value.as_text());
}

Result<Bytes> decode_attestation_response(ByteView response) {
  auto body = response_body("Attestation", response);
  if (!body) {
    return body.error();
  }
  return bytes_member("Attestation", *body, "document");
}

Result<NsmDescription> decode_describe_nsm_response(ByteView response) {
  constexpr std::string_view kOp = "DescribeNSM";
  auto body = response_body(kOp, response);
  if (!body) {
    return body.error();
  }
  NsmDescription d;
  for (auto [key, slot] : {std::pair{"version_major", &d.version_major},
                           std::pair{"version_minor", &d.version_minor},
                           std::pair{"version_patch", &d.version_patch},
                           std::pair{"max_pcrs", &d.max_pcrs}}) {
    auto v = u16_member(kOp, *body, key);
    if (!v) {
      return v.error();
    }
    *slot = *v;
  }
  const Item* id = body->find("module_id");
  const Item* digest = body->find("digest");
  const Item* locked = body->find("locked_pcrs");
  if (id == nullptr || id->as_text() == nullptr || digest == nullptr || digest->as_text() == nullptr ||
      locked == nullptr || locked->as_array() == nullptr) {
    return malformed(kOp, "missing module_id, digest or locked_pcrs");
  }
  d.module_id = *id->as_text();
  d.digest = *digest->as_text();
  for (const auto& p : *locked->as_array()) {
    if (!p.as_uint() || *p.as_uint() > std::numeric_limits<std::uint16_t>::max()) {
      return malformed(kOp, "locked_pcrs entry is not a u16");
    }
    d.locked_pcrs.push_back(static_cast<std::uint16_t>(*p.as_uint()));
  }
  return d;
}

Result<PcrDescription> decode_describe_pcr_response(ByteView response) {
  constexpr std::string_view kOp = "DescribePCR";
  auto body = response_body(kOp, response);
  if (!body) {
    return body.error();
  }
  const Item* lock = body->find("lock");
  if (lock == nullptr || !lock->as_bool()) {
    return malformed(kOp, "missing bool 'lock'");
  }
  auto data = bytes_member(kOp, *body, "data");
  if (!data) {
    return data.error();
  }
  return PcrDescription{*lock->as_bool(), std::move(*data)};
}

Result<Bytes> decode_get_random_response(ByteView response) {
  auto body = response_body("GetRandom", response);
  if (!body) {
    return body.error();
  }
  return bytes_member("GetRandom", *body, "random");
}

// --- client -----------------------------------------------------------------

NsmClient::NsmClient(std::shared_ptr<NsmDevice> device) : device_(std::move(device)) {}

Result<Bytes> NsmClient::call(std::string_view op, ByteView request) {
  if (request.size() > kNsmRequestMaxBytes) {
    return Error{Errc::kNsmFailed, "nsm: " + std::string(op) + ": request of " +
                                       std::to_string(request.size()) +
                                       " bytes exceeds 4096: NSM error InputTooLarge"};
  }
  return device_->transact(request);
}

Result<Bytes> NsmClient::attestation(const AttestationRequest& req) {
  for (auto [name, field] : {std::pair{"user_data", &req.user_data}, std::pair{"nonce", &req.nonce},
                             std::pair{"public_key", &req.public_key}}) {
    if (*field && (*field)->size() > kNsmFieldMaxBytes) {
      return Error{Errc::kValidation, "nsm: Attestation: " + std::string(name) + " of " +
                                          std::to_string((*field)->size()) + " bytes exceeds 1024"};
    }
  }
  auto resp = call("Attestation", encode_attestation_request(req));
  if (!resp) {
    return resp.error();
  }
  return decode_attestation_response(*resp);
}

Result<NsmDescription> NsmClient::describe_nsm() {
  auto resp = call("DescribeNSM", encode_describe_nsm_request());
  if (!resp) {
    return resp.error();
  }
  return decode_describe_nsm_response(*resp);
}

Result<PcrDescription> NsmClient::describe_pcr(std::uint16_t index) {
  auto resp = call("DescribePCR", encode_describe_pcr_request(index));
  if (!resp) {
    return resp.error();
  }
  return decode_describe_pcr_response(*resp);
}

Result<Bytes> NsmClient::get_random() {
  auto resp = call("GetRandom", encode_get_random_request());
  if (!resp) {
    return resp.error();
  }
  return decode_get_random_response(*resp);
}

std::vector<std::string> compare_pcrs(NsmClient& nsm, const std::map<unsigned, Bytes>& expected) {
  std::vector<std::string> out;
  for (const auto& [index, want] : expected) {
    const std::string name = "PCR" + std::to_string(index);
    if (index > 0xffff) {
      out.push_back(name + ": no such PCR");
      continue;
    }
    auto have = nsm.describe_pcr(static_cast<std::uint16_t>(index));
    if (!have) {
      out.push_back(name + ": cannot be read from the NSM: " + have.error().message);
    } else if (have->data != want) {
      const bool zero = std::all_of(have->data.begin(), have->data.end(), [](std::uint8_t b) { return b == 0; });
      out.push_back(name + " is " + hex_encode(have->data) + ", expected " + hex_encode(want) +
                    (zero && index <= 2 ? " (all zeros: an enclave started with --debug-mode)" : ""));
    }
  }
  return out;
}

}  // namespace kp::attestation
