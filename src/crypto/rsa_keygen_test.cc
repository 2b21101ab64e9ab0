// generate_rsa_parallel: the assembled key is a valid RSA key by OpenSSL's
// own full check (primality of p and q, d*e = 1 mod lcm, CRT values).
#include "crypto/rsa_keygen.h"

#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

namespace kp::crypto::detail {
namespace {

std::string bn_param(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) {
    return "";
  }
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_clear_free(bn);
  return out;
}

void expect_valid(unsigned bits, unsigned threads) {
  auto key = generate_rsa_parallel(bits, threads);
  ASSERT_TRUE(key) << key.error().message;
  EVP_PKEY* k = key->get();
  EXPECT_EQ(EVP_PKEY_get_bits(k), static_cast<int>(bits));
  EXPECT_EQ(bn_param(k, OSSL_PKEY_PARAM_RSA_E), "010001");
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, k, nullptr));
  ASSERT_TRUE(check);
  // Full check: public, private, pairwise; for RSA this includes primality
  // tests of both factors and the CRT parameters.
  EXPECT_EQ(EVP_PKEY_check(check.get()), 1);
  EXPECT_EQ(EVP_PKEY_private_check(check.get()), 1);
  EXPECT_EQ(EVP_PKEY_pairwise_check(check.get()), 1);
}

TEST(RsaKeygen, TwoSearchersGiveAValidKey) { expect_valid(2048, 2); }

TEST(RsaKeygen, OneSearcherGivesAValidKey) { expect_valid(2048, 1); }

TEST(RsaKeygen, LargerKeysAndManySearchers) { expect_valid(3072, 4); }

TEST(RsaKeygen, KeysDiffer) {
  auto a = generate_rsa_parallel(2048, 2);
  auto b = generate_rsa_parallel(2048, 2);
  ASSERT_TRUE(a && b);
  EXPECT_NE(bn_param(a->get(), OSSL_PKEY_PARAM_RSA_N), bn_param(b->get(), OSSL_PKEY_PARAM_RSA_N));
  EXPECT_NE(bn_param(a->get(), OSSL_PKEY_PARAM_RSA_FACTOR1), bn_param(a->get(), OSSL_PKEY_PARAM_RSA_FACTOR2));
}

TEST(RsaKeygen, RejectsOddSizes) {
  EXPECT_FALSE(generate_rsa_parallel(2047, 2));
  EXPECT_FALSE(generate_rsa_parallel(512, 2));
}

}  // namespace
}  // namespace kp::crypto::detail
