#include "attestation/document.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "attestation/test_util.h"
#include "base/encoding.h"
#include "cbor/writer.h"

namespace kp::attestation {
namespace {

namespace json = boost::json;
using testing::real_documents;

std::string hex(ByteView b) { return hex_encode(b); }

TEST(RealDocuments, AllVectorsPresent) {
  const auto docs = real_documents();
  EXPECT_GE(docs.size(), 5u);
}

TEST(RealDocuments, DecodedFieldsEqualAnalysis) {
  for (const auto& d : real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc) << doc.error().message;
    const auto& a = d.analysis;
    const auto& ad = a.at("attestation_doc").as_object();
    EXPECT_EQ(doc->module_id, ad.at("module_id").as_string());
    EXPECT_EQ(doc->digest, ad.at("digest").as_string());
    EXPECT_EQ(doc->timestamp_ms, ad.at("timestamp_ms").to_number<std::uint64_t>());
    EXPECT_EQ(doc->tagged, a.at("cose_tagged_18").as_bool());
    EXPECT_EQ(hex(doc->protected_header), a.at("protected_hex").as_string());
    EXPECT_EQ(doc->payload.size(), a.at("payload_len").to_number<std::size_t>());
    EXPECT_EQ(doc->signature.size(), a.at("signature_len").to_number<std::size_t>());

    std::vector<unsigned> indices;
    for (const auto& [i, v] : doc->pcrs) {
      indices.push_back(i);
    }
    std::vector<unsigned> want_indices;
    for (const auto& v : ad.at("pcr_indices").as_array()) {
      want_indices.push_back(v.to_number<unsigned>());
    }
    EXPECT_EQ(indices, want_indices);
    const auto& nonzero = ad.at("pcrs_nonzero").as_object();
    for (const auto& [i, v] : doc->pcrs) {
      const auto it = nonzero.find(std::to_string(i));
      if (it != nonzero.end()) {
        EXPECT_EQ(hex(v), it->value().as_string()) << "pcr " << i;
      } else {
        EXPECT_EQ(v, Bytes(v.size(), 0)) << "pcr " << i;
      }
      EXPECT_EQ(v.size(), ad.at("pcr_lengths").as_array().at(0).to_number<std::size_t>());
    }

    auto check_optional = [&](const char* field, const std::optional<Bytes>& got) {
      const auto& want = ad.at(field);
      if (want.is_null()) {
        EXPECT_FALSE(got.has_value()) << field;
      } else {
        ASSERT_TRUE(got.has_value()) << field;
        EXPECT_EQ(hex(*got), want.as_object().at("hex").as_string()) << field;
        EXPECT_EQ(got->size(), want.as_object().at("len").to_number<std::size_t>()) << field;
      }
    };
    check_optional("public_key", doc->public_key);
    check_optional("user_data", doc->user_data);
    check_optional("nonce", doc->nonce);

    ASSERT_EQ(doc->cabundle.size(), ad.at("cabundle_len").to_number<std::size_t>());
    for (const auto& c : a.at("certs").as_array()) {
      const auto& co = c.as_object();
      const std::string which(co.at("which").as_string());
      const Bytes& der = which == "certificate"
                             ? doc->certificate
                             : doc->cabundle.at(std::stoul(which.substr(std::string("cabundle[").size())));
      EXPECT_EQ(der.size(), co.at("der_len").to_number<std::size_t>()) << which;
    }
  }
}

TEST(RealDocuments, TaggedFormIsAccepted) {
  for (const auto& d : real_documents()) {
    Bytes tagged{0xd2};
    tagged.insert(tagged.end(), d.cose.begin(), d.cose.end());
    auto doc = parse_document(tagged);
    ASSERT_TRUE(doc) << d.name << ": " << doc.error().message;
    EXPECT_TRUE(doc->tagged);
    Bytes wrong_tag{0xd8, 0x62};  // tag 98 (COSE_Sign) is not COSE_Sign1
    wrong_tag.insert(wrong_tag.end(), d.cose.begin(), d.cose.end());
    auto bad = parse_document(wrong_tag);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("tag"), std::string::npos);
  }
}

TEST(RealDocuments, TruncationAtEveryOffsetIsRejected) {
  for (const auto& d : real_documents()) {
    for (std::size_t n = 0; n < d.cose.size(); ++n) {
      auto r = parse_document(ByteView(d.cose).first(n));
      ASSERT_FALSE(r) << d.name << " prefix " << n;
      EXPECT_EQ(r.error().code, Errc::kAttestationInvalid);
    }
    Bytes longer = d.cose;
    longer.push_back(0);
    EXPECT_FALSE(parse_document(longer));
  }
}

// --- synthetic documents: one field wrong at a time -------------------------

struct Fields {
  std::vector<std::pair<std::string, Bytes>> entries;  // key -> encoded value

  static Bytes enc(const std::function<void(cbor::Writer&)>& f) {
    cbor::Writer w;
    f(w);
    return std::move(w).take();
  }

  static Fields baseline() {
    Fields f;
    f.set("module_id", enc([](auto& w) { w.tstr("i-0123456789abcdef0-enc0123456789abcdef"); }));
    f.set("digest", enc([](auto& w) { w.tstr("SHA384"); }));
    f.set("timestamp", enc([](auto& w) { w.uint(1700000000000); }));
    f.set("pcrs", pcrs(16, 48));
    f.set("certificate", enc([](auto& w) { w.bstr(Bytes(600, 0x30)); }));
    f.set("cabundle", enc([](auto& w) { w.array_header(2).bstr(Bytes(500, 1)).bstr(Bytes(700, 2)); }));
    f.set("public_key", enc([](auto& w) { w.null(); }));
    f.set("user_data", enc([](auto& w) { w.null(); }));
    f.set("nonce", enc([](auto& w) { w.null(); }));
    return f;
  }

  static Bytes pcrs(unsigned count, std::size_t len, unsigned first = 0) {
    cbor::Writer w;
    w.map_header(count);
    for (unsigned i = first; i < first + count; ++i) {
      w.uint(i).bstr(Bytes(len, static_cast<std::uint8_t>(i)));
    }
    return std::move(w).take();
  }

  Fields& set(const std::string& k, Bytes v) {
    for (auto& e : entries) {
      if (e.first == k) {
        e.second = std::move(v);
        return *this;
      }
    }
    entries.emplace_back(k, std::move(v));
    return *this;
  }
  Fields& erase(const std::string& k) {
    std::erase_if(entries, [&](const auto& e) { return e.first == k; });
    return *this;
  }
  Bytes payload(bool indefinite = false) const {
    cbor::Writer w;
    if (indefinite) {
      w.raw(Bytes{0xbf});
    } else {
      w.map_header(entries.size());
    }
    for (const auto& [k, v] : entries) {
      w.tstr(k).raw(v);
    }
    if (indefinite) {
      w.raw(Bytes{0xff});
    }
    return std::move(w).take();
  }
};

Bytes cose(ByteView payload, ByteView protected_header = Bytes{0xa1, 0x01, 0x38, 0x22},
           std::size_t sig_len = 96) {
  cbor::Writer w;
  w.array_header(4).bstr(protected_header).map_header(0).bstr(payload).bstr(Bytes(sig_len, 0x55));
  return std::move(w).take();
}

void expect_field_error(const Bytes& cose_bytes, std::string_view field, std::string_view reason = {}) {
  auto r = parse_document(cose_bytes);
  ASSERT_FALSE(r) << "expected rejection naming " << field;
  EXPECT_EQ(r.error().code, Errc::kAttestationInvalid);
  EXPECT_EQ(r.error().message.rfind("attestation: " + std::string(field) + ":", 0), 0u)
      << r.error().message;
  EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
}

TEST(SyntheticDocument, BaselineParsesInBothMapForms) {
  for (bool indefinite : {false, true}) {
    auto doc = parse_document(cose(Fields::baseline().payload(indefinite)));
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ(doc->module_id, "i-0123456789abcdef0-enc0123456789abcdef");
    EXPECT_EQ(doc->timestamp_ms, 1700000000000u);
    EXPECT_EQ(doc->pcrs.size(), 16u);
    EXPECT_EQ(doc->pcrs.at(5), Bytes(48, 5));
    EXPECT_EQ(doc->cabundle.size(), 2u);
    EXPECT_FALSE(doc->public_key || doc->user_data || doc->nonce);
  }
}

TEST(SyntheticDocument, OptionalFieldsAbsentEmptyOrFull) {
  auto f = Fields::baseline();
  f.erase("public_key");
  f.set("user_data", Fields::enc([](auto& w) { w.bstr(Bytes{}); }));
  f.set("nonce", Fields::enc([](auto& w) { w.bstr(Bytes(1024, 9)); }));
  auto doc = parse_document(cose(f.payload()));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_FALSE(doc->public_key);
  ASSERT_TRUE(doc->user_data);
  EXPECT_TRUE(doc->user_data->empty());
  EXPECT_EQ(doc->nonce, Bytes(1024, 9));
  // Unknown keys are ignored (forward compatibility), as in the AWS SDKs.
  f.set("future_field", Fields::enc([](auto& w) { w.uint(1); }));
  EXPECT_TRUE(parse_document(cose(f.payload())));
}

TEST(SyntheticDocument, EachFieldIsChecked) {
  using F = Fields;
  auto with = [](const std::string& k, Bytes v) { return cose(F::baseline().set(k, std::move(v)).payload()); };
  auto without = [](const std::string& k) { return cose(F::baseline().erase(k).payload()); };
  for (const char* k : {"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"}) {
    expect_field_error(without(k), k, "missing");
  }
  expect_field_error(with("module_id", F::enc([](auto& w) { w.tstr(""); })), "module_id");
  expect_field_error(with("module_id", F::enc([](auto& w) { w.bstr(Bytes{1}); })), "module_id");
  expect_field_error(with("digest", F::enc([](auto& w) { w.tstr("SHA256"); })), "digest", "SHA256");
  expect_field_error(with("timestamp", F::enc([](auto& w) { w.integer(-1); })), "timestamp");
  expect_field_error(with("timestamp", F::enc([](auto& w) { w.tstr("now"); })), "timestamp");
  expect_field_error(with("pcrs", F::enc([](auto& w) { w.map_header(0); })), "pcrs", "1..32");
  expect_field_error(with("pcrs", F::enc([](auto& w) { w.array_header(0); })), "pcrs", "map");
  expect_field_error(with("pcrs", F::pcrs(1, 48, 32)), "pcrs", "index 32");
  expect_field_error(with("pcrs", F::pcrs(16, 47)), "pcrs[0]", "47 bytes");
  expect_field_error(with("pcrs", F::enc([](auto& w) { w.map_header(1).integer(-1).bstr(Bytes(48)); })),
                     "pcrs", "unsigned");
  expect_field_error(with("pcrs", F::enc([](auto& w) { w.map_header(1).uint(3).tstr("x"); })), "pcrs[3]");
  for (std::size_t len : {32u, 48u, 64u}) {
    EXPECT_TRUE(parse_document(with("pcrs", F::pcrs(32, len)))) << len;
  }
  expect_field_error(with("certificate", F::enc([](auto& w) { w.bstr(Bytes{}); })), "certificate",
                     "0 bytes");
  expect_field_error(with("certificate", F::enc([](auto& w) { w.bstr(Bytes(1025, 1)); })),
                     "certificate", "1025 bytes");
  expect_field_error(with("certificate", F::enc([](auto& w) { w.null(); })), "certificate");
  expect_field_error(with("cabundle", F::enc([](auto& w) { w.array_header(0); })), "cabundle", "0 entries");
  expect_field_error(with("cabundle", F::enc([](auto& w) { w.bstr(Bytes{1}); })), "cabundle", "array");
  expect_field_error(with("cabundle", F::enc([](auto& w) { w.array_header(2).bstr(Bytes{1}).tstr("x"); })),
                     "cabundle[1]");
  expect_field_error(
      with("cabundle", F::enc([](auto& w) { w.array_header(1).bstr(Bytes(1025, 1)); })), "cabundle[0]",
      "1025");
  for (const char* k : {"public_key", "user_data", "nonce"}) {
    expect_field_error(with(k, F::enc([](auto& w) { w.bstr(Bytes(1025, 1)); })), k, "1025 bytes");
    expect_field_error(with(k, F::enc([](auto& w) { w.tstr("text"); })), k, "byte string");
  }
  auto nontext_key = F::baseline().payload();
  nontext_key[0] = 0xaa;  // one more entry:
  nontext_key.push_back(0x01);
  nontext_key.push_back(0x02);
  expect_field_error(cose(nontext_key), "payload", "not a text string");
  expect_field_error(cose(F::enc([](auto& w) { w.array_header(0); })), "payload", "expected a map");
  auto dup = F::baseline();
  dup.entries.emplace_back("nonce", F::enc([](auto& w) { w.null(); }));
  expect_field_error(cose(dup.payload()), "payload", "duplicate map key");
}

TEST(SyntheticDocument, EnvelopeIsChecked) {
  const Bytes payload = Fields::baseline().payload();
  expect_field_error(cose(payload, Bytes{0xa1, 0x01, 0x26}), "protected header", "ES384");  // ES256
  expect_field_error(cose(payload, Bytes{0xa0}), "protected header");
  expect_field_error(cose(payload, Bytes{0xa2, 0x01, 0x38, 0x22, 0x04, 0x41, 0x00}), "protected header");
  expect_field_error(cose(payload, Bytes{0xa1, 0x01}), "protected header");
  expect_field_error(cose(payload, Bytes{0xa1, 0x02, 0x38, 0x22}), "protected header", "alg");
  expect_field_error(cose(payload, Bytes{0xa1, 0x01, 0x38, 0x22}, 95), "signature", "95 bytes");
  expect_field_error(cose(payload, Bytes{0xa1, 0x01, 0x38, 0x22}, 0), "signature");
  {
    cbor::Writer w;
    w.array_header(3).bstr(Bytes{0xa1, 0x01, 0x38, 0x22}).map_header(0).bstr(payload);
    expect_field_error(w.bytes(), "COSE_Sign1", "4 elements");
  }
  {
    cbor::Writer w;
    w.array_header(4).bstr(Bytes{0xa1, 0x01, 0x38, 0x22}).array_header(0).bstr(payload).bstr(Bytes(96));
    expect_field_error(w.bytes(), "unprotected header");
  }
  {
    cbor::Writer w;
    w.array_header(4).bstr(Bytes{0xa1, 0x01, 0x38, 0x22}).map_header(0).tstr("x").bstr(Bytes(96));
    expect_field_error(w.bytes(), "payload", "byte string");
  }
  expect_field_error(Bytes{0x01}, "COSE_Sign1");
  expect_field_error(Bytes{}, "COSE_Sign1");
}

TEST(SyntheticDocument, AbsurdDeclaredLengthsAreRejectedWithoutAllocating) {
  std::vector<Bytes> cases;
  for (const char* h : {"8444a1013822a05bffffffffffffffff00", "8444a1013822a05a7fffffff",
                        "9bffffffffffffffff", "9a9a9a9a4b9a", "d29affffffff"}) {
    cases.push_back(*hex_decode(h));
  }
  // Inside the payload: cabundle claiming 4G entries, pcrs claiming 2^64 entries,
  // a certificate claiming 2^63 bytes.
  for (const char* inner : {"a168636162756e646c659affffffff00", "bf6470637273bbffffffffffffffffff",
                            "a16b63657274696669636174655b7fffffffffffffff00"}) {
    cases.push_back(cose(*hex_decode(inner)));
  }
  for (const auto& b : cases) {
    auto r = parse_document(b);
    ASSERT_FALSE(r) << hex(b);
    EXPECT_EQ(r.error().code, Errc::kAttestationInvalid);
  }
}

}  // namespace
}  // namespace kp::attestation
