// File: bench/micro/micro_bench.cc
//
// Google Benchmark microbenchmarks of the per-request CPU work on the proxy's
// hot path, through the modules' public APIs only:
//   SigV4        sign_request (cache hit) for a pass-through and an attested
//                body; signing-key derivation (the cache-miss cost)
//   KMS rewrite  add_recipient / add_recipient_in_place (request splice),
//                open_recipient_response (response rewrite incl. CMS open)
//   CMS          open_enveloped, and the bare RSA-OAEP unwrap inside it
//   Attestation  parse_document, verify_document (simulated PKI and a real
//                AWS document at its own timestamp), one simulated NSM call
// Inputs are built once per process (fresh RSA key, fresh simulated PKI);
// nothing is read from the network. Real AWS vectors come from
// KP_VECTORS_DIR; their benchmark is skipped when the file is missing.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>

#include "attestation/document.h"
#include "attestation/nsm.h"
#include "attestation/sim_pki.h"
#include "attestation/simulated_nsm.h"
#include "attestation/verifier.h"
#include "base/clock.h"
#include "base/encoding.h"
#include "base/http_message.h"
#include "crypto/cms.h"
#include "crypto/rsa_key.h"
#include "kms/operations.h"
#include "kms/rewrite.h"
#include "sigv4/authorization.h"
#include "sigv4/signer.h"

namespace {

template <class T>
T must(kp::Result<T> r, const char* what) {
  if (!r) {
    throw std::runtime_error(std::string(what) + ": " + r.error().message);
  }
  return std::move(*r);
}

// Everything the benchmarks share, built on first use.
struct Fixture {
  kp::crypto::RsaKeyPair key;
  std::shared_ptr<const kp::attestation::SimPki> pki;
  std::shared_ptr<kp::attestation::SimulatedNsm> nsm;
  kp::Bytes sim_document;
  std::string sim_document_b64;
  kp::Bytes sealed;  // CiphertextForRecipient addressed to `key`
  std::string decrypt_response;  // a KMS Decrypt response carrying `sealed`

  static Fixture& get() {
    static Fixture f = make();
    return f;
  }

 private:
  static Fixture make() {
    auto key = must(kp::crypto::RsaKeyPair::generate(2048), "rsa generate");
    auto pki = std::make_shared<const kp::attestation::SimPki>(
        must(kp::attestation::generate_sim_pki(), "sim pki"));
    kp::attestation::SimulatedNsmOptions nsm_options;
    nsm_options.pki = pki;
    auto nsm = must(kp::attestation::SimulatedNsm::create(std::move(nsm_options)), "sim nsm");
    kp::attestation::NsmClient client(nsm);
    kp::attestation::AttestationRequest req;
    req.public_key = key.spki_der();
    auto doc = must(client.attestation(req), "nsm attestation");
    std::string doc_b64 = kp::base64_encode(doc);

    kp::Bytes plaintext(32, 0x42);
    auto sealed = must(kp::crypto::seal_enveloped(plaintext, key.spki_der()), "seal");
    std::string response =
        "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\","
        "\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"CiphertextForRecipient\":\"" +
        kp::base64_encode(sealed) + "\"}";
    return Fixture{std::move(key), std::move(pki),       std::move(nsm),     std::move(doc),
                   std::move(doc_b64), std::move(sealed), std::move(response)};
  }
};

// A Decrypt request body as an SDK sends it (a 184-byte CiphertextBlob).
std::string decrypt_body() {
  kp::Bytes blob(184);
  for (std::size_t i = 0; i < blob.size(); ++i) {
    blob[i] = static_cast<std::uint8_t>(i * 7 + 1);
  }
  return "{\"CiphertextBlob\":\"" + kp::base64_encode(blob) +
         "\",\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/"
         "1234abcd-12ab-34cd-56ef-1234567890ab\"}";
}

kp::HttpRequest kms_request(std::string body, std::string_view target) {
  kp::HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.headers.set("Host", "kms.us-east-1.amazonaws.com");
  req.headers.set("Content-Type", "application/x-amz-json-1.1");
  req.headers.set("X-Amz-Target", target);
  req.headers.set("User-Agent", "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22 api/kms#1.35.0");
  req.headers.set("Accept-Encoding", "identity");
  req.body = std::move(body);
  return req;
}

kp::sigv4::Credentials bench_credentials() {
  kp::sigv4::Credentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = kp::SecretBytes::copy_of(std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
  c.session_token = kp::SecretBytes::copy_of(std::string_view(
      "IQoJb3JpZ2luX2VjEXAMPLETOKENvalueOfATypicalInstanceRoleSessionTokenThatIsQuiteLong"
      "AndContainsBase64LikeCharacters0123456789+/=="));
  return c;
}

// ----------------------------------------------------------------- SigV4 --

// Signs in place (sign_request replaces X-Amz-Date/Authorization each time),
// with the process-wide signing-key cache warm: the proxy's steady state.
void BM_SigV4_SignRequest_Encrypt(benchmark::State& state) {
  auto creds = bench_credentials();
  auto req = kms_request("{\"KeyId\":\"alias/bench\",\"Plaintext\":\"SGVsbG8sIFdvcmxkIQ==\"}",
                         "TrentService.Encrypt");
  kp::sigv4::SignOptions opts{.region = "us-east-1", .time = kp::SystemClock::instance().now()};
  for (auto _ : state) {
    auto r = kp::sigv4::sign_request(req, creds, opts);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * req.body.size()));
}
BENCHMARK(BM_SigV4_SignRequest_Encrypt);

// The attested Decrypt request after the Recipient splice (~6 KB body): the
// payload hash dominates.
void BM_SigV4_SignRequest_AttestedDecrypt(benchmark::State& state) {
  auto& f = Fixture::get();
  auto creds = bench_credentials();
  auto body = must(kp::kms::add_recipient(decrypt_body(), f.sim_document_b64), "add_recipient").body;
  auto req = kms_request(std::move(body), "TrentService.Decrypt");
  kp::sigv4::SignOptions opts{.region = "us-east-1", .time = kp::SystemClock::instance().now()};
  for (auto _ : state) {
    auto r = kp::sigv4::sign_request(req, creds, opts);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * req.body.size()));
}
BENCHMARK(BM_SigV4_SignRequest_AttestedDecrypt);

// The same request as the proxy signs it: the payload hash resumes from the
// SHA-256 state after "{" + the Recipient member, built once per document.
void BM_SigV4_SignRequest_AttestedDecryptPrefixHash(benchmark::State& state) {
  auto& f = Fixture::get();
  auto creds = bench_credentials();
  const auto member = must(kp::kms::RecipientMember::make(f.sim_document_b64), "RecipientMember");
  const kp::sigv4::PrefixedSha256 prefix(member.body_prefix());
  auto body = must(kp::kms::add_recipient(decrypt_body(), f.sim_document_b64), "add_recipient").body;
  auto req = kms_request(std::move(body), "TrentService.Decrypt");
  kp::sigv4::SignOptions opts{.region = "us-east-1", .time = kp::SystemClock::instance().now()};
  for (auto _ : state) {
    const auto h = prefix.hash(req.body);
    if (!h) {
      state.SkipWithError("body does not start with the prefix");
      break;
    }
    opts.payload_hash = &*h;
    auto r = kp::sigv4::sign_request(req, creds, opts);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SigV4_SignRequest_AttestedDecryptPrefixHash);

// Four HMACs: what a signing-key cache miss costs (once a day per region).
void BM_SigV4_SigningKeyDerivation(benchmark::State& state) {
  auto creds = bench_credentials();
  for (auto _ : state) {
    auto k = kp::sigv4::signing_key(creds.secret_access_key, "20240101", "us-east-1", "kms");
    benchmark::DoNotOptimize(k.data());
  }
}
BENCHMARK(BM_SigV4_SigningKeyDerivation);

// What the proxy reads from the app's own signature: the region and service
// of its credential scope (the full, validating parse; per request).
void BM_SigV4_ParseClientAuthorization(benchmark::State& state) {
  const std::string header =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/kms/aws4_request, "
      "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;"
      "x-amz-target, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
  for (auto _ : state) {
    auto r = kp::sigv4::parse_authorization_view(header);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SigV4_ParseClientAuthorization);

// A signing-key cache hit, from one thread and from two at once: through the
// shared, locked cache (get: a mutex and a shared reference count every
// thread writes) and through the calling thread's front entry (key_for, what
// sign_request uses). With two threads the shared path moves cache lines
// between the cores on every call.
void BM_SigV4_SigningKeyCacheHitShared(benchmark::State& state) {
  static kp::sigv4::SigningKeyCache cache;
  auto creds = bench_credentials();
  for (auto _ : state) {
    auto k = cache.get(creds.access_key_id, creds.secret_access_key, "20240101", "us-east-1", "kms");
    benchmark::DoNotOptimize(k.get());
  }
}
BENCHMARK(BM_SigV4_SigningKeyCacheHitShared)->Threads(1)->Threads(2)->UseRealTime();

void BM_SigV4_SigningKeyCacheHitThreadFront(benchmark::State& state) {
  static kp::sigv4::SigningKeyCache cache;
  auto creds = bench_credentials();
  for (auto _ : state) {
    const auto& k = cache.key_for(creds.access_key_id, creds.secret_access_key, "20240101", "us-east-1", "kms");
    benchmark::DoNotOptimize(k.data());
  }
}
BENCHMARK(BM_SigV4_SigningKeyCacheHitThreadFront)->Threads(1)->Threads(2)->UseRealTime();

// ----------------------------------------------------------- KMS rewrite --

void BM_Kms_AddRecipient(benchmark::State& state) {
  auto& f = Fixture::get();
  const std::string body = decrypt_body();
  for (auto _ : state) {
    auto r = kp::kms::add_recipient(body, f.sim_document_b64);
    benchmark::DoNotOptimize(r);
  }
  state.counters["doc_b64_bytes"] = static_cast<double>(f.sim_document_b64.size());
}
BENCHMARK(BM_Kms_AddRecipient);

// In place; each iteration starts from a fresh copy of the client's body (the
// copy is included, as the proxy owns the request body anyway).
void BM_Kms_AddRecipientInPlace(benchmark::State& state) {
  auto& f = Fixture::get();
  const std::string body = decrypt_body();
  for (auto _ : state) {
    std::string b = body;
    auto r = kp::kms::add_recipient_in_place(b, f.sim_document_b64);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(b.data());
  }
}
BENCHMARK(BM_Kms_AddRecipientInPlace);

// The proxy's splice: scan, then the member checked once per document.
void BM_Kms_ScanAndInsertMember(benchmark::State& state) {
  auto& f = Fixture::get();
  const std::string body = decrypt_body();
  const auto member = must(kp::kms::RecipientMember::make(f.sim_document_b64), "RecipientMember");
  for (auto _ : state) {
    std::string b = body;
    auto s = kp::kms::scan_request(b);
    if (!s || !kp::kms::insert_recipient(b, *s, member)) {
      state.SkipWithError("scan/insert failed");
      break;
    }
    benchmark::DoNotOptimize(b.data());
  }
}
BENCHMARK(BM_Kms_ScanAndInsertMember);

// The whole response rewrite: JSON parse, base64, CMS open (RSA-OAEP +
// AES-CBC), re-serialisation with Plaintext.
void BM_Kms_OpenRecipientResponse(benchmark::State& state) {
  auto& f = Fixture::get();
  kp::kms::CmsDecryptFn decrypt = [&f](kp::ByteView der) {
    return kp::crypto::open_enveloped(der, f.key);
  };
  for (auto _ : state) {
    auto r = kp::kms::open_recipient_response(f.decrypt_response, kp::kms::AttestedOp::kDecrypt, decrypt);
    if (!r) {
      state.SkipWithError("open_recipient_response failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Kms_OpenRecipientResponse)->Unit(benchmark::kMicrosecond);

// -------------------------------------------------------------------- CMS --

void BM_Crypto_OpenEnveloped(benchmark::State& state) {
  auto& f = Fixture::get();
  for (auto _ : state) {
    auto r = kp::crypto::open_enveloped(f.sealed, f.key);
    if (!r) {
      state.SkipWithError("open_enveloped failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Crypto_OpenEnveloped)->Unit(benchmark::kMicrosecond);

// The strict BER parse of a KMS blob alone (no RSA, no AES).
void BM_Crypto_ParseEnveloped(benchmark::State& state) {
  auto& f = Fixture::get();
  for (auto _ : state) {
    auto r = kp::crypto::parse_enveloped(f.sealed);
    if (!r) {
      state.SkipWithError("parse_enveloped failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Crypto_ParseEnveloped);

// The RSA-OAEP unwrap alone (the floor under open_enveloped).
void BM_Crypto_RsaOaepDecrypt(benchmark::State& state) {
  auto& f = Fixture::get();
  auto env = must(kp::crypto::parse_enveloped(f.sealed), "parse_enveloped");
  for (auto _ : state) {
    auto r = f.key.decrypt_oaep_sha256(env.encrypted_key);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Crypto_RsaOaepDecrypt)->Unit(benchmark::kMicrosecond);

// The proxy's per-start cost: one RSA-2048 key generation (highly variable).
void BM_Crypto_RsaKeyGeneration(benchmark::State& state) {
  for (auto _ : state) {
    auto k = kp::crypto::RsaKeyPair::generate(2048);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_Crypto_RsaKeyGeneration)->Unit(benchmark::kMillisecond)->Iterations(5);

// ------------------------------------------------------------ Attestation --

void BM_Attestation_ParseDocument(benchmark::State& state) {
  auto& f = Fixture::get();
  for (auto _ : state) {
    auto r = kp::attestation::parse_document(f.sim_document);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Attestation_ParseDocument);

// Full verification (parse, chain to the simulated root, ES384 signature).
void BM_Attestation_VerifyDocument_Simulated(benchmark::State& state) {
  auto& f = Fixture::get();
  kp::attestation::VerifyOptions opts;
  opts.trusted_roots_der = {f.pki->root_der};
  for (auto _ : state) {
    auto r = kp::attestation::verify_document(f.sim_document, opts);
    if (!r) {
      state.SkipWithError("verify_document failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Attestation_VerifyDocument_Simulated)->Unit(benchmark::kMicrosecond);

// A real AWS document (4-certificate chain to the pinned AWS root) verified at
// its own timestamp.
void BM_Attestation_VerifyDocument_AwsVector(benchmark::State& state) {
  const std::string path = std::string(KP_VECTORS_DIR) + "/attestation_docs/fastcrypto_fixed_valid_2024-11-14.cose.bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    state.SkipWithError("vector not found (KP_VECTORS_DIR)");
    for (auto _ : state) {
    }
    return;
  }
  kp::Bytes doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  kp::attestation::VerifyOptions opts;
  opts.at = kp::from_unix_ms(1731627989450);
  for (auto _ : state) {
    auto r = kp::attestation::verify_document(doc, opts);
    if (!r) {
      state.SkipWithError("verify_document failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Attestation_VerifyDocument_AwsVector)->Unit(benchmark::kMicrosecond);

// One simulated NSM Attestation call (CBOR request, ES384 signing, CBOR
// response): the CPU the simulated NSM worker spends per document.
void BM_Attestation_SimulatedNsmCall(benchmark::State& state) {
  auto& f = Fixture::get();
  kp::attestation::NsmClient client(f.nsm);
  kp::attestation::AttestationRequest req;
  req.public_key = f.key.spki_der();
  for (auto _ : state) {
    auto r = client.attestation(req);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Attestation_SimulatedNsmCall)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
