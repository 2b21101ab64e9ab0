#include "attestation/document.h"

#include <algorithm>
#include <string_view>

#include "cbor/decoder.h"

namespace kp::attestation {

namespace {

using cbor::Item;

// Real documents are ~4.5 KB with ~60 items; these bounds are generous for
// legitimate input and tight for hostile input.
cbor::Limits document_limits() {
  cbor::Limits l;
  l.max_depth = 4;
  l.max_items = 1024;
  l.max_string_bytes = 64 * 1024;
  l.max_entries = 64;
  return l;
}

Error invalid(std::string_view field, std::string_view reason) {
  return Error{Errc::kAttestationInvalid,
               "attestation: " + std::string(field) + ": " + std::string(reason)};
}

std::string size_reason(std::size_t got, std::string_view want) {
  return std::to_string(got) + " bytes, expected " + std::string(want);
}

// "byte string", or "tagged byte string" (the document allows no tags).
std::string type_of(const Item& v) {
  return (v.tags().empty() ? "" : "tagged ") + std::string(Item::type_name(v.type()));
}

// A bstr field of bounded size.
Result<Bytes> bytes_field(const Item& v, std::string_view field, std::size_t min, std::size_t max) {
  const Bytes* b = v.as_bytes();
  if (b == nullptr || !v.tags().empty()) {
    return invalid(field, "expected a byte string, got " + type_of(v));
  }
  if (b->size() < min || b->size() > max) {
    return invalid(field, size_reason(b->size(),
                                      std::to_string(min) + ".." + std::to_string(max)));
  }
  return *b;
}

// Whether no item in `v` (keys and values, at any depth) carries a tag: the
// NSM emits none, and a tag on a map key would let two readers disagree about
// which field it is (a tag-stripping reader sees a duplicate).
bool tag_free(const Item& v) {
  if (!v.tags().empty()) {
    return false;
  }
  if (const auto* a = v.as_array()) {
    return std::all_of(a->begin(), a->end(), [](const Item& e) { return tag_free(e); });
  }
  if (const auto* m = v.as_map()) {
    return std::all_of(m->begin(), m->end(), [](const auto& e) { return tag_free(e.key) && tag_free(e.value); });
  }
  return true;
}

// user_data / nonce: absent, null, or a bstr of 0..1024 bytes; public_key
// (min_bytes 1): 1..1024.
Result<std::optional<Bytes>> optional_field(const Item& payload, std::string_view field, std::size_t min_bytes) {
  const Item* v = payload.find(field);
  if (v == nullptr || v->is_null()) {
    return std::optional<Bytes>{};
  }
  auto b = bytes_field(*v, field, min_bytes, kMaxOptionalFieldBytes);
  if (!b) {
    return b.error();
  }
  return std::optional<Bytes>(std::move(*b));
}

const Item* required(const Item& payload, std::string_view field) { return payload.find(field); }

Result<std::map<unsigned, Bytes>> parse_pcrs(const Item& v) {
  const auto* m = v.as_map();
  if (m == nullptr) {
    return invalid("pcrs", "expected a map, got " + type_of(v));
  }
  if (m->empty() || m->size() > kMaxPcrs) {
    return invalid("pcrs", std::to_string(m->size()) + " entries, expected 1..32");
  }
  std::map<unsigned, Bytes> out;
  for (const auto& e : *m) {
    const auto idx = e.key.as_uint();
    if (!idx || !e.key.tags().empty()) {
      return invalid("pcrs", "key is not an unsigned integer");
    }
    if (*idx >= kMaxPcrs) {
      return invalid("pcrs", "index " + std::to_string(*idx) + " out of range 0..31");
    }
    const std::string name = "pcrs[" + std::to_string(*idx) + "]";
    const Bytes* b = e.value.as_bytes();
    if (b == nullptr || !e.value.tags().empty()) {
      return invalid(name, "expected a byte string");
    }
    if (b->size() != 32 && b->size() != 48 && b->size() != 64) {
      return invalid(name, size_reason(b->size(), "32, 48 or 64"));
    }
    out.emplace(static_cast<unsigned>(*idx), *b);  // keys are unique (decoder rejects duplicates)
  }
  return out;
}

}  // namespace

Result<AttestationDocument> parse_payload(ByteView payload_bytes) {
  auto decoded = cbor::decode(payload_bytes, document_limits());
  if (!decoded) {
    return invalid("payload", decoded.error().message);
  }
  const Item& p = *decoded;
  const auto* entries = p.as_map();
  if (entries == nullptr || !p.tags().empty()) {
    return invalid("payload", "expected a map, got " + type_of(p));
  }
  for (const auto& e : *entries) {
    if (e.key.as_text() == nullptr) {
      return invalid("payload", "map key is not a text string");
    }
  }
  if (!tag_free(p)) {
    return invalid("payload", "CBOR tags are not allowed");
  }

  AttestationDocument doc;
  // module_id: non-empty text.
  const Item* v = required(p, "module_id");
  if (v == nullptr) {
    return invalid("module_id", "missing");
  }
  if (v->as_text() == nullptr || v->as_text()->empty()) {
    return invalid("module_id", "expected a non-empty text string");
  }
  doc.module_id = *v->as_text();

  // digest: "SHA384" (the only digest the NSM produces).
  v = required(p, "digest");
  if (v == nullptr) {
    return invalid("digest", "missing");
  }
  if (v->as_text() == nullptr) {
    return invalid("digest", "expected a text string");
  }
  if (*v->as_text() != "SHA384") {
    return invalid("digest", "unsupported digest '" + *v->as_text() + "', expected SHA384");
  }
  doc.digest = *v->as_text();

  v = required(p, "timestamp");
  if (v == nullptr) {
    return invalid("timestamp", "missing");
  }
  if (!v->as_uint() || *v->as_uint() == 0) {
    return invalid("timestamp", "expected a positive unsigned integer (ms since epoch)");
  }
  doc.timestamp_ms = *v->as_uint();

  v = required(p, "pcrs");
  if (v == nullptr) {
    return invalid("pcrs", "missing");
  }
  auto pcrs = parse_pcrs(*v);
  if (!pcrs) {
    return pcrs.error();
  }
  doc.pcrs = std::move(*pcrs);

  v = required(p, "certificate");
  if (v == nullptr) {
    return invalid("certificate", "missing");
  }
  auto cert = bytes_field(*v, "certificate", 1, kMaxCertificateBytes);
  if (!cert) {
    return cert.error();
  }
  doc.certificate = std::move(*cert);

  v = required(p, "cabundle");
  if (v == nullptr) {
    return invalid("cabundle", "missing");
  }
  const auto* bundle = v->as_array();
  if (bundle == nullptr) {
    return invalid("cabundle", "expected an array");
  }
  if (bundle->empty() || bundle->size() > kMaxCabundleEntries) {
    return invalid("cabundle", std::to_string(bundle->size()) + " entries, expected 1.." +
                                   std::to_string(kMaxCabundleEntries));
  }
  for (std::size_t i = 0; i < bundle->size(); ++i) {
    auto c = bytes_field((*bundle)[i], "cabundle[" + std::to_string(i) + "]", 1,
                         kMaxCertificateBytes);
    if (!c) {
      return c.error();
    }
    doc.cabundle.push_back(std::move(*c));
  }

  for (auto [name, slot] : {std::pair{"public_key", &doc.public_key},
                            std::pair{"user_data", &doc.user_data}, std::pair{"nonce", &doc.nonce}}) {
    auto f = optional_field(p, name, std::string_view(name) == "public_key" ? 1 : 0);
    if (!f) {
      return f.error();
    }
    *slot = std::move(*f);
  }
  return doc;
}

Result<AttestationDocument> parse_document(ByteView cose) {
  // protocol.md 5.3 step 1: COSE_Sign1 = [protected bstr, unprotected map,
  // payload bstr, signature bstr], optionally tagged 18.
  auto decoded = cbor::decode(cose, document_limits());
  if (!decoded) {
    return invalid("COSE_Sign1", decoded.error().message);
  }
  const Item& top = *decoded;
  bool tagged = false;
  if (!top.tags().empty()) {
    if (top.tags().size() != 1 || top.tags()[0] != 18) {
      return invalid("COSE_Sign1", "unexpected tag (only 18 is allowed)");
    }
    tagged = true;
  }
  const auto* parts = top.as_array();
  if (parts == nullptr || parts->size() != 4) {
    return invalid("COSE_Sign1", "expected an array of 4 elements");
  }
  const Item& prot = (*parts)[0];
  const Item& unprot = (*parts)[1];
  const Item& payload = (*parts)[2];
  const Item& sig = (*parts)[3];

  if (prot.as_bytes() == nullptr || !prot.tags().empty()) {
    return invalid("protected header", "expected a byte string");
  }
  auto header = cbor::decode(*prot.as_bytes(), document_limits());
  if (!header) {
    return invalid("protected header", header.error().message);
  }
  // {1: -35}: alg = ES384, and nothing else (the NSM emits exactly a1 01 38 22).
  const auto* hm = header->as_map();
  if (hm == nullptr || hm->size() != 1 || !tag_free(*header)) {
    return invalid("protected header", "expected a map with exactly the alg entry");
  }
  const Item* alg = header->find(std::int64_t{1});
  if (alg == nullptr) {
    return invalid("protected header", "missing alg (label 1)");
  }
  if (alg->as_int() != std::optional<std::int64_t>(-35)) {
    return invalid("protected header", "alg is not ES384 (-35)");
  }
  if (unprot.as_map() == nullptr || !unprot.tags().empty()) {
    return invalid("unprotected header", "expected a map");
  }
  if (!unprot.as_map()->empty()) {  // RFC 9052 3: no label in both; the NSM sends {}
    return invalid("unprotected header", "expected an empty map");
  }
  if (payload.as_bytes() == nullptr || !payload.tags().empty()) {
    return invalid("payload", "expected a byte string");
  }
  if (sig.as_bytes() == nullptr || !sig.tags().empty()) {
    return invalid("signature", "expected a byte string");
  }
  if (sig.as_bytes()->size() != kEs384SignatureBytes) {
    return invalid("signature", size_reason(sig.as_bytes()->size(), "96 (ES384 r||s)"));
  }

  auto doc = parse_payload(*payload.as_bytes());
  if (!doc) {
    return doc.error();
  }
  doc->protected_header = *prot.as_bytes();
  doc->payload = *payload.as_bytes();
  doc->signature = *sig.as_bytes();
  doc->tagged = tagged;
  return doc;
}

}  // namespace kp::attestation
