// Recipient (attestation + CiphertextForRecipient), attestation-gated key
// policies, real attestation documents, and SigV4 callers.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "attestation/document.h"
#include "attestation/nsm.h"
#include "attestation/sim_pki.h"
#include "attestation/simulated_nsm.h"
#include "base/encoding.h"
#include "crypto/cms.h"
#include "crypto/ec.h"
#include "crypto/rsa_key.h"
#include "emulator/emulator.h"
#include "emulator/test_support.h"
#include "sigv4/signer.h"

namespace kp::emulator {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using testing::Answer;
using testing::b64;
using testing::call;
using testing::unb64;

constexpr std::int64_t kStartMs = 1750000000000;  // 2025-06-15

Bytes read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  return Bytes(s.begin(), s.end());
}

Bytes filled(std::size_t n, std::uint8_t v) { return Bytes(n, v); }

// Shared, expensive fixtures: one simulated PKI and recipient key for the suite.
struct Shared {
  std::shared_ptr<const attestation::SimPki> pki;
  std::unique_ptr<crypto::RsaKeyPair> recipient;
};
Shared& shared() {
  static Shared s = [] {
    Shared out;
    attestation::SimPkiOptions o;
    o.now = from_unix_ms(kStartMs);
    auto pki = attestation::generate_sim_pki(o);
    if (pki) {
      out.pki = std::make_shared<const attestation::SimPki>(std::move(*pki));
    }
    auto key = crypto::RsaKeyPair::generate(2048);
    if (key) {
      out.recipient = std::make_unique<crypto::RsaKeyPair>(std::move(*key));
    }
    return out;
  }();
  return s;
}

class RecipientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(shared().pki);
    ASSERT_TRUE(shared().recipient);
    open(true);
  }

  void open(bool trust_sim_root) {
    emu_.reset();
    EmulatorOptions o;
    o.data_dir = dir_.path() / "state";
    o.clock = &clock_;
    if (trust_sim_root) {
      o.extra_trust_roots_der.push_back(shared().pki->root_der);
    }
    auto e = KmsEmulator::open(std::move(o));
    ASSERT_TRUE(e) << e.error().message;
    emu_ = std::move(*e);
  }

  // An attestation document from a simulated NSM with the given PCR0.
  Bytes document(const Bytes& pcr0, std::optional<Bytes> public_key) {
    attestation::SimulatedNsmOptions o;
    o.pki = shared().pki;
    o.clock = &clock_;
    o.pcrs[0] = pcr0;
    auto nsm = attestation::SimulatedNsm::create(std::move(o));
    EXPECT_TRUE(nsm) << nsm.error().message;
    attestation::NsmClient client(*nsm);
    attestation::AttestationRequest req;
    req.public_key = std::move(public_key);
    auto doc = client.attestation(req);
    EXPECT_TRUE(doc) << doc.error().message;
    return doc ? *doc : Bytes{};
  }
  Bytes document(const Bytes& pcr0) { return document(pcr0, shared().recipient->spki_der()); }

  static json::object recipient(const Bytes& doc) {
    return {{"KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_256"}, {"AttestationDocument", b64(doc)}};
  }

  // Opens CiphertextForRecipient with the recipient key.
  static Bytes open_cfr(const json::object& body) {
    const Bytes cfr = unb64(body, "CiphertextForRecipient");
    EXPECT_FALSE(cfr.empty());
    auto pt = crypto::open_enveloped(cfr, *shared().recipient);
    EXPECT_TRUE(pt) << (pt ? "" : pt.error().message);
    return pt ? Bytes(pt->view().begin(), pt->view().end()) : Bytes{};
  }

  Answer op(std::string_view name, const json::object& body) { return call(*emu_, name, body); }

  std::string create_key(json::object body = {}) {
    auto a = op("CreateKey", body);
    EXPECT_EQ(a.status, 200u) << a.raw.body;
    return std::string(a.body["KeyMetadata"].as_object()["KeyId"].as_string());
  }

  testing::TempDir dir_;
  FixedClock clock_{from_unix_ms(kStartMs)};
  std::unique_ptr<KmsEmulator> emu_;
};

TEST_F(RecipientTest, DecryptReturnsCiphertextForRecipientInsteadOfPlaintext) {
  const std::string id = create_key();
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("enclave secret")}});
  auto dec = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}, {"Recipient", recipient(document(filled(48, 1)))}});
  ASSERT_EQ(dec.status, 200u) << dec.raw.body;
  EXPECT_FALSE(dec.body.contains("Plaintext"));
  EXPECT_EQ(dec.body["KeyId"].as_string(), "arn:aws:kms:us-east-1:111122223333:key/" + id);
  EXPECT_EQ(dec.body["EncryptionAlgorithm"].as_string(), "SYMMETRIC_DEFAULT");
  EXPECT_EQ(as_chars(open_cfr(dec.body)), "enclave secret");
  // KMS omits KeyMaterialId when the request has a Recipient.
  EXPECT_FALSE(dec.body.contains("KeyMaterialId")) << dec.raw.body;
}

TEST_F(RecipientTest, AllFiveOperationsHonourRecipient) {
  const std::string id = create_key();
  const auto rec = recipient(document(filled(48, 2)));

  auto dk = op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}, {"Recipient", rec}});
  ASSERT_EQ(dk.status, 200u) << dk.raw.body;
  EXPECT_FALSE(dk.body.contains("Plaintext"));
  EXPECT_FALSE(dk.body.contains("KeyMaterialId")) << dk.raw.body;
  const Bytes data_key = open_cfr(dk.body);
  EXPECT_EQ(data_key.size(), 32u);
  // The KMS-wrapped copy is still returned and holds the same key.
  auto unwrap = op("Decrypt", {{"CiphertextBlob", dk.body["CiphertextBlob"]}});
  EXPECT_EQ(unb64(unwrap.body, "Plaintext"), data_key);

  auto kp = op("GenerateDataKeyPair", {{"KeyId", id}, {"KeyPairSpec", "ECC_NIST_P256"}, {"Recipient", rec}});
  ASSERT_EQ(kp.status, 200u) << kp.raw.body;
  EXPECT_FALSE(kp.body.contains("PrivateKeyPlaintext"));
  EXPECT_TRUE(kp.body.contains("PrivateKeyCiphertextBlob"));
  const Bytes pkcs8 = open_cfr(kp.body);
  auto pub = crypto::public_key_of(pkcs8);
  ASSERT_TRUE(pub);
  EXPECT_EQ(*pub, unb64(kp.body, "PublicKey"));

  auto rnd = op("GenerateRandom", {{"NumberOfBytes", 48}, {"Recipient", rec}});
  ASSERT_EQ(rnd.status, 200u) << rnd.raw.body;
  EXPECT_FALSE(rnd.body.contains("Plaintext"));
  EXPECT_EQ(open_cfr(rnd.body).size(), 48u);

  const std::string ecdh = create_key({{"KeySpec", "ECC_NIST_P384"}, {"KeyUsage", "KEY_AGREEMENT"}});
  auto peer = crypto::generate_key_pair(crypto::KeyPairSpec::kEccNistP384);
  ASSERT_TRUE(peer);
  auto ss = op("DeriveSharedSecret", {{"KeyId", ecdh},
                                      {"KeyAgreementAlgorithm", "ECDH"},
                                      {"PublicKey", b64(peer->public_key_spki)},
                                      {"Recipient", rec}});
  ASSERT_EQ(ss.status, 200u) << ss.raw.body;
  EXPECT_FALSE(ss.body.contains("SharedSecret"));
  auto expected = crypto::ecdh_derive(peer->private_key_pkcs8.view(),
                                      unb64(op("GetPublicKey", {{"KeyId", ecdh}}).body, "PublicKey"));
  ASSERT_TRUE(expected);
  EXPECT_TRUE(expected->equals(open_cfr(ss.body)));

  // The CFR is KMS's CMS shape: SKI = SHA-256 of the document's public key.
  auto env = crypto::parse_enveloped(unb64(rnd.body, "CiphertextForRecipient"));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->recipient_ski,
            Bytes(shared().recipient->spki_sha256().begin(), shared().recipient->spki_sha256().end()));
}

TEST_F(RecipientTest, BadDocumentsAreValidationErrors) {
  const std::string id = create_key();
  const auto try_doc = [&](const Bytes& doc) {
    return op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}, {"Recipient", recipient(doc)}});
  };
  Bytes tampered = document(filled(48, 3));
  tampered[tampered.size() - 5] ^= 0x01;  // inside the ES384 signature
  auto t = try_doc(tampered);
  EXPECT_EQ(t.type, "ValidationException");
  EXPECT_NE(t.message.find("does not verify"), std::string::npos) << t.message;

  auto garbage = try_doc(Bytes{1, 2, 3});
  EXPECT_EQ(garbage.type, "ValidationException");

  auto no_key = try_doc(document(filled(48, 3), std::nullopt));
  EXPECT_EQ(no_key.type, "ValidationException");
  EXPECT_NE(no_key.message.find("no public_key"), std::string::npos) << no_key.message;

  auto ec = crypto::generate_key_pair(crypto::KeyPairSpec::kEccNistP256);
  auto ec_key = try_doc(document(filled(48, 3), ec->public_key_spki));
  EXPECT_EQ(ec_key.type, "ValidationException");
  EXPECT_NE(ec_key.message.find("not a DER SubjectPublicKeyInfo of an RSA key"), std::string::npos);

  auto bad_alg = op("GenerateRandom", {{"NumberOfBytes", 8},
                                       {"Recipient", {{"KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_1"},
                                                      {"AttestationDocument", b64(document(filled(48, 3)))}}}});
  EXPECT_EQ(bad_alg.type, "ValidationException");
  EXPECT_NE(bad_alg.message.find("recipient.keyEncryptionAlgorithm"), std::string::npos);
  auto no_doc = op("GenerateRandom", {{"NumberOfBytes", 8}, {"Recipient", {{"KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_256"}}}});
  EXPECT_EQ(no_doc.type, "ValidationException");

  // A document from a foreign root (the simulated PKI, not configured) is refused.
  const Bytes good = document(filled(48, 3));
  ASSERT_EQ(try_doc(good).status, 200u);
  open(false);
  auto foreign = try_doc(good);
  EXPECT_EQ(foreign.type, "ValidationException");
  EXPECT_NE(foreign.message.find("does not verify"), std::string::npos);
}

TEST_F(RecipientTest, RealDocumentsVerifyAtTheirTimestampAndAreExpiredNow) {
  const fs::path docs = fs::path(KP_VECTORS_DIR) / "attestation_docs";
  const std::string id = create_key();
  int seen = 0;
  for (const auto& e : fs::directory_iterator(docs)) {
    const std::string name = e.path().filename().string();
    if (!name.ends_with(".cose.bin")) {
      continue;
    }
    ++seen;
    const Bytes doc = read_file(e.path());
    auto parsed = attestation::parse_document(doc);
    ASSERT_TRUE(parsed) << name;
    const json::object body{{"KeyId", id}, {"KeySpec", "AES_256"}, {"Recipient", recipient(doc)}};
    // At its own timestamp the chain and signature verify (AWS root); none of
    // the public documents carries an RSA key, so that is what is refused.
    clock_.set(from_unix_ms(static_cast<std::int64_t>(parsed->timestamp_ms)));
    auto then = op("GenerateDataKey", body);
    EXPECT_EQ(then.type, "ValidationException") << name;
    EXPECT_EQ(then.message.find("does not verify"), std::string::npos) << name << ": " << then.message;
    EXPECT_TRUE(then.message.find("no public_key") != std::string::npos ||
                then.message.find("not a DER SubjectPublicKeyInfo of an RSA key") != std::string::npos)
        << name << ": " << then.message;
    // Now (2025-06 onwards) every certificate has long expired.
    clock_.set(from_unix_ms(1800000000000));
    auto now = op("GenerateDataKey", body);
    EXPECT_EQ(now.type, "ValidationException") << name;
    EXPECT_NE(now.message.find("does not verify"), std::string::npos) << name << ": " << now.message;
    EXPECT_NE(now.message.find("expired"), std::string::npos) << name << ": " << now.message;
    // Tampered payload: refused at its own timestamp too.
    Bytes tampered = doc;
    tampered[tampered.size() / 2] ^= 0x01;
    clock_.set(from_unix_ms(static_cast<std::int64_t>(parsed->timestamp_ms)));
    EXPECT_EQ(op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}, {"Recipient", recipient(tampered)}}).type,
              "ValidationException")
        << name;
  }
  EXPECT_GE(seen, 5);
}

TEST_F(RecipientTest, AttestationGatedPolicyChecksPcr0) {
  const Bytes good_pcr0 = filled(48, 0xab);
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
    {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
     "Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*",
               "kms:Disable*","kms:Get*","kms:Delete*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion","kms:Encrypt"],
     "Resource":"*"},
    {"Sid":"Enclave","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},
     "Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*",
     "Condition":{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:ImageSha384":")" +
                             hex_encode(good_pcr0) + R"("}}}]})";
  const std::string id = create_key({{"Policy", policy}});
  const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + id;
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("gated")}});
  ASSERT_EQ(enc.status, 200u) << enc.raw.body;

  auto ok = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}, {"Recipient", recipient(document(good_pcr0))}});
  ASSERT_EQ(ok.status, 200u) << ok.raw.body;
  EXPECT_EQ(as_chars(open_cfr(ok.body)), "gated");

  const std::string denied_msg = "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on "
                                 "resource: " + arn + " because no resource-based policy allows the kms:Decrypt action";
  auto wrong = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]},
                              {"Recipient", recipient(document(filled(48, 0xac)))}});
  EXPECT_EQ(wrong.type, "AccessDeniedException");
  EXPECT_EQ(wrong.message, denied_msg);
  auto none = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}});
  EXPECT_EQ(none.type, "AccessDeniedException");
  EXPECT_EQ(none.message, denied_msg);
  EXPECT_EQ(op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}, {"Recipient", recipient(document(good_pcr0))}})
                .status,
            200u);
  EXPECT_EQ(op("GenerateDataKey", {{"KeyId", id}, {"KeySpec", "AES_256"}}).type, "AccessDeniedException");
}

TEST_F(RecipientTest, PcrConditionKeysUseLowerCaseHexAndStringEquals) {
  const Bytes pcr0 = filled(48, 0xCD);
  const std::string policy = R"({"Version":"2012-10-17","Statement":[
    {"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*",
     "Condition":{"Null":{"kms:RecipientAttestation:PCR0":"true"}}},
    {"Sid":"Enclave","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:GenerateRandom","Resource":"*"},
    {"Sid":"DenyOtherImages","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
     "Condition":{"StringNotEquals":{"kms:RecipientAttestation:PCR0":")" + hex_encode(pcr0) + R"("}}}]})";
  const std::string id = create_key({{"Policy", policy}});
  auto enc = op("Encrypt", {{"KeyId", id}, {"Plaintext", b64("p")}});
  ASSERT_EQ(enc.status, 200u) << enc.raw.body;
  // StringNotEquals on a missing key is true: plain Decrypt hits the explicit deny.
  auto plain = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}});
  EXPECT_EQ(plain.type, "AccessDeniedException");
  EXPECT_NE(plain.message.find("explicit deny"), std::string::npos);
  // With the right PCR0 the Admin statement no longer applies (PCR0 present),
  // and nothing else allows Decrypt: implicit deny.
  auto attested = op("Decrypt", {{"CiphertextBlob", enc.body["CiphertextBlob"]}, {"Recipient", recipient(document(pcr0))}});
  EXPECT_EQ(attested.type, "AccessDeniedException");
  EXPECT_NE(attested.message.find("because no resource-based policy allows"), std::string::npos);
}

// ---- SigV4 callers -----------------------------------------------------------

class SigV4Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto creds = parse_credentials(
        "AKIDALICE alicesecret 111122223333 user/alice\n"
        "AKIDBOB bobsecret 444455556666\n");
    ASSERT_TRUE(creds);
    EmulatorOptions o;
    o.data_dir = dir_.path() / "state";
    o.clock = &clock_;
    o.credentials = std::move(*creds);
    auto e = KmsEmulator::open(std::move(o));
    ASSERT_TRUE(e) << e.error().message;
    emu_ = std::move(*e);
  }

  Answer signed_call(std::string_view op, const json::object& body, std::string_view akid, std::string_view secret,
                     std::string_view region = "us-east-1", std::optional<SysTime> at = std::nullopt) {
    HttpRequest req = testing::kms_request(op, body);
    sigv4::Credentials c{std::string(akid), SecretBytes::copy_of(secret), {}, std::nullopt};
    sigv4::SignOptions so;
    so.region = region;
    so.time = at.value_or(clock_.now());
    EXPECT_TRUE(sigv4::sign_request(req, c, so));
    return testing::parse_answer(emu_->handle(req));
  }

  Answer alice(std::string_view op, const json::object& body) {
    return signed_call(op, body, "AKIDALICE", "alicesecret");
  }
  Answer bob(std::string_view op, const json::object& body) { return signed_call(op, body, "AKIDBOB", "bobsecret"); }
  // Alice's new key (with `policy`, or the default one): its KeyMetadata field `field`.
  std::string alice_key(const std::string& policy = "", std::string_view field = "KeyId") {
    json::object body;
    if (!policy.empty()) {
      body["Policy"] = policy;
    }
    auto made = alice("CreateKey", body);
    EXPECT_EQ(made.status, 200u) << made.raw.body;
    return made.status == 200 ? std::string(made.body["KeyMetadata"].as_object()[field].as_string()) : "";
  }
  unsigned alice_alias(const std::string& name, const std::string& key_id) {
    return alice("CreateAlias", {{"AliasName", name}, {"TargetKeyId", key_id}}).status;
  }

  testing::TempDir dir_;
  FixedClock clock_{from_unix_ms(kStartMs)};
  std::unique_ptr<KmsEmulator> emu_;
};

TEST_F(SigV4Test, PrincipalComesFromTheAccessKey) {
  auto alice = signed_call("CreateKey", {}, "AKIDALICE", "alicesecret");
  ASSERT_EQ(alice.status, 200u) << alice.raw.body;
  const std::string arn(alice.body["KeyMetadata"].as_object()["Arn"].as_string());
  EXPECT_EQ(alice.body["KeyMetadata"].as_object()["AWSAccountId"].as_string(), "111122223333");
  // Bob's account is not in the default policy: AccessDenied naming Bob's root.
  auto bob = signed_call("Encrypt", {{"KeyId", arn}, {"Plaintext", b64("x")}}, "AKIDBOB", "bobsecret");
  EXPECT_EQ(bob.type, "AccessDeniedException");
  EXPECT_EQ(bob.message, "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:Encrypt on "
                         "resource: " + arn + " because no resource-based policy allows the kms:Encrypt action");
  // Bob's own key ids resolve in Bob's account only.
  EXPECT_EQ(signed_call("ListKeys", {}, "AKIDBOB", "bobsecret").body["Keys"].as_array().size(), 0u);
  EXPECT_EQ(signed_call("Encrypt", {{"KeyId", arn}, {"Plaintext", b64("x")}}, "AKIDALICE", "alicesecret").status,
            200u);
}

TEST_F(SigV4Test, SignatureFailuresUseAwsErrors) {
  auto wrong = signed_call("ListKeys", {}, "AKIDALICE", "not-the-secret");
  EXPECT_EQ(wrong.type, "InvalidSignatureException");
  auto unknown = signed_call("ListKeys", {}, "AKIDNOBODY", "x");
  EXPECT_EQ(unknown.type, "UnrecognizedClientException");
  auto region = signed_call("ListKeys", {}, "AKIDALICE", "alicesecret", "eu-west-1");
  EXPECT_EQ(region.type, "InvalidSignatureException");
  auto expired = signed_call("ListKeys", {}, "AKIDALICE", "alicesecret", "us-east-1",
                             clock_.now() - std::chrono::minutes(20));
  EXPECT_EQ(expired.type, "InvalidSignatureException");
  EXPECT_NE(expired.message.find("Signature expired"), std::string::npos);
  auto unsigned_req = call(*emu_, "ListKeys", {});
  EXPECT_EQ(unsigned_req.status, 400u);
  EXPECT_EQ(unsigned_req.type, "MissingAuthenticationTokenException");
  EXPECT_EQ(unsigned_req.message, "Missing Authentication Token");
  // A body changed after signing no longer matches.
  HttpRequest req = testing::kms_request("ListKeys", {});
  sigv4::Credentials c{"AKIDALICE", SecretBytes::copy_of(std::string_view("alicesecret")), {}, std::nullopt};
  sigv4::SignOptions so;
  so.region = "us-east-1";
  so.time = clock_.now();
  ASSERT_TRUE(sigv4::sign_request(req, c, so));
  req.body = R"({"Limit":5})";
  EXPECT_EQ(testing::parse_answer(emu_->handle(req)).type, "InvalidSignatureException");
}

// A key of Alice's account whose policy lets Alice's account and Bob's do
// everything, plus `extra` statements.
std::string shared_policy(const std::string& extra = "") {
  return R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},
     "Action":"kms:*","Resource":"*"})" + extra + "]}";
}

// KMS runs only some operations on another account's key ("Cross-account
// use: Yes" in its API reference); the key policy cannot widen that.
TEST_F(SigV4Test, AnotherAccountGetsOnlyTheCrossAccountOperations) {
  const std::string arn = alice_key(shared_policy(), "Arn");
  ASSERT_FALSE(arn.empty());
  EXPECT_EQ(bob("Encrypt", {{"KeyId", arn}, {"Plaintext", b64("x")}}).status, 200u);
  EXPECT_EQ(bob("DescribeKey", {{"KeyId", arn}}).status, 200u);
  for (const auto& [op, body] : std::vector<std::pair<std::string, json::object>>{
           {"GetKeyPolicy", {{"KeyId", arn}, {"PolicyName", "default"}}},
           {"PutKeyPolicy", {{"KeyId", arn}, {"PolicyName", "default"}, {"Policy", shared_policy()}}},
           {"DisableKey", {{"KeyId", arn}}},
           {"ScheduleKeyDeletion", {{"KeyId", arn}}},
           {"TagResource", {{"KeyId", arn}, {"Tags", json::array{json::object{{"TagKey", "a"}, {"TagValue", "b"}}}}}},
           {"UpdateKeyDescription", {{"KeyId", arn}, {"Description", "mine now"}}}}) {
    auto refused = bob(op, body);
    EXPECT_EQ(refused.type, "AccessDeniedException") << op << ": " << refused.raw.body;
    EXPECT_NE(refused.message.find("cannot be used on a KMS key in another AWS account"), std::string::npos) << op;
  }
  // Nothing changed: Alice still reads her policy and the key is enabled.
  EXPECT_EQ(alice("GetKeyPolicy", {{"KeyId", arn}, {"PolicyName", "default"}}).status, 200u);
  EXPECT_TRUE(alice("DescribeKey", {{"KeyId", arn}}).body["KeyMetadata"].as_object()["Enabled"].as_bool());
}

// aws:PrincipalType and aws:ViaAWSService are in every request, as in AWS:
// Denies on them apply.
TEST_F(SigV4Test, GlobalPrincipalKeysAreSupplied) {
  const std::string arn = alice_key(shared_policy(R"(,
    {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
     "Condition":{"StringEquals":{"aws:PrincipalType":"User"}}},
    {"Effect":"Deny","Principal":"*","Action":"kms:GenerateRandom","Resource":"*",
     "Condition":{"Bool":{"aws:ViaAWSService":"false"}}})"),
                                    "Arn");
  ASSERT_FALSE(arn.empty());
  const json::object enc{{"KeyId", arn}, {"Plaintext", b64("x")}};
  EXPECT_EQ(alice("Encrypt", enc).type, "AccessDeniedException");  // a User
  EXPECT_EQ(bob("Encrypt", enc).status, 200u);                      // an account root
}

// kms:RequestAlias is the alias the request named its key by (name or ARN).
TEST_F(SigV4Test, RequestAliasConditionSeesTheAliasUsed) {
  const std::string key_id = alice_key(shared_policy(R"(,
    {"Effect":"Deny","Principal":"*","Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*",
     "Condition":{"StringEquals":{"kms:RequestAlias":"alias/frozen"}}})"));
  ASSERT_FALSE(key_id.empty());
  ASSERT_EQ(alice_alias("alias/frozen", key_id), 200u);
  ASSERT_EQ(alice_alias("alias/open", key_id), 200u);
  for (const char* id : {"alias/frozen", "arn:aws:kms:us-east-1:111122223333:alias/frozen"}) {
    EXPECT_EQ(alice("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).type, "AccessDeniedException") << id;
    EXPECT_EQ(alice("DescribeKey", {{"KeyId", id}}).type, "AccessDeniedException") << id;
  }
  for (const std::string& id : {key_id, std::string("alias/open")}) {
    EXPECT_EQ(alice("Encrypt", {{"KeyId", id}, {"Plaintext", b64("x")}}).status, 200u) << id;
  }
}

// UpdateAlias needs kms:UpdateAlias on the alias's current key too.
TEST_F(SigV4Test, UpdateAliasAsksTheCurrentKeysPolicy) {
  const std::string pinned = alice_key(shared_policy(R"(,
    {"Effect":"Deny","Principal":"*","Action":"kms:UpdateAlias","Resource":"*"})"));
  const std::string other = alice_key();
  ASSERT_FALSE(pinned.empty());
  ASSERT_FALSE(other.empty());
  ASSERT_EQ(alice_alias("alias/prod", pinned), 200u);
  EXPECT_EQ(alice("UpdateAlias", {{"AliasName", "alias/prod"}, {"TargetKeyId", other}}).type,
            "AccessDeniedException");
  EXPECT_EQ(alice("DescribeKey", {{"KeyId", "alias/prod"}}).body["KeyMetadata"].as_object()["KeyId"].as_string(),
            pinned);
  // Onto that key is refused too (its policy is the new key's); between
  // two keys that allow it, the alias moves.
  ASSERT_EQ(alice_alias("alias/free", other), 200u);
  EXPECT_EQ(alice("UpdateAlias", {{"AliasName", "alias/free"}, {"TargetKeyId", pinned}}).type,
            "AccessDeniedException");
  const std::string third = alice_key();
  EXPECT_EQ(alice("UpdateAlias", {{"AliasName", "alias/free"}, {"TargetKeyId", third}}).status, 200u);
}

// The emulator's keys are in the aws partition: another partition's ARN names nothing.
TEST_F(SigV4Test, AnotherPartitionsArnIsNotFound) {
  const std::string key_id = alice_key();
  ASSERT_FALSE(key_id.empty());
  EXPECT_EQ(alice("DescribeKey", {{"KeyId", "arn:aws-cn:kms:us-east-1:111122223333:key/" + key_id}}).type,
            "NotFoundException");
  EXPECT_EQ(alice("DescribeKey", {{"KeyId", "arn:aws:kms:us-east-1:111122223333:key/" + key_id}}).status, 200u);
}

}  // namespace
}  // namespace kp::emulator
