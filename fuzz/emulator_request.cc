// Fuzz target: kms-emulator's request handling (KmsEmulator::handle): the
// JSON body, model validation with AWS's messages, key resolution, every
// supported operation including Recipient and key policies, and the error
// mapping. The emulator reads whatever a local client sends it.
//
// Input: "<operation>\n<JSON body>". The operation becomes
// X-Amz-Target "TrentService.<operation>" (unknown names included). Before
// the body is handed over, these string tokens are replaced, so the fuzzer
// reaches past the ciphertext and attestation checks:
//   "@sym"  a symmetric ciphertext under alias/fuzz-sym, context {"k":"v"}
//   "@pcr"  a symmetric ciphertext under alias/fuzz-pcr, no context
//   "@rsa"  an RSAES_OAEP_SHA_256 ciphertext under alias/fuzz-rsa
//   "@symid" the key id behind alias/fuzz-sym
//   "@doc"  a simulated attestation document (PCR0 = 48 x 0x01) binding a
//           fixed RSA-2048 key, its PKI trusted by the emulator
//   "@peer" a P-256 public key (SubjectPublicKeyInfo) for DeriveSharedSecret
// Keys (aliases): fuzz-sym, fuzz-rsa (RSA_2048), fuzz-ecc (ECC_NIST_P256,
// KEY_AGREEMENT), fuzz-sign (ECC_NIST_P256, SIGN_VERIFY), fuzz-pcr
// (symmetric; Decrypt only with PCR0 = 48 x 0x01).
//
// Read-only and cryptographic operations run on one emulator prepared at
// start-up; operations that change state run on a fresh copy of it, so every
// input sees the same state and a finding replays alone. CreateKey and
// GenerateDataKeyPair* with RSA specs are skipped (key generation would slow
// the fuzzer to a crawl without reaching new code).
//
// KP_FUZZ_VERBOSE=1 prints each operation's status and the start of its
// answer (to see what a seed reaches).
//
// Properties checked:
//  * handle() answers every input, never with a 5xx (no input is the
//    emulator's own failure), with Content-Type and x-amzn-RequestId;
//  * the body is a JSON object; an error has a string "__type" and
//    "message";
//  * a 200 to an operation that returns plaintext carries no
//    CiphertextForRecipient unless the request had a Recipient.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include <boost/json.hpp>

#include "attestation/nsm.h"
#include "attestation/sim_pki.h"
#include "attestation/simulated_nsm.h"
#include "base/clock.h"
#include "base/encoding.h"
#include "crypto/ec.h"
#include "crypto/rsa_key.h"
#include "emulator/emulator.h"
#include "fuzz_util.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace kp;

constexpr std::int64_t kStartMs = 1750000000000;  // 2025-06-15, inside the simulated PKI's validity

// Operations that change the store: run on a fresh copy of the prepared state.
const std::set<std::string, std::less<>> kMutating = {
    "CreateKey",           "EnableKey",   "DisableKey",  "ScheduleKeyDeletion", "CancelKeyDeletion",
    "PutKeyPolicy",        "UpdateKeyDescription",       "CreateAlias",         "UpdateAlias",
    "DeleteAlias",         "TagResource", "UntagResource"};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fuzz emulator_request: set-up failed: %s\n", what.c_str());
  std::exit(2);
}

HttpRequest request(std::string_view op, std::string body) {
  HttpRequest r;
  r.headers.set("Host", "kms.us-east-1.amazonaws.com");
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.headers.set("X-Amz-Target", "TrentService." + std::string(op));
  r.body = std::move(body);
  return r;
}

json::object call(emulator::KmsEmulator& e, std::string_view op, const json::object& body) {
  const HttpResponse r = e.handle(request(op, json::serialize(body)));
  if (r.status != 200) {
    die(std::string(op) + ": " + r.body);
  }
  return json::parse(r.body).as_object();
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

struct World {
  FixedClock clock{from_unix_ms(kStartMs)};
  fs::path root;
  fs::path pristine;
  std::unique_ptr<emulator::KmsEmulator> fixed;
  Bytes root_der;
  std::string sym_ct, pcr_ct, rsa_ct, sym_id, doc, peer;  // quoted JSON strings ("\"...\"")
  unsigned long scratch_n = 0;

  World() {
    std::error_code ec;
    const fs::path shm = "/dev/shm";
    const fs::path base = fs::is_directory(shm, ec) ? shm : fs::temp_directory_path();
    root = base / ("kp-fuzz-emulator-" + std::to_string(::getpid()));
    fs::remove_all(root, ec);
    pristine = root / "pristine";

    attestation::SimPkiOptions po;
    po.now = from_unix_ms(kStartMs);
    auto pki = attestation::generate_sim_pki(po);
    if (!pki) {
      die(pki.error().message);
    }
    auto shared_pki = std::make_shared<const attestation::SimPki>(std::move(*pki));
    root_der = shared_pki->root_der;

    // Prepare the state with a throw-away emulator, then serve reads from a
    // second one opened on a copy (the store holds a lock on its directory).
    {
      auto e = open(pristine);
      auto key = [&](json::object body, const char* alias) {
        const auto md = call(*e, "CreateKey", body);
        const std::string id(md.at("KeyMetadata").as_object().at("KeyId").as_string());
        call(*e, "CreateAlias", {{"AliasName", alias}, {"TargetKeyId", id}});
        return id;
      };
      sym_id = "\"" + key({}, "alias/fuzz-sym") + "\"";
      key({{"KeySpec", "RSA_2048"}, {"KeyUsage", "ENCRYPT_DECRYPT"}}, "alias/fuzz-rsa");
      key({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "KEY_AGREEMENT"}}, "alias/fuzz-ecc");
      key({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "SIGN_VERIFY"}}, "alias/fuzz-sign");
      const std::string pcr_policy = R"({"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
          {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":
            {"StringNotEqualsIgnoreCase":{"kms:RecipientAttestation:ImageSha384":")" +
                                     hex_encode(Bytes(48, 0x01)) + R"("}}}]})";
      key({{"Policy", pcr_policy}, {"BypassPolicyLockoutSafetyCheck", true}}, "alias/fuzz-pcr");
    }
    fixed = open_copy(root / "served");

    auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
    sym_ct = quoted(std::string(
        call(*fixed, "Encrypt", {{"KeyId", "alias/fuzz-sym"}, {"Plaintext", "c2VjcmV0"}, {"EncryptionContext", {{"k", "v"}}}})
            .at("CiphertextBlob")
            .as_string()));
    pcr_ct = quoted(std::string(
        call(*fixed, "Encrypt", {{"KeyId", "alias/fuzz-pcr"}, {"Plaintext", "c2VjcmV0"}}).at("CiphertextBlob").as_string()));
    rsa_ct = quoted(std::string(call(*fixed, "Encrypt",
                                     {{"KeyId", "alias/fuzz-rsa"},
                                      {"Plaintext", "c2VjcmV0"},
                                      {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}})
                                    .at("CiphertextBlob")
                                    .as_string()));

    auto recipient = crypto::RsaKeyPair::generate(2048);
    if (!recipient) {
      die(recipient.error().message);
    }
    attestation::SimulatedNsmOptions no;
    no.pki = shared_pki;
    no.clock = &clock;
    no.pcrs[0] = Bytes(48, 0x01);
    auto nsm = attestation::SimulatedNsm::create(std::move(no));
    if (!nsm) {
      die(nsm.error().message);
    }
    attestation::NsmClient client(*nsm);
    attestation::AttestationRequest req;
    req.public_key = recipient->spki_der();
    auto d = client.attestation(req);
    if (!d) {
      die(d.error().message);
    }
    doc = quoted(base64_encode(*d));
    auto peer_pair = crypto::generate_key_pair(crypto::KeyPairSpec::kEccNistP256);
    if (!peer_pair) {
      die(peer_pair.error().message);
    }
    peer = quoted(base64_encode(peer_pair->public_key_spki));
  }

  ~World() {
    fixed.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  std::unique_ptr<emulator::KmsEmulator> open(const fs::path& dir) {
    emulator::EmulatorOptions o;
    o.data_dir = dir;
    o.clock = &clock;
    o.extra_trust_roots_der.push_back(root_der);
    auto e = emulator::KmsEmulator::open(std::move(o));
    if (!e) {
      die(e.error().message);
    }
    return std::move(*e);
  }

  // An emulator on a copy of the prepared state at `dir` (the copy leaves out
  // the store's lock file, which the original's owner held).
  std::unique_ptr<emulator::KmsEmulator> open_copy(const fs::path& dir) {
    std::error_code ec;
    fs::copy(pristine, dir, fs::copy_options::recursive, ec);
    if (ec) {
      die("copy state: " + ec.message());
    }
    fs::remove(dir / ".lock", ec);
    return open(dir);
  }

  // A fresh copy of the prepared state, removed when the result is dropped.
  struct Scratch {
    fs::path dir;
    std::unique_ptr<emulator::KmsEmulator> emu;
    ~Scratch() {
      emu.reset();
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  };
  std::unique_ptr<Scratch> scratch() {
    auto s = std::make_unique<Scratch>();
    s->dir = root / ("scratch-" + std::to_string(scratch_n++));
    s->emu = open_copy(s->dir);
    return s;
  }
};

World& world() {
  static World w;
  return w;
}

// RSA key generation in the fuzzed request: skipped (see the header).
bool generates_rsa(std::string_view op, const json::value& body) {
  if (op != "CreateKey" && op != "GenerateDataKeyPair" && op != "GenerateDataKeyPairWithoutPlaintext") {
    return false;
  }
  const auto* o = body.if_object();
  if (o == nullptr) {
    return false;
  }
  for (const char* member : {"KeySpec", "KeyPairSpec", "CustomerMasterKeySpec"}) {
    const auto* v = o->if_contains(member);
    if (v != nullptr && v->is_string() && std::string_view(v->as_string()).starts_with("RSA")) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos || nl > 64) {
    return 0;
  }
  const std::string_view op = in.substr(0, nl);
  World& w = world();
  std::string body(in.substr(nl + 1));
  body = replace_all(std::move(body), "\"@sym\"", w.sym_ct);
  body = replace_all(std::move(body), "\"@pcr\"", w.pcr_ct);
  body = replace_all(std::move(body), "\"@rsa\"", w.rsa_ct);
  body = replace_all(std::move(body), "\"@symid\"", w.sym_id);
  body = replace_all(std::move(body), "\"@doc\"", w.doc);
  body = replace_all(std::move(body), "\"@peer\"", w.peer);

  boost::system::error_code jec;
  const json::value parsed = json::parse(body, jec);
  if (!jec && generates_rsa(op, parsed)) {
    return 0;
  }
  const bool with_recipient = !jec && parsed.is_object() && parsed.as_object().contains("Recipient");

  std::unique_ptr<World::Scratch> scratch;
  emulator::KmsEmulator* emu = w.fixed.get();
  if (kMutating.contains(op)) {
    scratch = w.scratch();
    emu = scratch->emu.get();
  }
  const HttpResponse r = emu->handle(request(op, std::move(body)));
  static const bool verbose = std::getenv("KP_FUZZ_VERBOSE") != nullptr;
  if (verbose) {  // what a seed reaches: KP_FUZZ_VERBOSE=1 fuzz_emulator_request <files>
    std::fprintf(stderr, "%.*s -> %u %.160s\n", static_cast<int>(op.size()), op.data(), r.status, r.body.c_str());
  }

  KP_FUZZ_CHECK(r.status >= 200 && r.status < 500);
  KP_FUZZ_CHECK(r.headers.get("Content-Type").has_value());
  KP_FUZZ_CHECK(r.headers.get("x-amzn-RequestId").has_value());
  boost::system::error_code rec;
  const json::value answer = json::parse(r.body, rec);
  KP_FUZZ_CHECK(!rec && answer.is_object());
  const auto& o = answer.as_object();
  if (r.status != 200) {
    const auto* type = o.if_contains("__type");
    KP_FUZZ_CHECK(type != nullptr && type->is_string() && !type->as_string().empty());
    const auto* message = o.if_contains("message");
    KP_FUZZ_CHECK(message != nullptr && message->is_string());
  } else if (o.contains("CiphertextForRecipient")) {
    KP_FUZZ_CHECK(with_recipient);
    KP_FUZZ_CHECK(!o.contains("Plaintext") && !o.contains("PrivateKeyPlaintext") && !o.contains("SharedSecret"));
  }
  return 0;
}
