#include "attestation/verifier.h"

#include <gtest/gtest.h>

#include "attestation/aws_root.h"
#include "attestation/test_util.h"
#include "base/encoding.h"
#include "base/time_format.h"

namespace kp::attestation {
namespace {

using testing::real_documents;

VerifyOptions at_ms(std::uint64_t ms) {
  VerifyOptions o;
  o.at = from_unix_ms(static_cast<std::int64_t>(ms));
  return o;
}

TEST(AwsRoot, EmbeddedRootMatchesPinAndVector) {
  EXPECT_TRUE(check_aws_nitro_root());
  const Bytes file = testing::read_file(testing::vectors_dir() / "aws_nitro_root_g1" / "root.der");
  const ByteView embedded = aws_nitro_root_der();
  EXPECT_EQ(Bytes(embedded.begin(), embedded.end()), file);
  ASSERT_EQ(default_trusted_roots().size(), 1u);
  EXPECT_EQ(default_trusted_roots()[0], file);
}

TEST(Verifier, RealDocumentsVerifyAtTheirTimestamp) {
  for (const auto& d : real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc) << doc.error().message;
    auto v = verify(*doc, at_ms(doc->timestamp_ms));
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->root_sha256_hex, kAwsNitroRootSha256);
    EXPECT_EQ(v->document.module_id, doc->module_id);
    // Chain as described equals the independent checker's view.
    ASSERT_EQ(v->chain.size(), doc->cabundle.size() + 1);
    for (const auto& c : d.analysis.at("certs").as_array()) {
      const auto& co = c.as_object();
      const auto it = std::find_if(v->chain.begin(), v->chain.end(), [&](const CertificateInfo& i) {
        return i.role == co.at("which").as_string();
      });
      ASSERT_NE(it, v->chain.end());
      EXPECT_TRUE(it->parsed);
      EXPECT_EQ(it->subject, co.at("subject").as_string());
      EXPECT_EQ(it->issuer, co.at("issuer").as_string());
      EXPECT_EQ(it->sha256_hex, co.at("sha256_fingerprint").as_string());
      EXPECT_EQ(parse_time_utc(std::string(co.at("not_before").as_string())), it->not_before);
      EXPECT_EQ(parse_time_utc(std::string(co.at("not_after").as_string())), it->not_after);
    }
    EXPECT_EQ(v->chain.front().role, "certificate");
    EXPECT_EQ(v->chain.back().role, "cabundle[0]");
    // The ends of the validity window work too.
    const auto& window = d.analysis.at("chain_valid_window_utc").as_array();
    // (OpenSSL treats the notAfter second itself as expired.)
    VerifyOptions first;
    first.at = *parse_time_utc(std::string(window[0].as_string()));
    EXPECT_TRUE(verify(*doc, first));
    VerifyOptions last;
    last.at = *parse_time_utc(std::string(window[1].as_string())) - std::chrono::seconds(1);
    EXPECT_TRUE(verify(*doc, last));
    // verify_document == parse + verify.
    EXPECT_TRUE(verify_document(d.cose, at_ms(doc->timestamp_ms)));
  }
}

TEST(Verifier, RealDocumentsAreExpiredNow) {
  for (const auto& d : real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc);
    VerifyOptions now;  // default: system clock, AWS root
    auto o = verify_detailed(*doc, now);
    EXPECT_EQ(o.failure, VerifyFailure::kCertificateExpired) << o.message;
    EXPECT_NE(o.message.find("expired at 20"), std::string::npos) << o.message;
    EXPECT_NE(o.message.find("verification time " + format_rfc3339(now.at)), std::string::npos)
        << o.message;
    auto r = verify(*doc, now);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kAttestationInvalid);
  }
}

TEST(Verifier, LeafWindowBoundsAreEnforced) {
  for (const auto& d : real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc);
    const auto& window = d.analysis.at("chain_valid_window_utc").as_array();
    VerifyOptions before;
    before.at = *parse_time_utc(std::string(window[0].as_string())) - std::chrono::seconds(1);
    auto o = verify_detailed(*doc, before);
    EXPECT_EQ(o.failure, VerifyFailure::kCertificateNotYetValid) << o.message;
    EXPECT_EQ(o.certificate, "certificate");
    EXPECT_NE(o.message.find("not yet valid until"), std::string::npos) << o.message;
    VerifyOptions after;
    after.at = *parse_time_utc(std::string(window[1].as_string())) + std::chrono::seconds(1);
    o = verify_detailed(*doc, after);
    EXPECT_EQ(o.failure, VerifyFailure::kCertificateExpired) << o.message;
    EXPECT_EQ(o.certificate, "certificate");
    EXPECT_NE(o.message.find("certificate (CN=" + doc->module_id), std::string::npos) << o.message;
  }
}

TEST(Verifier, FlippedSignatureOrPayloadBitIsRejected) {
  for (const auto& d : real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc);
    const auto opts = at_ms(doc->timestamp_ms);
    for (std::size_t i : {std::size_t{0}, std::size_t{47}, std::size_t{48}, std::size_t{95}}) {
      auto bad = *doc;
      bad.signature[i] ^= 0x01;
      auto o = verify_detailed(bad, opts);
      EXPECT_EQ(o.failure, VerifyFailure::kSignatureInvalid) << i << ": " << o.message;
    }
    for (std::size_t i = 0; i < doc->payload.size(); i += 97) {
      auto bad = *doc;
      bad.payload[i] ^= 0x40;
      EXPECT_EQ(verify_detailed(bad, opts).failure, VerifyFailure::kSignatureInvalid) << i;
    }
    auto bad = *doc;
    bad.protected_header = {0xa1, 0x01, 0x38, 0x23};
    EXPECT_EQ(verify_detailed(bad, opts).failure, VerifyFailure::kSignatureInvalid);
  }
}

TEST(Verifier, FlippedBitInEachCertificateIsRejectedNamingIt) {
  for (const auto& d : real_documents()) {
    SCOPED_TRACE(d.name);
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc);
    const auto opts = at_ms(doc->timestamp_ms);
    // Last byte = inside the certificate's own signature value.
    {
      auto bad = *doc;
      bad.certificate.back() ^= 0x01;
      auto o = verify_detailed(bad, opts);
      EXPECT_EQ(o.failure, VerifyFailure::kChainInvalid) << o.message;
      EXPECT_EQ(o.certificate, "certificate") << o.message;
      EXPECT_NE(o.message.find("signature"), std::string::npos) << o.message;
    }
    {
      auto bad = *doc;
      bad.cabundle[0].back() ^= 0x01;
      auto o = verify_detailed(bad, opts);
      EXPECT_EQ(o.failure, VerifyFailure::kUntrustedRoot) << o.message;
      EXPECT_EQ(o.certificate, "cabundle[0]");
    }
    for (std::size_t i = 1; i < doc->cabundle.size(); ++i) {
      auto bad = *doc;
      bad.cabundle[i].back() ^= 0x01;
      auto o = verify_detailed(bad, opts);
      EXPECT_EQ(o.failure, VerifyFailure::kChainInvalid) << o.message;
      EXPECT_EQ(o.certificate, "cabundle[" + std::to_string(i) + "]") << o.message;
    }
  }
}

TEST(Verifier, EveryBitFlipSampleInTheLeafFails) {
  const auto docs = real_documents();
  ASSERT_FALSE(docs.empty());
  auto doc = parse_document(docs.front().cose);
  ASSERT_TRUE(doc);
  const auto opts = at_ms(doc->timestamp_ms);
  for (std::size_t i = 0; i < doc->certificate.size(); i += 3) {
    auto bad = *doc;
    bad.certificate[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
    auto o = verify_detailed(bad, opts);
    EXPECT_FALSE(o.ok()) << "byte " << i;
  }
}

TEST(Verifier, FlippedBitsAnywhereInTheDocumentNeverVerify) {
  const auto docs = real_documents();
  ASSERT_FALSE(docs.empty());
  const Bytes& cose = docs.back().cose;
  auto good = parse_document(cose);
  ASSERT_TRUE(good);
  const auto opts = at_ms(good->timestamp_ms);
  for (std::size_t i = 0; i < cose.size(); i += 11) {
    Bytes bad = cose;
    bad[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
    auto v = verify_document(bad, opts);
    EXPECT_FALSE(v) << "byte " << i;
  }
}

TEST(Verifier, WrongOrMissingRootIsRejected) {
  const auto docs = real_documents();
  auto doc = parse_document(docs.front().cose);
  ASSERT_TRUE(doc);
  auto opts = at_ms(doc->timestamp_ms);
  opts.trusted_roots_der = {doc->cabundle[1]};  // an intermediate is not our root
  auto o = verify_detailed(*doc, opts);
  EXPECT_EQ(o.failure, VerifyFailure::kUntrustedRoot) << o.message;
  EXPECT_NE(o.message.find("cabundle[0] (CN=aws.nitro-enclaves"), std::string::npos) << o.message;
  opts.trusted_roots_der.clear();
  EXPECT_EQ(verify_detailed(*doc, opts).failure, VerifyFailure::kUntrustedRoot);
  // Several roots: any one may match.
  opts.trusted_roots_der = {doc->cabundle[1], default_trusted_roots()[0]};
  EXPECT_TRUE(verify_detailed(*doc, opts).ok());
}

TEST(Verifier, BundleMustBeOneOrderedPath) {
  const auto docs = real_documents();
  auto doc = parse_document(docs.front().cose);
  ASSERT_TRUE(doc);
  const auto opts = at_ms(doc->timestamp_ms);
  {
    auto bad = *doc;  // swap two intermediates: still a path for OpenSSL, not the documented order
    std::swap(bad.cabundle[1], bad.cabundle[2]);
    auto o = verify_detailed(bad, opts);
    EXPECT_TRUE(o.ok() == false);
  }
  {
    auto bad = *doc;  // drop the zonal CA: the leaf's issuer chain is broken
    bad.cabundle.erase(bad.cabundle.begin() + 2);
    auto o = verify_detailed(bad, opts);
    EXPECT_EQ(o.failure, VerifyFailure::kChainInvalid) << o.message;
  }
  {
    auto bad = *doc;  // an extra, unused certificate in the bundle
    bad.cabundle.push_back(doc->cabundle[1]);
    bad.cabundle.insert(bad.cabundle.begin() + 1, doc->cabundle[3]);
    EXPECT_FALSE(verify_detailed(bad, opts).ok());
  }
  {
    auto bad = *doc;  // the leaf in the bundle position of a CA
    bad.cabundle.back() = doc->certificate;
    EXPECT_FALSE(verify_detailed(bad, opts).ok());
  }
  {
    auto bad = *doc;
    bad.certificate = {0x30, 0x03, 0x02, 0x01, 0x01};
    auto o = verify_detailed(bad, opts);
    EXPECT_EQ(o.failure, VerifyFailure::kMalformedCertificate);
    EXPECT_EQ(o.certificate, "certificate");
  }
  {
    auto bad = *doc;  // trailing garbage after a valid DER certificate
    bad.cabundle[2].push_back(0);
    auto o = verify_detailed(bad, opts);
    EXPECT_EQ(o.failure, VerifyFailure::kMalformedCertificate);
    EXPECT_EQ(o.certificate, "cabundle[2]");
  }
}

TEST(Verifier, SigStructureIsTheCoseEncoding) {
  const Bytes s = sig_structure1(Bytes{0xa1, 0x01, 0x38, 0x22}, Bytes{0x01, 0x02});
  EXPECT_EQ(hex_encode(s), "846a5369676e61747572653144a101382240420102");
}

}  // namespace
}  // namespace kp::attestation
