// File: bench/tools/rsa_oaep_time.cc
//
// kp_rsa_oaep_time: the reference for the attested-throughput figure. Times
// RSA-2048 RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label) private-key
// decryption of a 32-byte key with plain OpenSSL EVP calls, on the calling
// thread (run it under the same `taskset` as the proxy). Two variants:
//   fresh_ctx : EVP_PKEY_CTX created and configured for every decryption
//               (what a request-at-a-time caller pays)
//   reused_ctx: one configured context, EVP_PKEY_decrypt only
// The faster of the two is the stricter baseline. Prints one JSON object.
//
//   kp_rsa_oaep_time [--seconds 1.0] [--bits 2048]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rsa.h>

namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct CtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxDeleter>;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "kp_rsa_oaep_time: %s failed\n", what);
  std::exit(1);
}

CtxPtr oaep_ctx(EVP_PKEY* key, bool decrypt) {
  CtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx) {
    die("EVP_PKEY_CTX_new_from_pkey");
  }
  int rc = decrypt ? EVP_PKEY_decrypt_init(ctx.get()) : EVP_PKEY_encrypt_init(ctx.get());
  if (rc <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) <= 0) {
    die("OAEP context setup");
  }
  return ctx;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Timing {
  long ops = 0;
  double wall_us_per_op = 0;
  double cpu_us_per_op = 0;
};

template <class Fn>
Timing time_loop(double seconds, Fn&& one) {
  using Clock = std::chrono::steady_clock;
  // Warm up (page in, branch predictors, OpenSSL's lazy init).
  for (int i = 0; i < 20; ++i) {
    one();
  }
  const auto start = Clock::now();
  const double cpu0 = thread_cpu_seconds();
  const auto until = start + std::chrono::duration<double>(seconds);
  Timing t;
  while (Clock::now() < until) {
    for (int i = 0; i < 10; ++i) {
      one();
    }
    t.ops += 10;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = thread_cpu_seconds() - cpu0;
  t.wall_us_per_op = wall * 1e6 / static_cast<double>(t.ops);
  t.cpu_us_per_op = cpu * 1e6 / static_cast<double>(t.ops);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  unsigned bits = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view a = argv[i];
    if (a == "--seconds") {
      seconds = std::strtod(argv[i + 1], nullptr);
    } else if (a == "--bits") {
      bits = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: kp_rsa_oaep_time [--seconds S] [--bits N]\n");
      return 2;
    }
  }
  if (seconds <= 0 || seconds > 60) {
    seconds = 1.0;
  }

  PkeyPtr key(EVP_RSA_gen(bits));
  if (!key) {
    die("EVP_RSA_gen");
  }
  unsigned char cek[32];
  for (unsigned i = 0; i < sizeof cek; ++i) {
    cek[i] = static_cast<unsigned char>(i);
  }
  std::vector<unsigned char> wrapped(static_cast<std::size_t>(EVP_PKEY_get_size(key.get())));
  std::size_t wrapped_len = wrapped.size();
  {
    CtxPtr enc = oaep_ctx(key.get(), false);
    if (EVP_PKEY_encrypt(enc.get(), wrapped.data(), &wrapped_len, cek, sizeof cek) <= 0) {
      die("EVP_PKEY_encrypt");
    }
  }
  std::vector<unsigned char> out(wrapped.size());

  auto check = [&](EVP_PKEY_CTX* ctx) {
    std::size_t out_len = out.size();
    if (EVP_PKEY_decrypt(ctx, out.data(), &out_len, wrapped.data(), wrapped_len) <= 0 ||
        out_len != sizeof cek) {
      die("EVP_PKEY_decrypt");
    }
  };

  const Timing fresh = time_loop(seconds / 2, [&] {
    CtxPtr ctx = oaep_ctx(key.get(), true);
    check(ctx.get());
  });
  CtxPtr reused_ctx = oaep_ctx(key.get(), true);
  const Timing reused = time_loop(seconds / 2, [&] { check(reused_ctx.get()); });

  const Timing& best = reused.wall_us_per_op < fresh.wall_us_per_op ? reused : fresh;
  std::printf(
      "{\"bits\":%u,\"fresh_ctx\":{\"ops\":%ld,\"wall_us_per_op\":%.2f,\"cpu_us_per_op\":%.2f},"
      "\"reused_ctx\":{\"ops\":%ld,\"wall_us_per_op\":%.2f,\"cpu_us_per_op\":%.2f},"
      "\"best_wall_us_per_op\":%.2f,\"best_ops_per_sec\":%.1f}\n",
      bits, fresh.ops, fresh.wall_us_per_op, fresh.cpu_us_per_op, reused.ops, reused.wall_us_per_op,
      reused.cpu_us_per_op, best.wall_us_per_op, 1e6 / best.wall_us_per_op);
  return 0;
}
