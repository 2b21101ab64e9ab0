// RSA key generation with the prime search spread over several threads.
//
// Almost all of an RSA-2048 key generation is the search for its two
// 1024-bit primes, and the time of each search is random (tens to hundreds of
// milliseconds). EVP_RSA_gen searches for p, then for q, on one thread. Here
// `threads` searchers run OpenSSL's own prime generator (BN_generate_prime_ex2,
// the one EVP_RSA_gen uses) at once and the first two suitable primes win;
// the losers are stopped through the generator's callback. On two cores the
// mean time halves and the long tail shrinks. The key is then assembled from
// p, q and e = 65537 exactly as RFC 8017 3.2 defines it (d = e^-1 mod
// lcm(p-1, q-1), CRT exponents and coefficient) and proven with an OAEP round
// trip before use.
#include "crypto/rsa_keygen.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/openssl_util.h"

namespace kp::crypto::detail {

namespace {

using BnPtr = CPtr<BIGNUM, BN_clear_free>;  // primes and private exponents: wiped
using BnCtxPtr = CPtr<BN_CTX, BN_CTX_free>;

struct Search {
  std::mutex mu;
  std::vector<BnPtr> primes;  // under mu
  bool failed = false;        // under mu
  std::atomic<bool> stop{false};
};

// BN_GENCB callback: returning 0 aborts the prime search in progress.
int keep_searching(int, int, BN_GENCB* cb) {
  const auto* s = static_cast<const Search*>(BN_GENCB_get_arg(cb));
  return s->stop.load(std::memory_order_relaxed) ? 0 : 1;
}

void search_primes(Search& s, int prime_bits) {
  BnCtxPtr ctx(BN_CTX_secure_new());
  CPtr<BN_GENCB, BN_GENCB_free> cb(BN_GENCB_new());
  BnPtr e(BN_new());
  BnPtr pm1(BN_new());
  BnPtr g(BN_new());
  auto give_up = [&] {
    std::lock_guard lock(s.mu);
    s.failed = true;
    s.stop.store(true);
  };
  if (!ctx || !cb || !e || !pm1 || !g || BN_set_word(e.get(), RSA_F4) != 1) {
    give_up();
    return;
  }
  BN_GENCB_set(cb.get(), keep_searching, &s);
  while (!s.stop.load(std::memory_order_relaxed)) {
    BnPtr p(BN_secure_new());
    // Top two bits set (so |p*q| is exactly 2 * prime_bits), odd, probable
    // prime with OpenSSL's default Miller-Rabin rounds for this size.
    if (!p || BN_generate_prime_ex2(p.get(), prime_bits, 0, nullptr, nullptr, cb.get(), ctx.get()) != 1) {
      if (!s.stop.load()) {
        give_up();
      }
      break;
    }
    // e must be invertible modulo p - 1.
    if (BN_sub(pm1.get(), p.get(), BN_value_one()) != 1 || BN_gcd(g.get(), pm1.get(), e.get(), ctx.get()) != 1) {
      give_up();
      break;
    }
    if (!BN_is_one(g.get())) {
      continue;
    }
    std::lock_guard lock(s.mu);
    if (s.primes.size() < 2) {
      s.primes.push_back(std::move(p));
    }
    if (s.primes.size() >= 2) {
      s.stop.store(true);
    }
  }
  ERR_clear_error();
}

// Builds the EVP_PKEY from p, q and e (RFC 8017 3.2).
Result<PkeyPtr> assemble(const BIGNUM* p, const BIGNUM* q, unsigned bits) {
  BnCtxPtr ctx(BN_CTX_secure_new());
  BnPtr e(BN_new()), n(BN_new()), pm1(BN_new()), qm1(BN_new()), g(BN_new()), lcm(BN_secure_new()),
      d(BN_secure_new()), dp(BN_secure_new()), dq(BN_secure_new()), qinv(BN_secure_new()), diff(BN_new()),
      phi(BN_secure_new());
  auto fail_bn = [] { return fail(Errc::kInternal, "RSA key generation: big-number arithmetic failed (" + take_openssl_error() + ")"); };
  if (!ctx || !e || !n || !pm1 || !qm1 || !g || !lcm || !d || !dp || !dq || !qinv || !diff || !phi) {
    return fail_bn();
  }
  BN_CTX* c = ctx.get();
  if (BN_set_word(e.get(), RSA_F4) != 1 || BN_mul(n.get(), p, q, c) != 1 ||
      BN_sub(pm1.get(), p, BN_value_one()) != 1 || BN_sub(qm1.get(), q, BN_value_one()) != 1 ||
      BN_mul(phi.get(), pm1.get(), qm1.get(), c) != 1 || BN_gcd(g.get(), pm1.get(), qm1.get(), c) != 1 ||
      BN_div(lcm.get(), nullptr, phi.get(), g.get(), c) != 1 ||
      BN_mod_inverse(d.get(), e.get(), lcm.get(), c) == nullptr || BN_mod(dp.get(), d.get(), pm1.get(), c) != 1 ||
      BN_mod(dq.get(), d.get(), qm1.get(), c) != 1 || BN_mod_inverse(qinv.get(), q, p, c) == nullptr ||
      BN_sub(diff.get(), p, q) != 1) {
    return fail_bn();
  }
  // FIPS 186-4 B.3.1 / OpenSSL: p and q must not be too close, and the
  // modulus must have exactly the requested size.
  if (BN_num_bits(n.get()) != static_cast<int>(bits) ||
      BN_num_bits(diff.get()) <= static_cast<int>(bits / 2) - 100) {
    return fail(Errc::kInternal, "RSA key generation: unsuitable prime pair");
  }
  CPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_D, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, dp.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, dq.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv.get()) != 1) {
    return fail_bn();
  }
  CPtr<OSSL_PARAM, OSSL_PARAM_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr pctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !pctx || EVP_PKEY_fromdata_init(pctx.get()) != 1 ||
      EVP_PKEY_fromdata(pctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return fail(Errc::kInternal, "RSA key generation: cannot build the key (" + take_openssl_error() + ")");
  }
  return PkeyPtr(raw);
}

// Proves the assembled key with the operation the proxy needs from it:
// RSAES-OAEP-SHA-256 encrypt with the public half, decrypt with the private
// half (CRT path), compare.
bool round_trip_ok(EVP_PKEY* pkey) {
  static constexpr unsigned char kProbe[] = "kms-proxy key self-test";
  auto ct = rsa_oaep_sha256_encrypt(pkey, ByteView(kProbe, sizeof(kProbe)), "RSA key self-test");
  PkeyCtxPtr dec(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ct || !dec || EVP_PKEY_decrypt_init(dec.get()) != 1 || !set_rsa_oaep_sha256(dec.get())) {
    return false;
  }
  std::vector<unsigned char> pt(ct->size());
  std::size_t pt_len = pt.size();
  if (EVP_PKEY_decrypt(dec.get(), pt.data(), &pt_len, ct->data(), ct->size()) != 1) {
    return false;
  }
  return pt_len == sizeof(kProbe) && std::equal(pt.begin(), pt.begin() + static_cast<std::ptrdiff_t>(pt_len), kProbe);
}

}  // namespace

Result<PkeyPtr> generate_rsa_parallel(unsigned bits, unsigned threads) {
  if (bits % 2 != 0 || bits < 1024) {
    return fail(Errc::kValidation, "RSA key generation: unsupported size");
  }
  threads = std::max(1u, threads);
  constexpr int kAttempts = 4;
  std::optional<Error> last;  // why the last pair was refused
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Search s;
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i) {
      workers.emplace_back([&s, bits] { search_primes(s, static_cast<int>(bits / 2)); });
    }
    search_primes(s, static_cast<int>(bits / 2));
    for (auto& t : workers) {
      t.join();
    }
    if (s.failed || s.primes.size() < 2) {
      return fail(Errc::kInternal, "RSA key generation: prime search failed");
    }
    if (BN_cmp(s.primes[0].get(), s.primes[1].get()) == 0) {
      last = Error{Errc::kInternal, "RSA key generation: the two searches found the same prime"};
      continue;
    }
    auto key = assemble(s.primes[0].get(), s.primes[1].get(), bits);
    if (!key) {
      last = key.error();
      continue;  // p and q too close (probability ~2^-100) or arithmetic failure: retry
    }
    if (!round_trip_ok(key->get())) {
      ERR_clear_error();
      return fail(Errc::kInternal, "RSA key generation: the assembled key failed its self-test");
    }
    return key;
  }
  // Reached only when every attempt was refused: report the last reason.
  return fail(Errc::kInternal, (last ? last->message : std::string("RSA key generation failed")) + " (" +
                                   std::to_string(kAttempts) + " attempts)");
}

}  // namespace kp::crypto::detail
