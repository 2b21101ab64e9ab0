#include "attestation/simulated_nsm.h"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "attestation/ossl_util.h"
#include "attestation/verifier.h"
#include "base/encoding.h"
#include "cbor/writer.h"
#include "crypto/digest.h"

namespace kp::attestation {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): .cc-local

constexpr std::size_t kPcrBytes = 48;
constexpr unsigned kLockedPcrs = 16;
const Bytes kProtectedEs384 = {0xa1, 0x01, 0x38, 0x22};  // {1: -35}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "i-" 17 hex "-enc" 16 hex, like i-0918f6c55e3b61d89-enc018aa8b8e2285d13.
bool valid_module_id(std::string_view id) {
  return id.size() == 2 + 17 + 4 + 16 && id.substr(0, 2) == "i-" && is_lower_hex(id.substr(2, 17)) &&
         id.substr(19, 4) == "-enc" && is_lower_hex(id.substr(23, 16));
}

std::string random_hex(std::size_t n) {
  Bytes b((n + 1) / 2);
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  return hex_encode(b).substr(0, n);
}

Result<Bytes> sign_es384(EVP_PKEY* key, ByteView tbs) {
  EvpMdCtxPtr md(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha384(), nullptr, key) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len, tbs.data(), tbs.size()) != 1) {
    return Error{Errc::kInternal, "simulated_nsm: sign: " + take_openssl_error()};
  }
  Bytes der(len);
  if (EVP_DigestSign(md.get(), der.data(), &len, tbs.data(), tbs.size()) != 1) {
    return Error{Errc::kInternal, "simulated_nsm: sign: " + take_openssl_error()};
  }
  der.resize(len);
  auto raw = es384_der_to_raw(der);
  if (!raw) {
    return Error{Errc::kInternal, "simulated_nsm: sign: bad ECDSA signature encoding"};
  }
  return std::move(*raw);
}

void optional_bstr(cbor::Writer& w, const std::optional<Bytes>& v) {
  if (v) {
    w.bstr(*v);
  } else {
    w.null();
  }
}

}  // namespace

std::string random_module_id() { return "i-" + random_hex(17) + "-enc" + random_hex(16); }

struct SimulatedNsm::Impl {
  SimulatedNsmOptions options;
  std::map<unsigned, Bytes> pcrs;  // 0..15 always, plus configured 16..31
  std::mutex mu;
  std::atomic<std::uint64_t> calls{0};
  // The signing leaf (the PKI's, or a minted short-lived one).
  Bytes leaf_der;
  EvpPkeyPtr leaf_key;
  SysTime leaf_not_before{};
  bool have_leaf = false;

  Result<void> ensure_leaf(SysTime now) {
    if (!options.ephemeral_leaf_lifetime) {
      return {};
    }
    const auto lifetime = *options.ephemeral_leaf_lifetime;
    // Reuse a leaf for the first half of its life, as the NSM reuses its 3h
    // leaves for about two hours; then mint the next one.
    if (have_leaf && now >= leaf_not_before && now < leaf_not_before + lifetime / 2) {
      return {};
    }
    const SysTime nb = std::chrono::floor<std::chrono::seconds>(now) - std::chrono::seconds(3);
    auto leaf = mint_sim_leaf(*options.pki, options.module_id + ".sim.aws", nb, now + lifetime);
    if (!leaf) {
      return leaf.error();
    }
    EvpPkeyPtr key = parse_private_key_pem(leaf->key_pem.view());
    if (!key) {
      return Error{Errc::kInternal, "simulated_nsm: minted leaf key does not parse"};
    }
    leaf_der = std::move(leaf->cert_der);
    leaf_key = std::move(key);
    leaf_not_before = nb;
    have_leaf = true;
    return {};
  }

  Result<Bytes> document(const AttestationRequest& req) {
    const SysTime now = options.clock->now();
    if (auto l = ensure_leaf(now); !l) {
      return l.error();
    }
    const auto& pki = *options.pki;
    cbor::Writer p(4096);
    // protocol.md 5.2: the key order of every real document.
    p.map_header(9);
    p.tstr("module_id").tstr(options.module_id);
    p.tstr("digest").tstr("SHA384");
    p.tstr("timestamp").uint(static_cast<std::uint64_t>(unix_ms(now)));
    p.tstr("pcrs").map_header(pcrs.size());
    for (const auto& [index, value] : pcrs) {
      p.uint(index).bstr(value);
    }
    p.tstr("certificate").bstr(leaf_der);
    p.tstr("cabundle").array_header(2).bstr(pki.root_der).bstr(pki.intermediate_der);
    p.tstr("public_key");
    optional_bstr(p, req.public_key);
    p.tstr("user_data");
    optional_bstr(p, req.user_data);
    p.tstr("nonce");
    optional_bstr(p, req.nonce);
    const Bytes payload = std::move(p).take();

    auto sig = sign_es384(leaf_key.get(), sig_structure1(kProtectedEs384, payload));
    if (!sig) {
      return sig.error();
    }
    cbor::Writer cose(payload.size() + 128);
    cose.array_header(4).bstr(kProtectedEs384).map_header(0).bstr(payload).bstr(*sig);
    return std::move(cose).take();
  }

  Result<Bytes> handle(ByteView request) {
    auto req = decode_request(request);
    if (!req) {
      return encode_error_response(NsmErrorCode::kInvalidArgument);
    }
    switch (req->kind) {
      case NsmRequest::Kind::kAttestation: {
        const auto& a = req->attestation;
        for (const auto* f : {&a.user_data, &a.nonce, &a.public_key}) {
          if (*f && (*f)->size() > kNsmFieldMaxBytes) {
            return encode_error_response(NsmErrorCode::kInputTooLarge);
          }
        }
        auto doc = document(a);
        if (!doc) {
          return encode_error_response(NsmErrorCode::kInternalError);
        }
        return encode_attestation_response(*doc);
      }
      case NsmRequest::Kind::kDescribeNsm: {
        NsmDescription d{1, 0, 0, options.module_id, 32, {}, "SHA384"};
        for (std::uint16_t i = 0; i < kLockedPcrs; ++i) {
          d.locked_pcrs.push_back(i);
        }
        return encode_describe_nsm_response(d);
      }
      case NsmRequest::Kind::kDescribePcr: {
        if (req->index >= kMaxPcrs) {
          return encode_error_response(NsmErrorCode::kInvalidIndex);
        }
        const auto it = pcrs.find(req->index);
        return encode_describe_pcr_response(
            {it != pcrs.end(), it != pcrs.end() ? it->second : Bytes(kPcrBytes, 0)});
      }
      case NsmRequest::Kind::kGetRandom: {
        Bytes random(256);
        if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
          return encode_error_response(NsmErrorCode::kInternalError);
        }
        return encode_get_random_response(random);
      }
      case NsmRequest::Kind::kUnsupported:
        break;
    }
    return encode_error_response(NsmErrorCode::kInvalidOperation);
  }
};

SimulatedNsm::SimulatedNsm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SimulatedNsm::~SimulatedNsm() = default;

Result<std::shared_ptr<SimulatedNsm>> SimulatedNsm::create(SimulatedNsmOptions options) {
  if (!options.pki) {
    return Error{Errc::kValidation, "simulated_nsm: no PKI"};
  }
  if (options.clock == nullptr) {
    return Error{Errc::kValidation, "simulated_nsm: no clock"};
  }
  if (options.module_id.empty()) {
    options.module_id = random_module_id();
  } else if (!valid_module_id(options.module_id)) {
    return Error{Errc::kValidation,
                 "simulated_nsm: module_id must look like i-<17 hex>-enc<16 hex>"};
  }
  auto impl = std::make_unique<Impl>();
  for (unsigned i = 0; i < kLockedPcrs; ++i) {
    impl->pcrs[i] = Bytes(kPcrBytes, 0);
  }
  if (options.derive_pcr4) {
    Bytes in(kPcrBytes, 0);
    const std::string instance = options.module_id.substr(0, options.module_id.find("-enc"));
    in.insert(in.end(), instance.begin(), instance.end());
    const auto pcr4 = crypto::sha384(in);
    impl->pcrs[4] = Bytes(pcr4.begin(), pcr4.end());
  }
  for (const auto& [index, value] : options.pcrs) {
    if (index >= kMaxPcrs) {
      return Error{Errc::kValidation, "simulated_nsm: PCR index " + std::to_string(index) + " >= 32"};
    }
    if (value.size() != kPcrBytes) {
      return Error{Errc::kValidation, "simulated_nsm: PCR" + std::to_string(index) + " is " +
                                          std::to_string(value.size()) + " bytes, expected 48"};
    }
    impl->pcrs[index] = value;
  }
  impl->leaf_der = options.pki->leaf_der;
  impl->leaf_key = parse_private_key_pem(options.pki->leaf_key_pem.view());
  X509Ptr leaf = parse_der_cert(impl->leaf_der);
  if (!impl->leaf_key || !leaf || X509_check_private_key(leaf.get(), impl->leaf_key.get()) != 1) {
    take_openssl_error();
    return Error{Errc::kInternal, "simulated_nsm: PKI leaf key does not match its certificate"};
  }
  impl->options = std::move(options);
  return std::shared_ptr<SimulatedNsm>(new SimulatedNsm(std::move(impl)));
}

Result<Bytes> SimulatedNsm::transact(ByteView request) {
  // Same contract as the driver: oversized requests fail before the device.
  if (request.size() > kNsmRequestMaxBytes) {
    return Error{Errc::kNsmFailed, "nsm: request of " + std::to_string(request.size()) +
                                       " bytes exceeds 4096: NSM error InputTooLarge"};
  }
  std::lock_guard lock(impl_->mu);
  impl_->calls.fetch_add(1, std::memory_order_relaxed);
  if (impl_->options.latency.count() > 0) {
    std::this_thread::sleep_for(impl_->options.latency);
  }
  return impl_->handle(request);
}

const std::string& SimulatedNsm::module_id() const noexcept { return impl_->options.module_id; }

Bytes SimulatedNsm::pcr(unsigned index) const {
  const auto it = impl_->pcrs.find(index);
  return it != impl_->pcrs.end() ? it->second : Bytes(kPcrBytes, 0);
}

std::uint64_t SimulatedNsm::calls() const noexcept { return impl_->calls.load(std::memory_order_relaxed); }

}  // namespace kp::attestation
