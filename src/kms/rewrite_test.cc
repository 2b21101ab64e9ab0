#include "kms/rewrite.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/encoding.h"

namespace kp::kms {
namespace {

namespace json = boost::json;

constexpr std::string_view kDoc = "hEShATgioFkRXqlpbW9kdWxlX2lkeCdpLTA=";
const std::string kMember =
    R"("Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":")" +
    std::string(kDoc) + R"("})";

std::string added(std::string_view body) {
  auto r = add_recipient(body, kDoc);
  EXPECT_TRUE(r) << body << ": " << (r ? "" : r.error().message);
  if (!r) {
    return {};
  }
  EXPECT_FALSE(r->already_had_recipient) << body;
  // The in-place variant must agree byte for byte.
  std::string in_place(body);
  auto p = add_recipient_in_place(in_place, kDoc);
  EXPECT_TRUE(p && !*p);
  EXPECT_EQ(in_place, r->body);
  return r->body;
}

void expect_malformed(std::string_view body, std::string_view message_part) {
  const auto r = add_recipient(body, kDoc);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().code, Errc::kMalformedRequest) << body;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  std::string copy(body);
  const auto p = add_recipient_in_place(copy, kDoc);
  ASSERT_FALSE(p);
  EXPECT_EQ(copy, body);  // untouched on error
}

// --- request side --------------------------------------------------------

TEST(AddRecipient, TypicalBodiesOfEachAttestedOperation) {
  struct Row {
    const char* op;
    std::string body;
  };
  const Row rows[] = {
      {"Decrypt", R"({"CiphertextBlob":"AQIDBA==","KeyId":"alias/app","EncryptionContext":{"a":"b"}})"},
      {"GenerateDataKey", R"({"KeyId":"alias/app","KeySpec":"AES_256"})"},
      {"GenerateDataKeyPair", R"({"KeyId":"k","KeyPairSpec":"ECC_NIST_P256"})"},
      {"GenerateRandom", R"({"NumberOfBytes":32})"},
      {"DeriveSharedSecret", R"({"KeyId":"k","KeyAgreementAlgorithm":"ECDH","PublicKey":"MFkw"})"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.op);
    const std::string out = added(row.body);
    EXPECT_EQ(out, "{" + kMember + "," + row.body.substr(1));
    const json::object o = json::parse(out).as_object();
    const json::object& rec = o.at("Recipient").as_object();
    EXPECT_EQ(rec.at("KeyEncryptionAlgorithm").as_string(), "RSAES_OAEP_SHA_256");
    EXPECT_EQ(rec.at("AttestationDocument").as_string(), kDoc);
    EXPECT_EQ(o.size(), json::parse(row.body).as_object().size() + 1);
  }
}

TEST(AddRecipient, EmptyObjectGetsNoComma) {
  EXPECT_EQ(added("{}"), "{" + kMember + "}");
  EXPECT_EQ(added(" \t\r\n{ \n }\n"), " \t\r\n{" + kMember + " \n }\n");
}

TEST(AddRecipient, WhitespaceVariantsKeepEveryByte) {
  const std::string body = "\n  {\n    \"KeyId\" :\t\"k\" ,\n    \"NumberOfBytes\": 16\n  }  \n";
  EXPECT_EQ(added(body), "\n  {" + kMember + ",\n    \"KeyId\" :\t\"k\" ,\n    \"NumberOfBytes\": 16\n  }  \n");
}

TEST(AddRecipient, UnicodeEscapesAndNumbersArePreservedByteForByte) {
  const std::string body =
      "{\"EncryptionContext\":{\"caf\xc3\xa9\":\"\\u00e9\\\"\\/\\\\ \xe2\x98\x83 \\ud83d\\ude00\"},"
      "\"n\":1.0E+2,\"big\":123456789012345678901234567890,\"neg\":-0.000,\"t\":true,\"z\":null,"
      "\"arr\":[1,[2,{\"x\":[]}],\"\"]}";
  EXPECT_EQ(added(body), "{" + kMember + "," + body.substr(1));
}

TEST(AddRecipient, ExistingTopLevelRecipientIsLeftAlone) {
  for (const std::string& body : {
           std::string(R"({"CiphertextBlob":"AQ==","Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"client"}})"),
           std::string(R"( { "Recipient" : {} } )"),
           std::string(R"({"Recipient":"x"})"),    // wrong, but the app's: KMS answers it
           std::string(R"({"Recipi\u0065nt":{}})"),  // the same key after unescaping, as KMS reads it
       }) {
    SCOPED_TRACE(body);
    const auto r = add_recipient(body, kDoc);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->already_had_recipient);
    EXPECT_EQ(r->body, body);
    std::string in_place = body;
    const auto p = add_recipient_in_place(in_place, kDoc);
    ASSERT_TRUE(p);
    EXPECT_TRUE(*p);
    EXPECT_EQ(in_place, body);
  }
}

// KMS reads a null member as absent, so "Recipient": null asks for no
// Recipient: the proxy attests as for a body without one, replacing the null.
TEST(AddRecipient, NullRecipientIsReplaced) {
  const struct {
    std::string body, expected;
  } rows[] = {
      {R"({"Recipient":null})", "{" + kMember + "}"},
      {R"({ "Recipient" : null })", "{" + kMember + "}"},
      {R"({"CiphertextBlob":"AQ==","Recipient":null})", "{" + kMember + R"(,"CiphertextBlob":"AQ=="})"},
      {R"({"Recipient":null,"KeyId":"k"})", "{" + kMember + R"(,"KeyId":"k"})"},
      {R"({"A":[1,{"b":"}"}], "Recipient": null ,"B":{"Recipient":null}, "C":"x\"y"} )",
       "{" + kMember + R"(,"A":[1,{"b":"}"}],"B":{"Recipient":null},"C":"x\"y"} )"},
      {R"({"Recipi\u0065nt":null,"Recipient":null,"N":-1.5e3})", "{" + kMember + R"(,"N":-1.5e3})"},
      {R"({"Recipient":nullx})", ""},  // not JSON: below
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.body);
    if (row.expected.empty()) {
      expect_malformed(row.body, "not valid JSON");
      continue;
    }
    const auto s = scan_request(row.body);
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->has_recipient);
    EXPECT_GE(s->null_recipients, 1u);
    EXPECT_EQ(added(row.body), row.expected);
    std::string spliced = row.body;
    ASSERT_TRUE(insert_recipient(spliced, *s, kDoc));
    EXPECT_EQ(spliced, row.expected);
    EXPECT_TRUE(json::parse(spliced).as_object().at("Recipient").is_object());
  }
}

TEST(AddRecipient, RecipientDeeperOrAsValueDoesNotCount) {
  for (const std::string& body : {
           std::string(R"({"EncryptionContext":{"Recipient":"x"}})"),
           std::string(R"({"GrantTokens":["Recipient"],"KeyId":"Recipient"})"),
           std::string(R"({"a":[{"Recipient":{}}]})"),
           std::string(R"({"recipient":{}})"),   // keys are case-sensitive
           std::string(R"({"Recipients":{}})"),
           std::string(R"({"Recipien":{}})"),
       }) {
    SCOPED_TRACE(body);
    EXPECT_EQ(added(body), "{" + kMember + "," + body.substr(1));
  }
}

TEST(AddRecipient, NonObjectIsRejected) {
  for (const char* body : {"[]", "[{}]", "\"{}\"", "1", "null", "true"}) {
    expect_malformed(body, "request body is not a JSON object");
  }
}

TEST(AddRecipient, InvalidJsonIsRejected) {
  for (const std::string& body : {std::string(""), std::string("   "), std::string("{"), std::string("{\"a\":}"),
                                 std::string("{} x"), std::string("{}{}"), std::string("{\"a\":1,}"),
                                 std::string("{/*c*/}"), std::string("{'a':1}"), std::string("{\"a\":01}"),
                                 std::string("{\"a\":\"\xff\"}"), std::string("\xef\xbb\xbf{}"),
                                 std::string("{\"a\":\"x\nx\"}"), std::string("{\"a\" 1}")}) {
    expect_malformed(body, "request body is not valid JSON");
  }
}

TEST(AddRecipient, ExcessiveNestingIsRejected) {
  const std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  expect_malformed(deep, "not valid JSON");
}

TEST(AddRecipient, AttestationDocumentMustBeBase64Text) {
  for (const std::string_view doc : {std::string_view(""), std::string_view("a\"b="), std::string_view("abc"),
                                     std::string_view("ab\\=")}) {
    const auto r = add_recipient("{}", doc);
    ASSERT_FALSE(r) << doc;
    EXPECT_EQ(r.error().code, Errc::kInternal);
  }
}

// --- response side -------------------------------------------------------

const kp::Bytes kCms = {0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};

std::string cfr() { return kp::base64_encode(kCms); }

struct FakeDecrypt {
  explicit FakeDecrypt(std::string p) : plaintext(std::move(p)) {}
  std::string plaintext;
  int calls = 0;
  kp::Bytes seen;
  CmsDecryptFn fn() {
    return [this](kp::ByteView der) -> kp::Result<kp::SecretBytes> {
      ++calls;
      seen.assign(der.begin(), der.end());
      return kp::SecretBytes::copy_of(std::string_view(plaintext));
    };
  }
};

json::object parse_object(const std::string& s) { return json::parse(s).as_object(); }

TEST(OpenRecipientResponse, EachAttestedOperationGetsItsField) {
  struct Row {
    AttestedOp op;
    std::string upstream;
    std::vector<std::string> kept;
    std::string field;
  };
  const Row rows[] = {
      {AttestedOp::kDecrypt,
       R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","Plaintext":null,"EncryptionAlgorithm":"SYMMETRIC_DEFAULT","CiphertextForRecipient":")" + cfr() + R"("})",
       {"KeyId", "EncryptionAlgorithm"}, "Plaintext"},
      {AttestedOp::kGenerateDataKey,
       R"({"CiphertextBlob":"AQIDBAUG","CiphertextForRecipient":")" + cfr() + R"(","KeyId":"k","Plaintext":""})",
       {"CiphertextBlob", "KeyId"}, "Plaintext"},
      {AttestedOp::kGenerateDataKeyPair,
       R"({"PrivateKeyCiphertextBlob":"AQID","PublicKey":"MFkwEwYHKoZIzj0CAQ==","KeyId":"k","KeyPairSpec":"ECC_NIST_P256","CiphertextForRecipient":")" + cfr() + R"("})",
       {"PrivateKeyCiphertextBlob", "PublicKey", "KeyId", "KeyPairSpec"}, "PrivateKeyPlaintext"},
      {AttestedOp::kGenerateRandom, R"({"CiphertextForRecipient":")" + cfr() + R"("})", {}, "Plaintext"},
      {AttestedOp::kDeriveSharedSecret,
       R"({"KeyId":"k","CiphertextForRecipient":")" + cfr() + R"(","KeyAgreementAlgorithm":"ECDH","KeyOrigin":"AWS_KMS"})",
       {"KeyId", "KeyAgreementAlgorithm", "KeyOrigin"}, "SharedSecret"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.field + " / " + std::string(canonical_name(row.op)));
    FakeDecrypt d{"the plaintext \x01\x02"};
    const auto r = open_recipient_response(row.upstream, row.op, d.fn());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(d.calls, 1);
    EXPECT_EQ(d.seen, kCms);
    const json::object in = parse_object(row.upstream);
    const json::object out = parse_object(*r);
    EXPECT_FALSE(out.contains("CiphertextForRecipient"));
    EXPECT_EQ(out.at(row.field).as_string(), kp::base64_encode(kp::as_bytes(d.plaintext)));
    EXPECT_EQ(out.size(), row.kept.size() + 1);
    for (const auto& k : row.kept) {
      EXPECT_EQ(out.at(k), in.at(k)) << k;
    }
    // Exactly one member of that name (a null/empty original was replaced).
    EXPECT_EQ(std::count(r->begin(), r->end(), '"') % 2, 0);
    EXPECT_EQ(r->find("\"" + row.field + "\""), r->rfind("\"" + row.field + "\""));
  }
}

TEST(OpenRecipientResponse, OtherMembersAreCopiedByteForByteInOrder) {
  // Numbers and escapes as KMS wrote them: nothing goes through a double (a
  // 17-digit number read and written again could come back one ulp off).
  const std::string upstream = R"( {"B" : {"x":[1,2.5,"\u00e9\n", 922337203685.775809]},"CiphertextForRecipient":")" +
                               cfr() + R"(", "A":"caf)" "\xc3\xa9" R"(","N":null,"Plaintext":null, "T":false} )";
  FakeDecrypt d{"pt"};
  const auto r = open_recipient_response(upstream, AttestedOp::kDecrypt, d.fn());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "{\"B\" : {\"x\":[1,2.5,\"\\u00e9\\n\", 922337203685.775809]},\"A\":\"caf\xc3\xa9\",\"N\":null,"
                "\"T\":false,\"Plaintext\":\"cHQ=\"}");
  // Keys are compared after unescaping, as KMS and SDKs read them.
  const std::string escaped = R"({"Ciphertext\u0046orRecipient":")" + cfr() + R"(","KeyId":"k"})";
  const auto e = open_recipient_response(escaped, AttestedOp::kDecrypt, d.fn());
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, R"({"KeyId":"k","Plaintext":"cHQ="})");
}

TEST(OpenRecipientResponse, RealKmsCiphertextForRecipientIsDecodedExactly) {
  const auto dir = std::filesystem::path(KP_VECTORS_DIR) / "ciphertext_for_recipient" / "enclaver_hello_world";
  std::ifstream b64_in(dir / "ciphertext_for_recipient.b64");
  std::ifstream ber_in(dir / "ciphertext_for_recipient.ber", std::ios::binary);
  ASSERT_TRUE(b64_in && ber_in);
  std::string b64((std::istreambuf_iterator<char>(b64_in)), {});
  while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r')) {
    b64.pop_back();
  }
  const kp::Bytes ber((std::istreambuf_iterator<char>(ber_in)), {});
  FakeDecrypt d{"Hello, World"};
  const auto r = open_recipient_response(
      R"({"KeyId":"k","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","CiphertextForRecipient":")" + b64 + "\"}",
      AttestedOp::kDecrypt, d.fn());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(d.seen, ber);
  EXPECT_EQ(parse_object(*r).at("Plaintext").as_string(), "SGVsbG8sIFdvcmxk");
}

void expect_cms_invalid(const std::string& upstream, std::string_view message_part) {
  FakeDecrypt d{"x"};
  const auto r = open_recipient_response(upstream, AttestedOp::kDecrypt, d.fn());
  ASSERT_FALSE(r) << upstream.substr(0, 80);
  EXPECT_EQ(r.error().code, Errc::kCmsInvalid);
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  EXPECT_EQ(d.calls, 0);
}

TEST(OpenRecipientResponse, MissingOrInvalidCiphertextForRecipient) {
  expect_cms_invalid(R"({"KeyId":"k","Plaintext":null})", "no CiphertextForRecipient");
  expect_cms_invalid(R"({"ciphertextforrecipient":"AQ=="})", "no CiphertextForRecipient");
  expect_cms_invalid(R"({"CiphertextForRecipient":null})", "not a JSON string");
  expect_cms_invalid(R"({"CiphertextForRecipient":12})", "not a JSON string");
  expect_cms_invalid(R"({"CiphertextForRecipient":["AQ=="]})", "not a JSON string");
  expect_cms_invalid(R"({"CiphertextForRecipient":"AQ="})", "not valid base64");
  expect_cms_invalid(R"({"CiphertextForRecipient":"AQ==\n"})", "not valid base64");
  expect_cms_invalid(R"({"CiphertextForRecipient":"A-_B"})", "not valid base64");
  expect_cms_invalid(R"({"CiphertextForRecipient":""})", "decodes to 0 bytes, outside 1..6144");
  const std::string too_big = kp::base64_encode(kp::Bytes(6145, 0x30));
  expect_cms_invalid(R"({"CiphertextForRecipient":")" + too_big + "\"}", "larger than 6144");
}

TEST(OpenRecipientResponse, MaximumSizeIsAccepted) {
  const kp::Bytes max(6144, 0x30);
  FakeDecrypt d{"x"};
  const auto r = open_recipient_response(R"({"CiphertextForRecipient":")" + kp::base64_encode(max) + "\"}",
                                         AttestedOp::kGenerateRandom, d.fn());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(d.seen.size(), 6144u);
}

TEST(OpenRecipientResponse, DecryptErrorIsPropagatedUnchanged) {
  const CmsDecryptFn failing = [](kp::ByteView) -> kp::Result<kp::SecretBytes> {
    return kp::fail(Errc::kCmsWrongRecipient, "crypto: recipient key id does not match ours");
  };
  const auto r = open_recipient_response(R"({"CiphertextForRecipient":")" + cfr() + "\"}", AttestedOp::kDecrypt,
                                         failing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCmsWrongRecipient);
  EXPECT_EQ(r.error().message, "crypto: recipient key id does not match ours");
}

TEST(OpenRecipientResponse, UpstreamBodyMustBeAJsonObject) {
  FakeDecrypt d{"x"};
  for (const char* body : {"", "not json", "[]", "\"s\"", "{\"a\":1} trailing"}) {
    const auto r = open_recipient_response(body, AttestedOp::kDecrypt, d.fn());
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, Errc::kUpstreamProtocol) << body;
  }
  EXPECT_EQ(d.calls, 0);
}

TEST(OpenRecipientResponse, NumbersOutsideTheDoubleRangeAreRejected) {
  // Boost.JSON reads these as +-Infinity or NaN; serialised again they would
  // be the bare words Infinity/NaN, which is not JSON.
  for (const std::string number : {"1e400", "-1e400", "0e309", "1E999"}) {
    for (const std::string& where : {"{\"N\":" + number + ",", "{\"A\":{\"b\":[1," + number + "]},",
                                     "{\"Plaintext\":" + number + ","}) {
      const std::string body = where + R"("CiphertextForRecipient":")" + cfr() + "\"}";
      SCOPED_TRACE(body);
      FakeDecrypt d{"x"};
      const auto r = open_recipient_response(body, AttestedOp::kDecrypt, d.fn());
      ASSERT_FALSE(r) << *r;
      EXPECT_EQ(r.error().code, Errc::kUpstreamProtocol);
      EXPECT_EQ(d.calls, 0);  // rejected before any decryption
    }
  }
  // Large but finite numbers still pass and come out as JSON.
  FakeDecrypt d{"x"};
  const auto r = open_recipient_response(R"({"N":1e308,"M":-0e0,"CiphertextForRecipient":")" + cfr() + "\"}",
                                         AttestedOp::kDecrypt, d.fn());
  ASSERT_TRUE(r) << r.error().message;
  const auto out = parse_object(*r);
  EXPECT_EQ(out.at("N").as_double(), 1e308);
}

TEST(OpenRecipientResponse, LargePlaintextAndManyMembers) {
  std::string upstream = "{";
  for (int i = 0; i < 200; ++i) {
    upstream += "\"m" + std::to_string(i) + "\":\"" + std::string(40, 'v') + "\",";
  }
  upstream += R"("CiphertextForRecipient":")" + cfr() + "\"}";
  FakeDecrypt d{std::string(4096, 'p')};
  const auto r = open_recipient_response(upstream, AttestedOp::kDecrypt, d.fn());
  ASSERT_TRUE(r);
  const auto out = parse_object(*r);
  EXPECT_EQ(out.size(), 201u);
  EXPECT_EQ(out.at("Plaintext").as_string().size(), kp::base64_encoded_size(4096));
}

}  // namespace
}  // namespace kp::kms

namespace kp::kms {
namespace {

TEST(ScanRequest, TellsWhetherTheAppBroughtItsOwnRecipient) {
  auto with = scan_request(R"({"KeyId":"k","Recipient":{"AttestationDocument":"AA=="}})");
  ASSERT_TRUE(with);
  EXPECT_TRUE(with->has_recipient);
  auto without = scan_request(R"(  {"KeyId":"k"})");
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->has_recipient);
  EXPECT_EQ(without->brace, 2u);
  EXPECT_FALSE(scan_request("[1]"));
  EXPECT_FALSE(scan_request("{"));
}

TEST(ScanRequest, TwoRecipientMembersWithOneNotNullAreRefused) {
  for (const char* body : {R"({"Recipient":{"AttestationDocument":"AA=="},"KeyId":"k","Recipient":null})",
                           R"({"Recipient":null,"Recipient":{"AttestationDocument":"AA=="}})",
                           R"({"Recipient":{},"Recipient":{}})"}) {
    auto s = scan_request(body);
    ASSERT_FALSE(s) << body;
    EXPECT_EQ(s.error().code, Errc::kMalformedRequest);
    EXPECT_NE(s.error().message.find("more than one Recipient"), std::string::npos) << s.error().message;
  }
  // Only nulls: each is removed on insert, nothing to disagree about.
  auto nulls = scan_request(R"({"Recipient":null,"KeyId":"k","Recipient":null})");
  ASSERT_TRUE(nulls);
  EXPECT_FALSE(nulls->has_recipient);
  EXPECT_EQ(nulls->null_recipients, 2u);
  // A nested "Recipient" is not a root member.
  EXPECT_TRUE(scan_request(R"({"Recipient":{"Recipient":1},"EncryptionContext":{"Recipient":"x"}})"));
}

TEST(RecipientMember, IsCheckedOnceAndSplicesLikeTheDocumentText) {
  EXPECT_FALSE(RecipientMember::make(""));
  EXPECT_FALSE(RecipientMember::make("QUJ\"D"));
  const auto m = RecipientMember::make(kDoc);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->member(), kMember);
  EXPECT_EQ(m->body_prefix(), "{" + kMember);
  for (const std::string& body : {std::string(R"({"KeyId":"k"})"), std::string("{}"), std::string(" {\"a\":1}"),
                                  std::string(R"({"Recipient":null,"N":2})")}) {
    SCOPED_TRACE(body);
    const auto s = scan_request(body);
    ASSERT_TRUE(s);
    std::string with_member = body;
    std::string with_text = body;
    ASSERT_TRUE(insert_recipient(with_member, *s, *m));
    ASSERT_TRUE(insert_recipient(with_text, *s, kDoc));
    EXPECT_EQ(with_member, with_text);
    // Bodies whose '{' comes first start with the prefix (what the payload
    // hash resumes after).
    EXPECT_EQ(with_member.starts_with(m->body_prefix()), s->brace == 0);
  }
}

TEST(ScanRequest, InsertRecipientUsesTheScan) {
  std::string body = R"({"KeyId":"k"})";
  auto s = scan_request(body);
  ASSERT_TRUE(s);
  ASSERT_TRUE(insert_recipient(body, *s, "QUJD"));
  EXPECT_EQ(body,
            R"({"Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"QUJD"},"KeyId":"k"})");
  std::string other = "[]";
  EXPECT_FALSE(insert_recipient(other, *s, "QUJD")) << "a scan of another body is refused";
  // A stale scan that promises a null Recipient the body does not have.
  std::string nulled = R"({"Recipient":null})";
  auto sn = scan_request(nulled);
  ASSERT_TRUE(sn);
  for (std::string stale : {std::string(R"({"Recipient":)"), std::string(R"({"Recipient")"), std::string("{"),
                            std::string(R"({"a":[)"), std::string(R"({"a":"x)"), std::string(R"({x)")}) {
    EXPECT_FALSE(insert_recipient(stale, *sn, "QUJD")) << stale;
  }
  std::string empty = "{}";
  auto se = scan_request(empty);
  ASSERT_TRUE(se);
  EXPECT_FALSE(insert_recipient(empty, *se, "not base64!"));
}

}  // namespace
}  // namespace kp::kms
