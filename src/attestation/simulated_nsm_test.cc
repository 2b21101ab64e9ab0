#include "attestation/simulated_nsm.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <openssl/x509v3.h>

#include "attestation/document.h"
#include "attestation/ossl_util.h"
#include "attestation/test_util.h"
#include "attestation/verifier.h"
#include "base/encoding.h"
#include "base/time_format.h"
#include "cbor/decoder.h"
#include "cbor/writer.h"
#include "crypto/digest.h"

namespace kp::attestation {
namespace {

Bytes sha384_bytes(ByteView in) {
  const auto d = crypto::sha384(in);
  return Bytes(d.begin(), d.end());
}

const SysTime kT0 = *parse_time_utc("2026-03-01T12:00:00Z");

std::shared_ptr<const SimPki> test_pki(SimPkiOptions o = {}) {
  auto pki = generate_sim_pki(o);
  EXPECT_TRUE(pki) << pki.error().message;
  return std::make_shared<const SimPki>(std::move(*pki));
}

std::shared_ptr<const SimPki> pki_at_t0() {
  static const auto pki = [] {
    SimPkiOptions o;
    o.now = kT0;
    return test_pki(o);
  }();
  return pki;
}

VerifyOptions sim_roots(const SimPki& pki, SysTime at) {
  VerifyOptions o;
  o.trusted_roots_der = {pki.root_der};
  o.at = at;
  return o;
}

struct Sim {
  FixedClock clock{kT0};
  std::shared_ptr<SimulatedNsm> nsm;
  explicit Sim(SimulatedNsmOptions o = {}) {
    if (!o.pki) {
      o.pki = pki_at_t0();
    }
    o.clock = &clock;
    auto created = SimulatedNsm::create(std::move(o));
    EXPECT_TRUE(created) << created.error().message;
    nsm = *created;
  }
};

TEST(SimulatedNsm, DocumentsAreShapedLikeRealOnes) {
  Sim sim;
  NsmClient client(sim.nsm);
  auto cose = client.attestation({});
  ASSERT_TRUE(cose) << cose.error().message;
  // 84 44 a1013822 a0 59 .... : untagged, protected ES384, empty unprotected, 2-byte payload length.
  EXPECT_EQ(hex_encode(ByteView(*cose).first(8)), "8444a1013822a059");
  auto top = cbor::decode(*cose);
  ASSERT_TRUE(top);
  EXPECT_TRUE(top->tags().empty());
  const auto& parts = *top->as_array();
  EXPECT_EQ(parts[3].as_bytes()->size(), 96u);
  auto payload = cbor::decode(*parts[2].as_bytes());
  ASSERT_TRUE(payload);
  std::vector<std::string> keys;
  for (const auto& e : *payload->as_map()) {
    keys.push_back(*e.key.as_text());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"module_id", "digest", "timestamp", "pcrs", "certificate",
                                            "cabundle", "public_key", "user_data", "nonce"}));
  EXPECT_TRUE(payload->find("public_key")->is_null());
  EXPECT_TRUE(payload->find("nonce")->is_null());
  // Module id as on real hardware.
  const std::string& id = sim.nsm->module_id();
  ASSERT_EQ(id.size(), 39u);
  EXPECT_EQ(id.substr(0, 2), "i-");
  EXPECT_EQ(id.substr(19, 4), "-enc");
}

TEST(SimulatedNsm, DocumentRoundTripsEveryField) {
  std::map<unsigned, Bytes> pcrs{{0, Bytes(48, 0xaa)}, {16, Bytes(48, 0x16)}};
  Sim sim({.module_id = "i-0123456789abcdef0-enc0123456789abcdef", .pcrs = pcrs});
  sim.clock.advance(std::chrono::milliseconds(1234));
  NsmClient client(sim.nsm);
  const AttestationRequest req{.user_data = Bytes{}, .nonce = Bytes(32, 7), .public_key = Bytes(294, 0x30)};
  auto cose = client.attestation(req);
  ASSERT_TRUE(cose) << cose.error().message;
  auto doc = parse_document(*cose);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->module_id, "i-0123456789abcdef0-enc0123456789abcdef");
  EXPECT_EQ(doc->digest, "SHA384");
  EXPECT_EQ(doc->timestamp_ms, static_cast<std::uint64_t>(unix_ms(kT0)) + 1234);
  ASSERT_EQ(doc->pcrs.size(), 17u);
  EXPECT_EQ(doc->pcrs.at(0), Bytes(48, 0xaa));
  EXPECT_EQ(doc->pcrs.at(1), Bytes(48, 0));
  EXPECT_EQ(doc->pcrs.at(16), Bytes(48, 0x16));
  // PCR4 = SHA-384(48 zero bytes || "i-0123456789abcdef0").
  Bytes pcr4_in(48, 0);
  const std::string instance = "i-0123456789abcdef0";
  pcr4_in.insert(pcr4_in.end(), instance.begin(), instance.end());
  EXPECT_EQ(doc->pcrs.at(4), sha384_bytes(pcr4_in));
  EXPECT_EQ(sim.nsm->pcr(4), doc->pcrs.at(4));
  const auto& pki = *pki_at_t0();
  EXPECT_EQ(doc->certificate, pki.leaf_der);
  EXPECT_EQ(doc->cabundle, (std::vector<Bytes>{pki.root_der, pki.intermediate_der}));
  EXPECT_EQ(doc->public_key, req.public_key);
  EXPECT_EQ(doc->user_data, req.user_data);  // empty, not null
  EXPECT_EQ(doc->nonce, req.nonce);
  EXPECT_FALSE(doc->tagged);
  EXPECT_EQ(hex_encode(doc->protected_header), "a1013822");
}

TEST(SimulatedNsm, DocumentsVerifyAgainstTheSimulatedRootOnly) {
  Sim sim;
  NsmClient client(sim.nsm);
  auto cose = client.attestation({.nonce = Bytes{1, 2, 3}});
  ASSERT_TRUE(cose);
  const auto& pki = *pki_at_t0();
  auto v = verify_document(*cose, sim_roots(pki, sim.clock.now()));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->chain.size(), 3u);
  EXPECT_EQ(v->chain.back().subject, kSimRootSubject);
  EXPECT_NE(v->chain.front().subject.find("O=Simulated"), std::string::npos);
  // The default options trust only AWS.
  auto doc = parse_document(*cose);
  ASSERT_TRUE(doc);
  VerifyOptions aws;
  aws.at = sim.clock.now();
  auto o = verify_detailed(*doc, aws);
  EXPECT_EQ(o.failure, VerifyFailure::kUntrustedRoot) << o.message;
  // Tampering is detected as for real documents.
  auto bad = *doc;
  bad.payload[20] ^= 1;
  EXPECT_EQ(verify_detailed(bad, sim_roots(pki, sim.clock.now())).failure, VerifyFailure::kSignatureInvalid);
  bad = *doc;
  bad.signature[5] ^= 1;
  EXPECT_EQ(verify_detailed(bad, sim_roots(pki, sim.clock.now())).failure, VerifyFailure::kSignatureInvalid);
  // Another simulated PKI's root is not ours.
  auto other = test_pki();
  EXPECT_EQ(verify_detailed(*doc, sim_roots(*other, sim.clock.now())).failure, VerifyFailure::kUntrustedRoot);
}

TEST(SimulatedNsm, LongLivedAndShortLivedLeaves) {
  {
    SimPkiOptions o;
    o.now = kT0;
    o.leaf_lifetime = std::chrono::hours(1);
    auto pki = test_pki(o);
    Sim sim({.pki = pki});
    auto cose = NsmClient(sim.nsm).attestation({});
    ASSERT_TRUE(cose);
    EXPECT_TRUE(verify_document(*cose, sim_roots(*pki, kT0 + std::chrono::minutes(59))));
    auto late = verify_document(*cose, sim_roots(*pki, kT0 + std::chrono::minutes(61)));
    ASSERT_FALSE(late);
    EXPECT_NE(late.error().message.find("expired at"), std::string::npos) << late.error().message;
  }
  Sim sim({.ephemeral_leaf_lifetime = std::chrono::hours(3)});
  NsmClient client(sim.nsm);
  auto first = parse_document(*client.attestation({}));
  ASSERT_TRUE(first);
  const auto& pki = *pki_at_t0();
  EXPECT_NE(first->certificate, pki.leaf_der);
  EXPECT_TRUE(verify(*first, sim_roots(pki, sim.clock.now())));
  auto expired = verify_detailed(*first, sim_roots(pki, sim.clock.now() + std::chrono::hours(4)));
  EXPECT_EQ(expired.failure, VerifyFailure::kCertificateExpired);
  EXPECT_EQ(expired.certificate, "certificate");
  sim.clock.advance(std::chrono::minutes(30));
  auto second = parse_document(*client.attestation({}));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->certificate, first->certificate);  // reused
  sim.clock.advance(std::chrono::hours(2));
  auto third = parse_document(*client.attestation({}));
  ASSERT_TRUE(third);
  EXPECT_NE(third->certificate, first->certificate);  // re-minted
  EXPECT_TRUE(verify(*third, sim_roots(pki, sim.clock.now())));
  auto chain = describe_chain(*third);
  EXPECT_EQ(chain.front().subject.rfind("CN=" + sim.nsm->module_id() + ".sim.aws", 0), 0u);
}

TEST(SimulatedNsm, OtherOperationsAndErrors) {
  Sim sim({.pcrs = {{17, Bytes(48, 0x11)}}});
  NsmClient client(sim.nsm);
  auto d = client.describe_nsm();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->module_id, sim.nsm->module_id());
  EXPECT_EQ(d->max_pcrs, 32);
  EXPECT_EQ(d->digest, "SHA384");
  EXPECT_EQ(d->locked_pcrs.size(), 16u);
  auto p0 = client.describe_pcr(0);
  ASSERT_TRUE(p0);
  EXPECT_TRUE(p0->locked);
  EXPECT_EQ(p0->data, Bytes(48, 0));
  auto p17 = client.describe_pcr(17);
  ASSERT_TRUE(p17);
  EXPECT_EQ(p17->data, Bytes(48, 0x11));
  auto p20 = client.describe_pcr(20);
  ASSERT_TRUE(p20);
  EXPECT_FALSE(p20->locked);
  auto p32 = client.describe_pcr(32);
  ASSERT_FALSE(p32);
  EXPECT_EQ(nsm_error_code(p32.error()), NsmErrorCode::kInvalidIndex);
  auto r1 = client.get_random();
  auto r2 = client.get_random();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->size(), 256u);
  EXPECT_NE(*r1, *r2);

  // Raw device: the same bytes a real NSM would answer.
  auto garbage = sim.nsm->transact(Bytes{0xff});
  ASSERT_TRUE(garbage);
  EXPECT_EQ(*garbage, encode_error_response(NsmErrorCode::kInvalidArgument));
  auto lock = sim.nsm->transact(*hex_decode("a1674c6f636b504352a165696e64657801"));
  ASSERT_TRUE(lock);
  EXPECT_EQ(*lock, encode_error_response(NsmErrorCode::kInvalidOperation));
  auto big = sim.nsm->transact(encode_attestation_request({.user_data = Bytes(2000, 1)}));
  ASSERT_TRUE(big);
  EXPECT_EQ(decode_error_response(*big), NsmErrorCode::kInputTooLarge);
  auto too_long = sim.nsm->transact(Bytes(4097, 0));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(nsm_error_code(too_long.error()), NsmErrorCode::kInputTooLarge);
  EXPECT_GE(sim.nsm->calls(), 8u);
}

TEST(SimulatedNsm, ComparePcrsNamesEveryMismatch) {
  Sim sim({.pcrs = {{0, Bytes(48, 0xaa)}, {8, Bytes(48, 0x08)}}});
  NsmClient client(sim.nsm);
  EXPECT_TRUE(compare_pcrs(client, {{0, Bytes(48, 0xaa)}, {8, Bytes(48, 0x08)}}).empty());
  const auto lines = compare_pcrs(client, {{0, Bytes(48, 0xab)}, {8, Bytes(48, 0x08)}, {40, Bytes(48, 1)}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "PCR0 is " + std::string(96, 'a') + ", expected " + hex_encode(Bytes(48, 0xab)));
  EXPECT_EQ(lines[1].rfind("PCR40: cannot be read from the NSM", 0), 0u) << lines[1];
  // PCR1 is zero in the simulator, as in a debug-mode enclave.
  const auto debug = compare_pcrs(client, {{1, Bytes(48, 0x01)}});
  ASSERT_EQ(debug.size(), 1u);
  EXPECT_NE(debug[0].find("--debug-mode"), std::string::npos) << debug[0];
}

TEST(SimulatedNsm, CreateValidatesOptions) {
  FixedClock clock(kT0);
  auto bad_id = SimulatedNsm::create({.pki = pki_at_t0(), .clock = &clock, .module_id = "enclave-1"});
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().code, Errc::kValidation);
  auto bad_pcr = SimulatedNsm::create({.pki = pki_at_t0(), .clock = &clock, .pcrs = {{3, Bytes(32)}}});
  ASSERT_FALSE(bad_pcr);
  EXPECT_NE(bad_pcr.error().message.find("PCR3"), std::string::npos);
  EXPECT_FALSE(SimulatedNsm::create({.pki = pki_at_t0(), .clock = &clock, .pcrs = {{32, Bytes(48)}}}));
  EXPECT_FALSE(SimulatedNsm::create({.pki = nullptr, .clock = &clock}));
}

TEST(SimulatedNsm, LatencyAndOneCallAtATime) {
  Sim sim({.latency = std::chrono::milliseconds(20)});
  NsmClient client(sim.nsm);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2; ++i) {
        if (client.attestation({.nonce = Bytes{static_cast<std::uint8_t>(i)}})) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(sim.nsm->calls(), 8u);
  EXPECT_GE(took, std::chrono::milliseconds(8 * 20));  // serialized, not parallel
}

TEST(SimulatedNsm, Pcr4FormulaMatchesRealDocuments) {
  for (const auto& d : testing::real_documents()) {
    auto doc = parse_document(d.cose);
    ASSERT_TRUE(doc);
    Bytes in(48, 0);
    const std::string instance = doc->module_id.substr(0, doc->module_id.find("-enc"));
    in.insert(in.end(), instance.begin(), instance.end());
    EXPECT_EQ(doc->pcrs.at(4), sha384_bytes(in)) << d.name;
  }
}

// A document signed by a CA certificate used as the leaf: the chain is fine,
// the leaf profile is not.
TEST(SimulatedNsm, VerifierRejectsACaAsLeaf) {
  const auto& pki = *pki_at_t0();
  cbor::Writer p;
  p.map_header(9).tstr("module_id").tstr("i-0123456789abcdef0-enc0123456789abcdef");
  p.tstr("digest").tstr("SHA384").tstr("timestamp").uint(static_cast<std::uint64_t>(unix_ms(kT0)));
  p.tstr("pcrs").map_header(1).uint(0).bstr(Bytes(48, 0));
  p.tstr("certificate").bstr(pki.intermediate_der);
  p.tstr("cabundle").array_header(1).bstr(pki.root_der);
  p.tstr("public_key").null().tstr("user_data").null().tstr("nonce").null();
  const Bytes payload = std::move(p).take();
  const Bytes prot{0xa1, 0x01, 0x38, 0x22};
  auto key = detail::parse_private_key_pem(pki.intermediate_key_pem.view());
  ASSERT_TRUE(key);
  const Bytes tbs = sig_structure1(prot, payload);
  detail::EvpMdCtxPtr md(EVP_MD_CTX_new());
  std::size_t len = 0;
  ASSERT_EQ(EVP_DigestSignInit(md.get(), nullptr, EVP_sha384(), nullptr, key.get()), 1);
  ASSERT_EQ(EVP_DigestSign(md.get(), nullptr, &len, tbs.data(), tbs.size()), 1);
  Bytes der(len);
  ASSERT_EQ(EVP_DigestSign(md.get(), der.data(), &len, tbs.data(), tbs.size()), 1);
  der.resize(len);
  cbor::Writer cose;
  cose.array_header(4).bstr(prot).map_header(0).bstr(payload).bstr(*detail::es384_der_to_raw(der));
  auto doc = parse_document(cose.bytes());
  ASSERT_TRUE(doc) << doc.error().message;
  auto o = verify_detailed(*doc, sim_roots(pki, kT0));
  EXPECT_EQ(o.failure, VerifyFailure::kLeafInvalid) << o.message;
  EXPECT_NE(o.message.find("is a CA certificate"), std::string::npos) << o.message;
}

class SimPkiDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kp_sim_pki_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(SimPkiDir, InitWritesFilesAndLoadReadsThemBack) {
  auto made = init_sim_pki(dir_);
  ASSERT_TRUE(made) << made.error().message;
  for (const char* f : {"root.pem", "intermediate.pem", "leaf.pem", "root.key", "intermediate.key", "leaf.key"}) {
    EXPECT_TRUE(std::filesystem::exists(dir_ / f)) << f;
  }
  for (const char* f : {"root.key", "intermediate.key", "leaf.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  auto loaded = load_sim_pki(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->root_der, made->root_der);
  EXPECT_EQ(loaded->intermediate_der, made->intermediate_der);
  EXPECT_EQ(loaded->leaf_der, made->leaf_der);
  // A simulator on the loaded PKI produces verifiable documents (real clock).
  auto pki = std::make_shared<const SimPki>(std::move(*loaded));
  auto nsm = SimulatedNsm::create({.pki = pki});
  ASSERT_TRUE(nsm);
  auto cose = NsmClient(*nsm).attestation({.public_key = Bytes{1}});
  ASSERT_TRUE(cose);
  VerifyOptions o;
  o.trusted_roots_der = {pki->root_der};
  auto v = verify_document(*cose, o);
  ASSERT_TRUE(v) << v.error().message;
  // Certificate profile: the sim chain carries the extensions real chains do.
  EXPECT_EQ(v->chain[2].subject, kSimRootSubject);
  EXPECT_EQ(v->chain[1].subject, "CN=sim-intermediate.sim.nitro-enclaves,OU=AWS,O=Simulated,C=US");
  EXPECT_GT(v->chain[0].not_after, std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 5));
  auto root = detail::parse_der_cert(pki->root_der);
  auto leaf = detail::parse_der_cert(pki->leaf_der);
  ASSERT_TRUE(root && leaf);
  EXPECT_EQ(X509_check_ca(root.get()), 1);
  EXPECT_EQ(X509_get_pathlen(root.get()), -1);  // no pathLen, like the AWS root
  EXPECT_NE(X509_get_key_usage(root.get()) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  auto inter = detail::parse_der_cert(pki->intermediate_der);
  ASSERT_TRUE(inter);
  EXPECT_EQ(X509_get_pathlen(inter.get()), 0);
}

TEST_F(SimPkiDir, RefusesToOverwriteUnlessAsked) {
  auto first = init_sim_pki(dir_);
  ASSERT_TRUE(first);
  auto again = init_sim_pki(dir_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);
  auto unchanged = load_sim_pki(dir_);
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->root_der, first->root_der);
  SimPkiOptions o;
  o.overwrite = true;
  auto replaced = init_sim_pki(dir_, o);
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_NE(replaced->root_der, first->root_der);
  EXPECT_EQ(load_sim_pki(dir_)->root_der, replaced->root_der);
}

TEST_F(SimPkiDir, LoadRejectsMissingOrMismatchedFiles) {
  auto missing = load_sim_pki(dir_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find("root.pem: No such file or directory"), std::string::npos)
      << missing.error().message;
  ASSERT_TRUE(init_sim_pki(dir_));
  std::filesystem::copy_file(dir_ / "intermediate.key", dir_ / "leaf.key",
                             std::filesystem::copy_options::overwrite_existing);
  auto mismatched = load_sim_pki(dir_);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().code, Errc::kValidation);
}

}  // namespace
}  // namespace kp::attestation
