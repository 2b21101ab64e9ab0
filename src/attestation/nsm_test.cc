#include "attestation/nsm.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "attestation/nsm_device_linux.h"
#include "base/encoding.h"
#include "cbor/decoder.h"
#include "cbor/writer.h"

namespace kp::attestation {
namespace {

std::string hex(ByteView b) { return hex_encode(b); }
std::string hex_of(std::string_view s) { return hex_encode(as_bytes(s)); }

Bytes rsa2048_spki() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  EXPECT_NE(key, nullptr);
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key, &der);
  Bytes out(der, der + n);
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  return out;
}

TEST(NsmCodec, UnitRequestsMatchTheDriverLiterals) {
  EXPECT_EQ(hex(encode_describe_nsm_request()), "6b44657363726962654e534d");
  EXPECT_EQ(hex(encode_get_random_request()), "6947657452616e646f6d");
  EXPECT_EQ(hex(encode_describe_pcr_request(3)),
            "a1" "6b" + hex_of("DescribePCR") + "a1" "65" + hex_of("index") + "03");
  EXPECT_EQ(hex(encode_describe_pcr_request(300)).substr(hex(encode_describe_pcr_request(300)).size() - 6),
            "19012c");
}

TEST(NsmCodec, AttestationRequestWithRsaSpkiIsThe340ByteMessage) {
  const Bytes spki = rsa2048_spki();
  ASSERT_EQ(spki.size(), 294u);
  const Bytes req = encode_attestation_request({.public_key = spki});
  ASSERT_EQ(req.size(), 340u);
  const std::string prefix = "a1" "6b" + hex_of("Attestation") + "a3" "69" + hex_of("user_data") + "f6" "65" +
                             hex_of("nonce") + "f6" "6a" + hex_of("public_key") + "590126";
  EXPECT_EQ(hex(req).substr(0, prefix.size()), prefix);
  EXPECT_EQ(hex(ByteView(req).subspan(req.size() - 294)), hex(spki));
}

TEST(NsmCodec, AttestationRequestFieldOrderAndRoundTrip) {
  const AttestationRequest in{.user_data = Bytes{1}, .nonce = Bytes{}, .public_key = Bytes{3, 4}};
  const Bytes req = encode_attestation_request(in);
  EXPECT_EQ(hex(req), "a1" "6b" + hex_of("Attestation") + "a3" "69" + hex_of("user_data") + "4101" "65" +
                          hex_of("nonce") + "40" "6a" + hex_of("public_key") + "420304");
  auto back = decode_request(req);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, NsmRequest::Kind::kAttestation);
  EXPECT_EQ(back->attestation.user_data, in.user_data);
  EXPECT_EQ(back->attestation.nonce, in.nonce);
  EXPECT_EQ(back->attestation.public_key, in.public_key);
  auto none = decode_request(encode_attestation_request({}));
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->attestation.user_data || none->attestation.nonce || none->attestation.public_key);
}

TEST(NsmCodec, DecodeRequestKinds) {
  EXPECT_EQ(decode_request(encode_describe_nsm_request())->kind, NsmRequest::Kind::kDescribeNsm);
  EXPECT_EQ(decode_request(encode_get_random_request())->kind, NsmRequest::Kind::kGetRandom);
  auto pcr = decode_request(encode_describe_pcr_request(17));
  ASSERT_TRUE(pcr);
  EXPECT_EQ(pcr->kind, NsmRequest::Kind::kDescribePcr);
  EXPECT_EQ(pcr->index, 17);
  auto lock = decode_request(*hex_decode("a1674c6f636b504352a165696e64657801"));  // {"LockPCR":{"index":1}}
  ASSERT_TRUE(lock);
  EXPECT_EQ(lock->kind, NsmRequest::Kind::kUnsupported);
  EXPECT_EQ(lock->name, "LockPCR");
  for (const char* bad : {"", "01", "a0", "a2616101616202", "a1674c6f636b50435201", "ff"}) {
    auto r = decode_request(*hex_decode(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(nsm_error_code(r.error()), NsmErrorCode::kInvalidArgument) << bad;
  }
  // public_key as text is not bytes.
  auto r = decode_request(*hex_decode("a1" "6b" + hex_of("Attestation") + "a1" "6a" + hex_of("public_key") + "6178"));
  ASSERT_FALSE(r);
  EXPECT_EQ(nsm_error_code(r.error()), NsmErrorCode::kInvalidArgument);
}

TEST(NsmCodec, ResponsesRoundTrip) {
  const Bytes doc(3000, 0x84);
  auto a = decode_attestation_response(encode_attestation_response(doc));
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, doc);
  EXPECT_EQ(hex(encode_attestation_response(Bytes{1})),
            "a1" "6b" + hex_of("Attestation") + "a1" "68" + hex_of("document") + "4101");

  NsmDescription d{1, 0, 2, "i-0123456789abcdef0-enc0123456789abcdef", 32, {0, 1, 2, 15}, "SHA384"};
  auto dd = decode_describe_nsm_response(encode_describe_nsm_response(d));
  ASSERT_TRUE(dd) << dd.error().message;
  EXPECT_EQ(dd->version_major, 1);
  EXPECT_EQ(dd->version_patch, 2);
  EXPECT_EQ(dd->module_id, d.module_id);
  EXPECT_EQ(dd->max_pcrs, 32);
  EXPECT_EQ(dd->locked_pcrs, d.locked_pcrs);
  EXPECT_EQ(dd->digest, "SHA384");

  auto p = decode_describe_pcr_response(encode_describe_pcr_response({true, Bytes(48, 7)}));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->locked);
  EXPECT_EQ(p->data, Bytes(48, 7));
  EXPECT_EQ(hex(encode_describe_pcr_response({false, Bytes{}})),
            "a1" "6b" + hex_of("DescribePCR") + "a2" "64" + hex_of("lock") + "f4" "64" + hex_of("data") + "40");

  auto g = decode_get_random_response(encode_get_random_response(Bytes(256, 9)));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->size(), 256u);
}

TEST(NsmCodec, ErrorResponsesMapToTypedCodes) {
  const NsmErrorCode all[] = {NsmErrorCode::kSuccess,         NsmErrorCode::kInvalidArgument,
                              NsmErrorCode::kInvalidIndex,    NsmErrorCode::kInvalidResponse,
                              NsmErrorCode::kReadOnlyIndex,   NsmErrorCode::kInvalidOperation,
                              NsmErrorCode::kBufferTooSmall,  NsmErrorCode::kInputTooLarge,
                              NsmErrorCode::kInternalError};
  for (auto code : all) {
    const Bytes resp = encode_error_response(code);
    EXPECT_EQ(hex(resp), "a1" "65" + hex_of("Error") + hex(cbor::encode(cbor::Item::text(std::string(nsm_error_name(code))))));
    EXPECT_EQ(decode_error_response(resp), code);
    auto a = decode_attestation_response(resp);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code, Errc::kNsmFailed);
    EXPECT_EQ(nsm_error_code(a.error()), code) << a.error().message;
    EXPECT_EQ(nsm_error_code(decode_describe_pcr_response(resp).error()), code);
    EXPECT_EQ(nsm_error_code(decode_describe_nsm_response(resp).error()), code);
    EXPECT_EQ(nsm_error_code(decode_get_random_response(resp).error()), code);
  }
  EXPECT_EQ(nsm_error_name(NsmErrorCode::kInvalidIndex), "InvalidIndex");
  EXPECT_EQ(nsm_error_from_name("InputTooLarge"), NsmErrorCode::kInputTooLarge);
  EXPECT_FALSE(nsm_error_from_name("Nope"));
  // The literal a real NSM sends for a bad PCR index.
  auto r = decode_describe_pcr_response(*hex_decode("a1" "65" + hex_of("Error") + "6c" + hex_of("InvalidIndex")));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("NSM error InvalidIndex"), std::string::npos);
  // An unknown error name is still a failure, without a typed code.
  auto u = decode_attestation_response(*hex_decode("a1" "65" + hex_of("Error") + "63" + hex_of("Foo")));
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::kNsmFailed);
  EXPECT_FALSE(nsm_error_code(u.error()));
  EXPECT_FALSE(decode_error_response(encode_attestation_response(Bytes{1})));
  EXPECT_FALSE(nsm_error_code(Error{Errc::kValidation, "NSM error InvalidIndex"}));
}

TEST(NsmCodec, MalformedResponsesAreRejected) {
  const Bytes good = encode_attestation_response(Bytes(100, 1));
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = decode_attestation_response(ByteView(good).first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, Errc::kNsmFailed);
  }
  // A response for another operation.
  auto other = decode_attestation_response(encode_get_random_response(Bytes{1}));
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("unexpected response variant 'GetRandom'"), std::string::npos);
  EXPECT_FALSE(decode_get_random_response(*hex_decode("6947657452616e646f6d")));
  EXPECT_FALSE(decode_describe_pcr_response(*hex_decode("a1" "6b" + hex_of("DescribePCR") + "a0")));
  EXPECT_FALSE(decode_attestation_response(*hex_decode("9a9a9a9a4b9a")));
}

class FakeDevice final : public NsmDevice {
 public:
  Result<Bytes> transact(ByteView request) override {
    last_request.assign(request.begin(), request.end());
    ++calls;
    return reply;
  }
  Bytes last_request;
  Result<Bytes> reply = Bytes{};
  int calls = 0;
};

TEST(NsmClient, UsesTheCodecOverTheDevice) {
  auto dev = std::make_shared<FakeDevice>();
  NsmClient client(dev);
  dev->reply = encode_attestation_response(Bytes{0x84, 0x40});
  auto doc = client.attestation({.nonce = Bytes{5}});
  ASSERT_TRUE(doc);
  EXPECT_EQ(*doc, (Bytes{0x84, 0x40}));
  EXPECT_EQ(dev->last_request, encode_attestation_request({.nonce = Bytes{5}}));

  dev->reply = encode_error_response(NsmErrorCode::kInvalidIndex);
  auto pcr = client.describe_pcr(40);
  ASSERT_FALSE(pcr);
  EXPECT_EQ(nsm_error_code(pcr.error()), NsmErrorCode::kInvalidIndex);
  EXPECT_EQ(dev->last_request, encode_describe_pcr_request(40));

  dev->reply = Error{Errc::kNsmFailed, "nsm: device gone"};
  auto r = client.get_random();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "nsm: device gone");
  EXPECT_EQ(dev->last_request, encode_get_random_request());

  dev->reply = encode_describe_nsm_response({1, 0, 0, "m", 32, {}, "SHA384"});
  EXPECT_TRUE(client.describe_nsm());
  EXPECT_EQ(dev->last_request, encode_describe_nsm_request());

  const int before = dev->calls;
  auto big = client.attestation({.public_key = Bytes(1025, 1)});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::kValidation);
  EXPECT_NE(big.error().message.find("public_key"), std::string::npos);
  EXPECT_EQ(dev->calls, before);  // never sent
  dev->reply = encode_attestation_response(Bytes{1});
  EXPECT_TRUE(client.attestation({.user_data = Bytes(1024, 1), .nonce = Bytes(1024, 2),
                                   .public_key = Bytes(1024, 3)}));
}

TEST(NsmDeviceLinux, OpenFailuresAreReported) {
  auto missing = open_nsm_device("/nonexistent/nsm");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNsmFailed);
  EXPECT_NE(missing.error().message.find("/nonexistent/nsm"), std::string::npos);

  // A regular file opens but the ioctl fails (ENOTTY): a clean error.
  const auto path = std::filesystem::temp_directory_path() / ("kp_nsm_test_" + std::to_string(::getpid()));
  std::ofstream(path) << "x";
  auto dev = open_nsm_device(path.string());
  ASSERT_TRUE(dev) << dev.error().message;
  auto r = (*dev)->transact(encode_get_random_request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNsmFailed);
  EXPECT_EQ(nsm_error_code(r.error()), NsmErrorCode::kInternalError);
  auto big = (*dev)->transact(Bytes(4097, 0));
  ASSERT_FALSE(big);
  EXPECT_EQ(nsm_error_code(big.error()), NsmErrorCode::kInputTooLarge);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kp::attestation
