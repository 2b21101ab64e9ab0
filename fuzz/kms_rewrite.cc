// Fuzz target: the KMS body rewrites and parsers the proxy runs on client and
// upstream bytes: add_recipient / add_recipient_in_place / scan_request +
// insert_recipient (client request body), open_recipient_response with a
// stub CMS decryptor (upstream 200 body), parse_error_body (upstream error
// body) and the X-Amz-Target parsers.
// The input is the body; the attested operation is chosen by size % 5.
// Properties checked against an independent Boost.JSON DOM parse:
//  * add_recipient accepts exactly the JSON objects, less those with two
//    root "Recipient" members one of which is not null (counted by a second,
//    simpler SAX handler here); the result is a JSON object equal to the
//    input plus a "Recipient" member with our document, unless the input
//    already had one (then it is returned unchanged);
//  * add_recipient_in_place and scan_request + insert_recipient (the
//    proxy's path) agree with it byte for byte;
//  * open_recipient_response output is a JSON object with the plaintext
//    member = base64(stub plaintext), no CiphertextForRecipient, and every
//    other member of the input unchanged; decryptor errors pass through.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "base/encoding.h"
#include "base/error.h"
#include "base/secret.h"
#include "fuzz_util.h"
#include "kms/errors.h"
#include "kms/operations.h"
#include "kms/rewrite.h"

namespace {

namespace json = boost::json;
using kp::kms::AttestedOp;

// Any base64 text will do: the rewrite treats the document as opaque.
constexpr std::string_view kDocB64 = "hEShATgioFkQ1KlpbW9kdWxlX2lkeCdpLTA5MThmNmM1NWUzYjYxZDg5LWVuYzAx";

// Structural equality where NaN equals NaN (Boost.JSON 1.81 parses some
// numbers, e.g. "0e309", to NaN, and NaN != NaN under json::value ==), and
// where doubles a few ulps apart are equal: Boost.JSON 1.81's number parsing
// is not correctly rounded, and the same digits come out differently
// depending on what follows them ("922337203685.77579}" and
// "922337203685.77579," parse two ulps apart, neither the nearest double).
// The rewrite copies members byte for byte, so such a difference is the
// oracle's parser, not the code under test; a member the rewrite changed
// would differ in kind, in structure or by far more than 1e-12.
bool same(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || (std::isnan(x) && std::isnan(y)) ||
           std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.is_object() && b.is_object()) {
    const json::object& oa = a.get_object();
    const json::object& ob = b.get_object();
    if (oa.size() != ob.size()) {
      return false;
    }
    for (const auto& kv : oa) {
      const json::value* other = ob.if_contains(kv.key());
      if (other == nullptr || !same(kv.value(), *other)) {
        return false;
      }
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    const json::array& xa = a.get_array();
    const json::array& xb = b.get_array();
    if (xa.size() != xb.size()) {
      return false;
    }
    for (std::size_t i = 0; i < xa.size(); ++i) {
      if (!same(xa[i], xb[i])) {
        return false;
      }
    }
    return true;
  }
  return a == b;
}

bool has_non_finite(const json::value& v) {
  if (v.is_double()) {
    return !std::isfinite(v.get_double());
  }
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      if (has_non_finite(kv.value())) {
        return true;
      }
    }
  } else if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      if (has_non_finite(e)) {
        return true;
      }
    }
  }
  return false;
}

// Counts the root object's "Recipient" members, null and not null: keys are
// assembled whole and compared after unescaping, as any JSON reader sees them.
struct RootRecipients {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  int depth = 0;
  bool next_is_recipient = false;
  std::string key;
  std::size_t nulls = 0;
  std::size_t others = 0;

  bool value(bool is_null) {
    if (depth == 1 && next_is_recipient) {
      ++(is_null ? nulls : others);
    }
    next_is_recipient = false;
    return true;
  }
  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return value(false) && ++depth > 0; }
  bool on_array_end(std::size_t, json::error_code&) { return --depth >= 0; }
  bool on_object_begin(json::error_code&) { return value(false) && ++depth > 0; }
  bool on_object_end(std::size_t, json::error_code&) { return --depth >= 0; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return value(false); }
  bool on_key_part(json::string_view k, std::size_t, json::error_code&) {
    key.append(k.data(), k.size());
    return true;
  }
  bool on_key(json::string_view k, std::size_t, json::error_code&) {
    key.append(k.data(), k.size());
    next_is_recipient = depth == 1 && key == "Recipient";
    key.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return value(false); }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return value(false); }
  bool on_double(double, json::string_view, json::error_code&) { return value(false); }
  bool on_bool(bool, json::error_code&) { return value(false); }
  bool on_null(json::error_code&) { return value(true); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// Whether `body` (a valid JSON object) has two root "Recipient" members, one
// of them not null: the requests the rewrite refuses.
bool ambiguous_recipient(std::string_view body) {
  json::basic_parser<RootRecipients> parser{json::parse_options{}};
  json::error_code ec;
  parser.write_some(false, body.data(), body.size(), ec);
  const RootRecipients& h = parser.handler();
  return !ec && h.others > 0 && h.nulls + h.others > 1;
}

std::optional<json::value> dom(std::string_view s) {
  json::error_code ec;
  json::value v = json::parse(s, ec);
  if (ec) {
    return std::nullopt;
  }
  return v;
}

void check_add_recipient(std::string_view body) {
  auto r = kp::kms::add_recipient(body, kDocB64);
  const auto original = dom(body);
  const bool is_object = original && original->is_object();
  const bool ambiguous = is_object && ambiguous_recipient(body);
  KP_FUZZ_CHECK(r.has_value() == (is_object && !ambiguous));
  std::string in_place(body);
  auto ip = kp::kms::add_recipient_in_place(in_place, kDocB64);
  KP_FUZZ_CHECK(ip.has_value() == r.has_value());
  if (!r) {
    KP_FUZZ_CHECK(r.error().code == kp::Errc::kMalformedRequest);
    KP_FUZZ_CHECK(!kp::kms::scan_request(body).has_value());
    KP_FUZZ_CHECK(in_place == body);
    return;
  }
  KP_FUZZ_CHECK(*ip == r->already_had_recipient);
  KP_FUZZ_CHECK(in_place == r->body);
  // The proxy's path: scan_request, then insert_recipient when needed.
  auto scan = kp::kms::scan_request(body);
  KP_FUZZ_CHECK(scan.has_value());
  KP_FUZZ_CHECK(scan->has_recipient == r->already_had_recipient);
  KP_FUZZ_CHECK(scan->brace < body.size() && body[scan->brace] == '{');
  if (!scan->has_recipient) {
    std::string spliced(body);
    auto ins = kp::kms::insert_recipient(spliced, *scan, kDocB64);
    KP_FUZZ_CHECK(ins.has_value());
    KP_FUZZ_CHECK(spliced == r->body);
  }
  const json::object& before = original->as_object();
  // "Recipient": null counts as absent. The DOM keeps one of duplicate keys,
  // so it bounds the answer from both sides rather than giving it.
  const json::value* own = before.if_contains("Recipient");
  if (own != nullptr && !own->is_null()) {
    KP_FUZZ_CHECK(r->already_had_recipient);
  }
  if (!r->already_had_recipient) {
    KP_FUZZ_CHECK(own == nullptr || own->is_null());
  }
  if (r->already_had_recipient) {
    KP_FUZZ_CHECK(r->body == body);
    return;
  }
  auto after = dom(r->body);
  KP_FUZZ_CHECK(after && after->is_object());
  json::object rest = after->as_object();
  const json::value* rec = rest.if_contains("Recipient");
  KP_FUZZ_CHECK(rec != nullptr && rec->is_object());
  const json::object& ro = rec->as_object();
  KP_FUZZ_CHECK(ro.size() == 2);
  KP_FUZZ_CHECK(ro.contains("AttestationDocument") && ro.at("AttestationDocument") == kDocB64.data());
  KP_FUZZ_CHECK(ro.contains("KeyEncryptionAlgorithm") &&
                ro.at("KeyEncryptionAlgorithm") == "RSAES_OAEP_SHA_256");
  rest.erase("Recipient");
  json::object expected = before;
  expected.erase("Recipient");
  KP_FUZZ_CHECK(same(rest, expected));
}

// Stub decryptor: refuses blobs starting with 0xff (as the crypto module
// would), otherwise "decrypts" to the first up to 64 bytes reversed.
kp::Result<kp::SecretBytes> stub_decrypt(kp::ByteView cms) {
  if (cms.empty()) {
    return kp::fail(kp::Errc::kInternal, "fuzz: decrypt called with an empty blob");
  }
  if (cms[0] == 0xff) {
    return kp::fail(kp::Errc::kCmsDecryptFailed, "fuzz: stub refuses");
  }
  const std::size_t n = std::min<std::size_t>(cms.size(), 64);
  kp::Bytes out(cms.rbegin() + static_cast<std::ptrdiff_t>(cms.size() - n), cms.rend());
  return kp::SecretBytes::take(std::move(out));
}

void check_open_response(std::string_view body, AttestedOp op) {
  std::optional<std::string> expected_b64;
  int calls = 0;
  const kp::kms::CmsDecryptFn decrypt = [&](kp::ByteView cms) {
    ++calls;
    KP_FUZZ_CHECK(!cms.empty() && cms.size() <= kp::kms::kMaxCiphertextForRecipient);
    auto r = stub_decrypt(cms);
    if (r) {
      expected_b64 = kp::base64_encode(r->view());
    }
    return r;
  };
  auto out = kp::kms::open_recipient_response(body, op, decrypt);
  KP_FUZZ_CHECK(calls <= 1);
  const auto original = dom(body);
  if (!out) {
    const kp::Errc c = out.error().code;
    KP_FUZZ_CHECK(c == kp::Errc::kUpstreamProtocol || c == kp::Errc::kCmsInvalid ||
                  c == kp::Errc::kCmsDecryptFailed);
    // Numbers Boost.JSON reads as NaN/Infinity (1e400, 0e309) cannot be
    // serialised as JSON again: such bodies are malformed upstream responses.
    KP_FUZZ_CHECK((c == kp::Errc::kUpstreamProtocol) ==
                  !(original && original->is_object() && !has_non_finite(*original)));
    KP_FUZZ_CHECK(c != kp::Errc::kCmsDecryptFailed || calls == 1);
    return;
  }
  KP_FUZZ_CHECK(calls == 1 && expected_b64.has_value());
  KP_FUZZ_CHECK(original && original->is_object());
  const std::string_view field = kp::kms::plaintext_field(op);
  auto after = dom(*out);
  KP_FUZZ_CHECK(after && after->is_object());
  json::object rest = after->as_object();
  KP_FUZZ_CHECK(!rest.contains("CiphertextForRecipient"));
  const json::value* pt = rest.if_contains(field);
  KP_FUZZ_CHECK(pt != nullptr && pt->is_string());
  KP_FUZZ_CHECK(std::string_view(pt->as_string()) == *expected_b64);
  rest.erase(field);
  json::object before = original->as_object();
  before.erase("CiphertextForRecipient");
  before.erase(field);
  KP_FUZZ_CHECK(same(rest, before));
}

void check_error_body(std::string_view body) {
  for (const std::string_view header : {std::string_view{}, std::string_view{"kms#Throttling:x"}}) {
    const auto info = kp::kms::parse_error_body(body, header);
    if (info) {
      KP_FUZZ_CHECK(!info->type.empty());
      KP_FUZZ_CHECK(info->type.find(':') == std::string::npos);
      KP_FUZZ_CHECK(info->type.find('#') == std::string::npos);
    }
  }
  (void)kp::kms::sanitize_error_type(body);
}

void check_target(std::string_view target) {
  auto name = kp::kms::parse_target(target);
  const auto quick = kp::kms::operation_name(target);
  KP_FUZZ_CHECK(name.has_value() == quick.has_value());
  if (name) {
    KP_FUZZ_CHECK(*name == *quick);
    KP_FUZZ_CHECK(kp::kms::find_operation(*name) != nullptr);
    KP_FUZZ_CHECK(kp::kms::operation_name_at(kp::kms::operation_index(*name)) == *name);
  } else {
    KP_FUZZ_CHECK(name.error().code == kp::Errc::kUnknownOperation);
  }
  if (const auto op = kp::kms::attested_op(target)) {
    KP_FUZZ_CHECK(name.has_value());
    KP_FUZZ_CHECK(kp::kms::canonical_name(*op) == *name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto op = static_cast<AttestedOp>(size % 5);
  check_add_recipient(body);
  check_open_response(body, op);
  check_error_body(body);
  check_target(body);
  return 0;
}
