#include "attestation/inspect.h"

#include <gtest/gtest.h>
#include <openssl/asn1.h>

#include <cstdint>
#include <limits>
#include <memory>

#include "attestation/ossl_util.h"
#include "attestation/test_util.h"
#include "base/encoding.h"
#include "base/time_format.h"

namespace kp::attestation {
namespace {

namespace json = boost::json;

TEST(Inspect, ReadsRawHexAndBase64) {
  const auto dir = testing::vectors_dir() / "attestation_docs";
  const Bytes bin = testing::read_file(dir / "evervault_ga_debug_2023-09-18.cose.bin");
  const Bytes b64 = testing::read_file(dir / "evervault_ga_debug_2023-09-18.cose.b64");
  const Bytes fc_bin = testing::read_file(dir / "fastcrypto_fixed_valid_2024-11-14.cose.bin");
  const Bytes fc_hex = testing::read_file(dir / "fastcrypto_fixed_valid_2024-11-14.cose.hex");
  EXPECT_EQ(*read_document_input(as_chars(bin)), bin);
  EXPECT_EQ(*read_document_input(as_chars(b64)), bin);
  EXPECT_EQ(*read_document_input(as_chars(fc_hex)), fc_bin);
  const std::string hex = hex_encode(fc_bin);
  EXPECT_EQ(*read_document_input("0x" + hex + "\n"), fc_bin);
  std::string upper = hex;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(*read_document_input(upper), fc_bin);
  // Line-wrapped, URL-safe, unpadded base64.
  std::string b = base64_encode(bin);
  while (!b.empty() && b.back() == '=') {
    b.pop_back();
  }
  for (char& c : b) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  std::string wrapped;
  for (std::size_t i = 0; i < b.size(); i += 64) {
    wrapped += b.substr(i, 64) + "\n";
  }
  EXPECT_EQ(*read_document_input(wrapped), bin);
  // Tagged raw input.
  Bytes tagged{0xd2};
  tagged.insert(tagged.end(), bin.begin(), bin.end());
  EXPECT_EQ(*read_document_input(as_chars(tagged)), tagged);
  // Hex of the long-form tag 18 (d8 12) and of an indefinite-length array
  // (9f ... ff), which the raw form also accepts.
  for (Bytes other : {Bytes{0xd8, 0x12}, Bytes{0x9f}}) {
    const bool indefinite = other[0] == 0x9f;
    other.insert(other.end(), bin.begin() + (indefinite ? 1 : 0), bin.end());
    if (indefinite) {
      other.push_back(0xff);
    }
    EXPECT_EQ(*read_document_input(hex_encode(other)), other);
    EXPECT_EQ(*read_document_input(base64_encode(other)), other);
  }
  // Binary that is not a 4-element array is still binary: parse_document
  // gives the real reason, not "not hex or base64".
  Bytes three = bin;
  three[0] = 0x83;
  EXPECT_EQ(*read_document_input(as_chars(three)), three);
  auto why = parse_document(three);
  ASSERT_FALSE(why);
  EXPECT_EQ(why.error().message.find("not a COSE_Sign1 as raw CBOR"), std::string::npos) << why.error().message;

  for (std::string_view bad : {"", "   ", "hello world", "00ff", "AAAA", "{\"a\":1}"}) {
    auto r = read_document_input(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kAttestationInvalid);
  }
  // The JSON that `kms-proxy attest` prints is not a document: say where the document is.
  auto json = read_document_input("{\n  \"module_id\": \"i-0\"\n}\n");
  ASSERT_FALSE(json);
  EXPECT_NE(json.error().message.find("attest --out"), std::string::npos) << json.error().message;
}

TEST(Inspect, JsonViewOfARealDocument) {
  for (const auto& d : testing::real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc);
    VerifyOptions opts;
    opts.at = from_unix_ms(static_cast<std::int64_t>(doc->timestamp_ms));
    const auto outcome = verify_detailed(*doc, opts);
    const std::string text = to_json(*doc, outcome, opts.at);
    auto v = json::parse(text).as_object();  // must be valid JSON
    const auto& a = d.analysis.at("attestation_doc").as_object();
    EXPECT_EQ(v.at("module_id").as_string(), a.at("module_id").as_string());
    EXPECT_EQ(v.at("timestamp_ms").to_number<std::uint64_t>(), a.at("timestamp_ms").to_number<std::uint64_t>());
    // "2023-09-18T15:03:30.860000+00:00" -> "2023-09-18T15:03:30.860Z"
    std::string want_ts(a.at("timestamp_utc").as_string());
    want_ts = want_ts.substr(0, 23) + "Z";
    EXPECT_EQ(v.at("timestamp").as_string(), want_ts);
    EXPECT_EQ(v.at("digest").as_string(), "SHA384");
    const auto& pcrs = v.at("pcrs").as_object();
    EXPECT_EQ(pcrs.size(), a.at("pcr_indices").as_array().size());
    for (const auto& [k, hex] : a.at("pcrs_nonzero").as_object()) {
      EXPECT_EQ(pcrs.at(k).as_string(), hex.as_string());
    }
    EXPECT_EQ(pcrs.at("5").as_string(), std::string(96, '0'));
    for (const char* f : {"public_key", "user_data", "nonce"}) {
      if (a.at(f).is_null()) {
        EXPECT_TRUE(v.at(f).is_null()) << f;
      } else {
        EXPECT_EQ(v.at(f).as_string(), a.at(f).as_object().at("hex").as_string()) << f;
      }
    }
    const auto& certs = v.at("certificates").as_array();
    ASSERT_EQ(certs.size(), 5u);
    EXPECT_EQ(certs[0].as_object().at("role").as_string(), "certificate");
    EXPECT_EQ(certs[4].as_object().at("subject").as_string(), "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US");
    EXPECT_EQ(certs[4].as_object().at("not_after").as_string(), "2049-10-28T14:28:05Z");
    const auto& ver = v.at("verification").as_object();
    EXPECT_EQ(ver.at("verdict").as_string(), "valid");
    EXPECT_EQ(ver.at("reason").as_string(), "ok");
    EXPECT_TRUE(ver.at("certificate").is_null());
  }
}

TEST(Inspect, JsonViewOfAnExpiredDocument) {
  const auto docs = testing::real_documents();
  auto doc = parse_document(docs.front().cose);
  ASSERT_TRUE(doc);
  VerifyOptions now;
  const auto outcome = verify_detailed(*doc, now);
  auto v = json::parse(to_json(*doc, outcome, now.at)).as_object();
  const auto& ver = v.at("verification").as_object();
  EXPECT_EQ(ver.at("verdict").as_string(), "invalid");
  EXPECT_EQ(ver.at("reason").as_string(), "certificate_expired");
  EXPECT_NE(std::string(ver.at("message").as_string()).find("expired at"), std::string::npos);
  EXPECT_FALSE(ver.at("certificate").is_null());
  // Without an outcome: no verification member.
  auto plain = json::parse(to_json(*doc)).as_object();
  EXPECT_FALSE(plain.contains("verification"));
}

TEST(Inspect, TimestampsWithMilliseconds) {
  EXPECT_EQ(format_rfc3339_ms(1695049410860), "2023-09-18T15:03:30.860Z");
  EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_ms(1731627989450), "2024-11-14T23:46:29.450Z");
}

// Found by fuzz/attestation_document: a document timestamp (or certificate
// time) beyond SysTime's range used to overflow (UB) when formatted.
TEST(Inspect, TimesSysTimeCannotHoldDoNotOverflow) {
  EXPECT_EQ(format_rfc3339_ms(std::numeric_limits<std::int64_t>::max()), "out of range");
  EXPECT_EQ(format_rfc3339_ms(std::numeric_limits<std::int64_t>::min()), "out of range");
  EXPECT_EQ(format_rfc3339_ms(4504231743732170), "out of range");
  EXPECT_EQ(format_rfc3339_ms(9223372036000), "2262-04-11T23:47:16.000Z");

  AttestationDocument doc;
  doc.timestamp_ms = std::numeric_limits<std::uint64_t>::max();
  const auto view = json::parse(to_json(doc)).as_object();
  EXPECT_EQ(view.at("timestamp").as_string(), "out of range");

  // `inspect-attestation --at document` verifies at the document's own time.
  EXPECT_EQ(document_time(1695049410860), from_unix_ms(1695049410860));
  EXPECT_EQ(document_time(9223372036853), from_unix_ms(9223372036853));  // same bound as format_rfc3339_ms
  EXPECT_FALSE(document_time(9223372036854));
  EXPECT_FALSE(document_time(4504231743732170));
  EXPECT_FALSE(document_time(static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
  EXPECT_FALSE(document_time(std::numeric_limits<std::uint64_t>::max()));  // not -1 ms (1969)

  CPtr<ASN1_TIME, ASN1_TIME_free> t(ASN1_TIME_new());
  ASSERT_EQ(ASN1_TIME_set_string(t.get(), "99991231235959Z"), 1);  // RFC 5280 "no expiration"
  EXPECT_EQ(detail::asn1_time(t.get()), SysTime::max());
  ASSERT_EQ(ASN1_TIME_set_string(t.get(), "16000101000000Z"), 1);
  EXPECT_EQ(detail::asn1_time(t.get()), SysTime::min());
  ASSERT_EQ(ASN1_TIME_set_string(t.get(), "20491028142805Z"), 1);
  EXPECT_EQ(format_rfc3339(*detail::asn1_time(t.get())), "2049-10-28T14:28:05Z");
}

}  // namespace
}  // namespace kp::attestation
