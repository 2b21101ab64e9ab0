// Fuzz target: CiphertextForRecipient (BER CMS EnvelopedData) from untrusted
// bytes: parse_enveloped, and open_enveloped with the two public test keys of
// the vectors (enclaver_hello_world PKCS#8, nitro-enclaves-sdk-go PKCS#1),
// loaded at start-up from the vectors directory (nothing secret is embedded:
// both keys are published test data, see /work/shared/vectors/README.md).
// The real vectors in the seed corpus carry valid OAEP blocks for these keys,
// so mutations of their encrypted content reach AES-CBC and the PKCS#7
// unpadding, not just the parser.
// Properties checked:
//  * open_enveloped() fails with kCmsInvalid exactly when parse_enveloped()
//    fails;
//  * a blob that is malformed or addressed to another key never reaches the
//    RSA private key (private_operations() unchanged);
//  * inputs starting with 0xA5 (and < 512 bytes) are also sealed to the
//    first key with seal_enveloped() and must open to the same bytes.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "crypto/cms.h"
#include "crypto/rsa_key.h"
#include "fuzz_util.h"

namespace {

using kp::crypto::RsaKeyPair;

struct Fixture {
  std::vector<RsaKeyPair> keys;
};

RsaKeyPair load_key(const std::string& rel) {
  auto key = RsaKeyPair::from_pem(kp::fuzz::read_fixture(rel));
  if (!key) {
    std::fprintf(stderr, "fuzz: cannot load %s: %s\n", rel.c_str(), key.error().message.c_str());
    std::exit(2);
  }
  return std::move(*key);
}

// Sanity check of the harness itself: each key opens its own real vector.
void self_test(const RsaKeyPair& key, const std::string& dir) {
  const std::string blob = kp::fuzz::read_fixture(dir + "/ciphertext_for_recipient.ber");
  const std::string expected = kp::fuzz::read_fixture(dir + "/expected_plaintext.bin");
  auto pt = kp::crypto::open_enveloped(kp::as_bytes(blob), key);
  if (!pt || pt->chars() != expected) {
    std::fprintf(stderr, "fuzz: self-test failed for %s\n", dir.c_str());
    std::exit(2);
  }
}

const Fixture& fixture() {
  static const Fixture* f = [] {
    auto* fx = new Fixture;
    const std::string a = "ciphertext_for_recipient/enclaver_hello_world";
    const std::string b = "ciphertext_for_recipient/nitro-enclaves-sdk-go_datakey";
    fx->keys.push_back(load_key(a + "/private_key_pkcs8.pem"));
    fx->keys.push_back(load_key(b + "/private_key_pkcs1.pem"));
    self_test(fx->keys[0], a);
    self_test(fx->keys[1], b);
    return fx;
  }();
  return *f;
}

void open_with(kp::ByteView blob, const RsaKeyPair& key, bool parsed) {
  const std::uint64_t ops_before = key.private_operations();
  auto pt = kp::crypto::open_enveloped(blob, key);
  if (pt) {
    KP_FUZZ_CHECK(parsed);
    return;
  }
  const kp::Errc code = pt.error().code;
  KP_FUZZ_CHECK(code == kp::Errc::kCmsInvalid || code == kp::Errc::kCmsWrongRecipient ||
                code == kp::Errc::kCmsDecryptFailed);
  KP_FUZZ_CHECK((code == kp::Errc::kCmsInvalid) == !parsed);
  if (code != kp::Errc::kCmsDecryptFailed) {
    KP_FUZZ_CHECK(key.private_operations() == ops_before);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Fixture& fx = fixture();
  const kp::ByteView input(data, size);

  auto env = kp::crypto::parse_enveloped(input);
  if (env) {
    KP_FUZZ_CHECK(env->recipient_ski.size() == 32);
    KP_FUZZ_CHECK(!env->encrypted_key.empty());
  }
  for (const auto& key : fx.keys) {
    open_with(input, key, env.has_value());
  }

  // Arbitrary bytes as a recipient SPKI must be rejected, not crash.
  (void)kp::crypto::seal_enveloped(kp::ByteView(data, size / 2), kp::ByteView(data + size / 2, size - size / 2));

  if (size > 0 && size < 512 && data[0] == 0xA5) {
    const RsaKeyPair& key = fx.keys[0];
    auto sealed = kp::crypto::seal_enveloped(input, key.spki_der());
    KP_FUZZ_CHECK(sealed.has_value());
    auto opened = kp::crypto::open_enveloped(*sealed, key);
    KP_FUZZ_CHECK(opened.has_value());
    KP_FUZZ_CHECK(opened->equals(input));
  }
  return 0;
}
