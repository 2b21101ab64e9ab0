#include "crypto/pem.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "crypto/digest.h"
#include "crypto/rsa_key.h"
#include "base/encoding.h"

namespace kp::crypto {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Pem, CertificateFromPemMatchesTheDerFile) {
  const std::string dir = std::string(KP_VECTORS_DIR) + "/aws_nitro_root_g1/";
  auto der = certificate_der_from_pem(slurp(dir + "root.pem"));
  ASSERT_TRUE(der);
  EXPECT_EQ(as_chars(*der), slurp(dir + "root.der"));
  EXPECT_FALSE(certificate_der_from_pem("not a pem"));
  EXPECT_TRUE(certificates_der_from_pem("").empty());
}

TEST(Pem, PublicKeyFromDerSpki) {
  auto key = RsaKeyPair::generate(2048);
  ASSERT_TRUE(key);
  auto der = public_key_der_from_pem_or_der(as_chars(key->spki_der()));
  ASSERT_TRUE(der);
  EXPECT_EQ(*der, key->spki_der());
  EXPECT_FALSE(public_key_der_from_pem_or_der("garbage"));
}

}  // namespace
}  // namespace kp::crypto
