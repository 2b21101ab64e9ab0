#include "kms/rewrite.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "base/encoding.h"

namespace kp::kms {

namespace json = boost::json;

namespace {

constexpr std::string_view kRecipient = "Recipient";
constexpr std::string_view kCiphertextForRecipient = "CiphertextForRecipient";

// SAX handler: validates the whole document and records what add_recipient
// needs (is the root an object, how many members, is there a top-level
// "Recipient"), without building a DOM.
class RecipientScan {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  bool root_is_object = false;
  bool has_recipient = false;          // a root "Recipient" whose value is not null
  std::size_t own_recipients = 0;      // root "Recipient" members that are not null
  std::size_t null_recipients = 0;     // root "Recipient": null members
  std::size_t root_members = 0;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) {
    value(false);
    return enter();
  }
  bool on_array_end(std::size_t, json::error_code&) { return leave(); }
  bool on_object_begin(json::error_code&) {
    if (depth_ == 0) {
      root_is_object = true;
    }
    value(false);
    return enter();
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    if (depth_ == 1) {
      root_members = n;
    }
    return leave();
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return value(false); }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return value(false); }
  // Keys may arrive in parts; `n` is the key's size so far. Only root-level
  // keys of the right length are collected.
  bool on_key_part(json::string_view s, std::size_t n, json::error_code&) {
    if (depth_ == 1 && n <= kRecipient.size()) {
      key_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, json::error_code&) {
    if (depth_ == 1 && n == kRecipient.size()) {
      key_.append(s.data(), s.size());
      recipient_value_next_ = key_ == kRecipient;
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return value(false); }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return value(false); }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return value(false); }
  bool on_double(double, json::string_view, json::error_code&) { return value(false); }
  bool on_bool(bool, json::error_code&) { return value(false); }
  bool on_null(json::error_code&) { return value(true); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool enter() {
    ++depth_;
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }
  // Every value (or its first part) passes here; at the root level the one
  // after a "Recipient" key decides: null is as good as absent (KMS reads it
  // so), anything else is the app's own Recipient.
  bool value(bool is_null) {
    if (depth_ == 1 && recipient_value_next_) {
      recipient_value_next_ = false;
      if (is_null) {
        ++null_recipients;
      } else {
        has_recipient = true;
        ++own_recipients;
      }
    }
    return true;
  }

  std::size_t depth_ = 0;
  bool recipient_value_next_ = false;
  std::string key_;  // at most kRecipient.size() chars: stays in SSO, no allocation
};

using ScanResult = RequestScan;

kp::Result<ScanResult> scan(std::string_view body) {
  json::basic_parser<RecipientScan> parser{json::parse_options{}};
  json::error_code ec;
  const std::size_t n = parser.write_some(false, body.data(), body.size(), ec);
  if (ec || n != body.size()) {
    return kp::fail(Errc::kMalformedRequest, "kms: request body is not valid JSON");
  }
  const RecipientScan& h = parser.handler();
  if (!h.root_is_object) {
    return kp::fail(Errc::kMalformedRequest, "kms: request body is not a JSON object");
  }
  // Two root "Recipient" members, one of them not null: parsers disagree on
  // which one counts (KMS's may take the last, this scan the first), so the
  // proxy would decide about attesting on a member KMS does not read.
  if (h.own_recipients > 0 && h.own_recipients + h.null_recipients > 1) {
    return kp::fail(Errc::kMalformedRequest, "kms: request body has more than one Recipient member");
  }
  ScanResult r;
  r.has_recipient = h.has_recipient;
  r.null_recipients = h.null_recipients;
  r.empty_object = h.root_members == h.null_recipients;
  // The document is a valid object, so the first non-whitespace byte is '{'.
  r.brace = body.find_first_not_of(" \t\r\n");
  return r;
}

constexpr std::array<bool, 256> make_base64_chars() {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  t['+'] = t['/'] = t['='] = true;
  return t;
}
constexpr auto kBase64Chars = make_base64_chars();

// Only guards the splice against characters that would break the JSON string
// (the document comes from our own NSM client, already base64-encoded).
bool is_base64_text(std::string_view s) noexcept {
  if (s.empty() || s.size() % 4 != 0) {
    return false;
  }
  bool ok = true;
  for (const char c : s) {
    ok &= kBase64Chars[static_cast<unsigned char>(c)];
  }
  return ok;
}

constexpr std::string_view kMemberHead =
    R"("Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":")";
constexpr std::string_view kMemberTail = R"("})";

// --- Walking the root object's members in the text ---------------------------
//
// For removing "Recipient": null from a request and for copying the members of
// KMS's response byte for byte. Runs only on text Boost.JSON already accepted
// as an object (valid JSON, no comments), so a small walker is enough; it
// still checks every bound and reports text that is not what it should be.

constexpr std::size_t kNpos = std::string_view::npos;

std::size_t skip_ws(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) {
    ++i;
  }
  return i;
}

// `i` at the opening quote; returns the offset after the closing one.
std::size_t skip_string(std::string_view s, std::size_t i) noexcept {
  if (i >= s.size() || s[i] != '"') {
    return kNpos;
  }
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return kNpos;
}

// `i` at the first byte of a value; returns the offset after it.
std::size_t skip_value(std::string_view s, std::size_t i) noexcept {
  if (i >= s.size()) {
    return kNpos;
  }
  if (s[i] == '"') {
    return skip_string(s, i);
  }
  if (s[i] != '{' && s[i] != '[') {  // number, true, false, null
    while (i < s.size() && std::string_view(",}] \t\r\n").find(s[i]) == kNpos) {
      ++i;
    }
    return i;
  }
  std::size_t depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = skip_string(s, i);
      if (i == kNpos) {
        return kNpos;
      }
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
    ++i;
  }
  return kNpos;
}

// Whether a root key (quotes included) reads `name` once unescaped.
bool key_is(std::string_view quoted, std::string_view name) {
  if (quoted.find('\\') == kNpos) {
    return quoted.substr(1, quoted.size() - 2) == name;
  }
  json::error_code ec;
  const json::value v = json::parse(quoted, ec);
  return !ec && v.is_string() && v.get_string() == name;
}

struct RootMember {
  std::string_view key;    // quoted, as in the input
  std::string_view value;  // as in the input
  std::string_view text;   // key through value
};

// Calls on_member(RootMember) for each member of the object whose '{' is at
// `brace`, in order; returns the offset of its closing '}', or kNpos if the
// text is not the object it should be (bounds are checked throughout).
template <class F>
std::size_t for_each_root_member(std::string_view s, std::size_t brace, F&& on_member) {
  if (brace >= s.size() || s[brace] != '{') {
    return kNpos;
  }
  std::size_t i = skip_ws(s, brace + 1);
  while (i < s.size() && s[i] != '}') {
    const std::size_t key = i;
    const std::size_t key_end = skip_string(s, key);
    if (key_end == kNpos) {
      return kNpos;
    }
    std::size_t v = skip_ws(s, key_end);
    if (v >= s.size() || s[v] != ':') {
      return kNpos;
    }
    v = skip_ws(s, v + 1);
    const std::size_t v_end = skip_value(s, v);
    if (v_end == kNpos) {
      return kNpos;
    }
    on_member(RootMember{s.substr(key, key_end - key), s.substr(v, v_end - v), s.substr(key, v_end - key)});
    i = skip_ws(s, v_end);
    if (i < s.size() && s[i] == ',') {
      i = skip_ws(s, i + 1);
    }
  }
  return i < s.size() ? i : kNpos;
}

// Rewrites `body` without its root "Recipient": null members. The members
// kept are copied byte for byte; the whitespace between members is not kept.
kp::Result<void> erase_null_recipients(std::string& body, std::size_t brace) {
  const std::string_view s = body;
  std::string out;
  out.reserve(s.size());
  out.append(s.substr(0, brace + 1));
  bool first = true;
  const std::size_t close = for_each_root_member(s, brace, [&](const RootMember& m) {
    if (m.value == "null" && key_is(m.key, kRecipient)) {
      return;
    }
    if (!first) {
      out.push_back(',');
    }
    out.append(m.text);
    first = false;
  });
  if (close == kNpos) {
    return kp::fail(Errc::kInternal, "kms: insert_recipient needs the scan of this body");
  }
  out.append(s.substr(close));  // '}' and whatever whitespace follows
  secure_wipe(body.data(), body.size());
  body.swap(out);
  return {};
}

// Writes `member` ("Recipient":{...}) right after the root '{' of `body`,
// whose scan is `s`, removing any "Recipient": null first.
kp::Result<void> splice(std::string& body, const RequestScan& s, std::string_view member) {
  if (s.has_recipient || s.brace >= body.size() || body[s.brace] != '{') {
    return kp::fail(Errc::kInternal, "kms: insert_recipient needs the scan of this body");
  }
  if (s.null_recipients > 0) {
    if (auto r = erase_null_recipients(body, s.brace); !r) {
      return r.error();
    }
  }
  // Grow once, shift the tail once, then write the member into the gap.
  const bool comma = !s.empty_object;
  const std::size_t at = s.brace + 1;
  const std::size_t gap = member.size() + (comma ? 1 : 0);
  const std::size_t tail = body.size() - at;
  body.resize(body.size() + gap);
  std::memmove(body.data() + at + gap, body.data() + at, tail);
  std::memcpy(body.data() + at, member.data(), member.size());
  if (comma) {
    body[at + member.size()] = ',';
  }
  return {};
}

}  // namespace

kp::Result<RecipientMember> RecipientMember::make(std::string_view attestation_doc_base64) {
  if (!is_base64_text(attestation_doc_base64)) {
    return kp::fail(Errc::kInternal, "kms: attestation document is empty or not base64 text");
  }
  std::string text;
  text.reserve(1 + kMemberHead.size() + attestation_doc_base64.size() + kMemberTail.size());
  text.push_back('{');
  text += kMemberHead;
  text += attestation_doc_base64;
  text += kMemberTail;
  return RecipientMember(std::move(text));
}

kp::Result<RequestScan> scan_request(std::string_view body) { return scan(body); }

kp::Result<void> insert_recipient(std::string& body, const RequestScan& s, const RecipientMember& member) {
  return splice(body, s, member.member());
}

kp::Result<void> insert_recipient(std::string& body, const RequestScan& s,
                                  std::string_view attestation_doc_base64) {
  auto member = RecipientMember::make(attestation_doc_base64);
  if (!member) {
    return member.error();
  }
  return splice(body, s, member->member());
}

kp::Result<bool> add_recipient_in_place(std::string& body, std::string_view attestation_doc_base64) {
  auto member = RecipientMember::make(attestation_doc_base64);
  if (!member) {
    return member.error();
  }
  auto s = scan(body);
  if (!s) {
    return s.error();
  }
  if (s->has_recipient) {
    return true;
  }
  if (auto r = splice(body, *s, member->member()); !r) {
    return r.error();
  }
  return false;
}

kp::Result<RecipientRewrite> add_recipient(std::string_view body, std::string_view attestation_doc_base64) {
  RecipientRewrite out;
  out.body.assign(body);
  auto had = add_recipient_in_place(out.body, attestation_doc_base64);
  if (!had) {
    return had.error();
  }
  out.already_had_recipient = *had;
  return out;
}

namespace {

// Whether every number in `v` is finite. Recursion depth is bounded by the
// parser's nesting limit (json::parse_options::max_depth, 32 by default).
bool all_numbers_finite(const json::value& v) {
  if (const double* d = v.if_double()) {
    return std::isfinite(*d);
  }
  if (const json::object* o = v.if_object()) {
    return std::all_of(o->begin(), o->end(),
                       [](const json::key_value_pair& kv) { return all_numbers_finite(kv.value()); });
  }
  if (const json::array* a = v.if_array()) {
    return std::all_of(a->begin(), a->end(), [](const json::value& e) { return all_numbers_finite(e); });
  }
  return true;
}

}  // namespace

kp::Result<std::string> open_recipient_response(std::string_view upstream_body, AttestedOp op,
                                                const CmsDecryptFn& decrypt) {
  // 1. Parse into a DOM backed by a stack buffer (spills to the heap only
  //    for large responses). It holds no secret: KMS sends the plaintext
  //    field null/empty when a Recipient was given.
  unsigned char arena[8192];
  json::monotonic_resource mr(arena, sizeof arena);
  json::error_code ec;
  const json::value doc = json::parse(upstream_body, ec, json::storage_ptr(&mr));
  if (ec) {
    return kp::fail(Errc::kUpstreamProtocol, "kms: upstream 200 response is not valid JSON");
  }
  const json::object* obj = doc.if_object();
  if (obj == nullptr) {
    return kp::fail(Errc::kUpstreamProtocol, "kms: upstream 200 response is not a JSON object");
  }
  // Boost.JSON 1.81 reads numbers beyond the double range (1e400, and 0e309
  // as NaN) as non-finite doubles, which its serializer writes as the bare
  // words Infinity / NaN: the body given to the client would not be JSON.
  // KMS responses carry no such numbers, so this one is malformed.
  if (!all_numbers_finite(doc)) {
    return kp::fail(Errc::kUpstreamProtocol, "kms: upstream 200 response has a number outside the double range");
  }

  // 2. CiphertextForRecipient: present, a string, base64, 1..6144 bytes.
  const auto cfr_it = obj->find(kCiphertextForRecipient);
  if (cfr_it == obj->end()) {
    return kp::fail(Errc::kCmsInvalid, "kms: upstream response has no CiphertextForRecipient");
  }
  const json::string* cfr_b64 = cfr_it->value().if_string();
  if (cfr_b64 == nullptr) {
    return kp::fail(Errc::kCmsInvalid, "kms: CiphertextForRecipient is not a JSON string");
  }
  if (cfr_b64->size() > kp::base64_encoded_size(kMaxCiphertextForRecipient)) {
    return kp::fail(Errc::kCmsInvalid, "kms: CiphertextForRecipient is larger than 6144 bytes");
  }
  const auto cms = kp::base64_decode(std::string_view(cfr_b64->data(), cfr_b64->size()));
  if (!cms) {
    return kp::fail(Errc::kCmsInvalid, "kms: CiphertextForRecipient is not valid base64");
  }
  if (cms->empty() || cms->size() > kMaxCiphertextForRecipient) {
    return kp::fail(Errc::kCmsInvalid, "kms: CiphertextForRecipient decodes to " + std::to_string(cms->size()) +
                                           " bytes, outside 1..6144");
  }

  // 3. Decrypt (crypto module); errors pass through unchanged.
  auto plaintext = decrypt(kp::ByteView(*cms));
  if (!plaintext) {
    return plaintext.error();
  }

  // 4. Every other member copied byte for byte from KMS's text (no number
  //    goes through a double and back), then the plaintext member last.
  //    Capacity for the whole output is reserved before any secret byte is
  //    written, so the string never reallocates while it holds the plaintext.
  const std::string_view field = plaintext_field(op);
  const std::size_t b64_size = kp::base64_encoded_size(plaintext->size());
  std::string out;
  // '{' + members + ',' + '"' + field + '":"' + base64 + '"}'
  out.reserve(upstream_body.size() + field.size() + b64_size + 8);
  out.push_back('{');
  const std::size_t close = for_each_root_member(
      upstream_body, upstream_body.find_first_not_of(" \t\r\n"), [&](const RootMember& m) {
        if (key_is(m.key, kCiphertextForRecipient) || key_is(m.key, field)) {
          return;
        }
        if (out.size() > 1) {
          out.push_back(',');
        }
        out.append(m.text);
      });
  if (close == kNpos) {  // the DOM parse above accepted it: not expected
    return kp::fail(Errc::kInternal, "kms: cannot walk the upstream response's members");
  }
  const std::size_t needed = out.size() + 1 + 1 + field.size() + 3 + b64_size + 2;
  if (out.capacity() < needed) {
    out.reserve(needed);  // cannot happen (members only shrink); still no secret in it
  }
  if (out.size() > 1) {
    out.push_back(',');
  }
  out.push_back('"');
  out += field;
  out += "\":\"";
  kp::base64_encode_append(plaintext->view(), out);
  out += "\"}";
  return out;
}

}  // namespace kp::kms
