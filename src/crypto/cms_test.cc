#include "crypto/cms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "base/encoding.h"
#include "crypto/digest.h"
#include "crypto/ec.h"
#include "crypto/test_util.h"

namespace kp::crypto {
namespace {

using testing::cfr_dir;
using testing::read_file;
using testing::read_text;

struct KeyedVector {
  const char* dir;
  const char* pem;
};
constexpr KeyedVector kKeyed[] = {{"enclaver_hello_world", "private_key_pkcs8.pem"},
                                  {"nitro-enclaves-sdk-go_datakey", "private_key_pkcs1.pem"}};
constexpr const char* kAllVectors[] = {"enclaver_hello_world", "nitro-enclaves-sdk-go_datakey",
                                       "sdk-c_parse_only_constructed", "sdk-c_parse_only_primitive"};

Bytes blob(const char* dir) { return read_file(cfr_dir(dir) / "ciphertext_for_recipient.ber"); }

RsaKeyPair load_key(const KeyedVector& v) {
  auto key = RsaKeyPair::from_pem(read_text(cfr_dir(v.dir) / v.pem));
  EXPECT_TRUE(key) << key.error().message;
  return std::move(*key);
}

std::size_t find(ByteView hay, ByteView needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
  return it == hay.end() ? std::string::npos : static_cast<std::size_t>(it - hay.begin());
}

Bytes hex(std::string_view h) { return *hex_decode(h); }

// Replaces the first occurrence of `from` (must exist) by `to`.
Bytes replace(Bytes in, ByteView from, ByteView to) {
  const std::size_t at = find(in, from);
  EXPECT_NE(at, std::string::npos);
  if (at == std::string::npos) {
    return in;
  }
  in.erase(in.begin() + static_cast<std::ptrdiff_t>(at), in.begin() + static_cast<std::ptrdiff_t>(at + from.size()));
  in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), to.begin(), to.end());
  return in;
}

const std::string kDecryptFailed =
    "CiphertextForRecipient could not be decrypted with this proxy's key (wrong key or corrupted data)";

TEST(Cms, RealKmsVectorsDecrypt) {
  for (const auto& v : kKeyed) {
    const RsaKeyPair key = load_key(v);
    auto pt = open_enveloped(blob(v.dir), key);
    ASSERT_TRUE(pt) << v.dir << ": " << pt.error().message;
    EXPECT_TRUE(pt->equals(read_file(cfr_dir(v.dir) / "expected_plaintext.bin"))) << v.dir;
    EXPECT_EQ(key.private_operations(), 1u);
  }
}

TEST(Cms, RealKmsVectorsParse) {
  for (const char* dir : {"sdk-c_parse_only_constructed", "sdk-c_parse_only_primitive"}) {
    auto env = parse_enveloped(blob(dir));
    ASSERT_TRUE(env) << dir << ": " << env.error().message;
    EXPECT_EQ(env->encrypted_key, read_file(cfr_dir(dir) / "expected_encrypted_key.bin")) << dir;
    EXPECT_EQ(env->iv, read_file(cfr_dir(dir) / "expected_iv.bin")) << dir;
    EXPECT_EQ(env->encrypted_content, read_file(cfr_dir(dir) / "expected_encrypted_content.bin")) << dir;
    EXPECT_EQ(env->recipient_ski.size(), 32u);
  }
  for (const auto& v : kKeyed) {
    auto env = parse_enveloped(blob(v.dir));
    ASSERT_TRUE(env) << env.error().message;
    const Sha256Digest want = sha256(read_file(cfr_dir(v.dir) / "public_key_spki.der"));
    EXPECT_EQ(env->recipient_ski, Bytes(want.begin(), want.end())) << v.dir;
    EXPECT_EQ(env->encrypted_key.size(), 256u);
  }
}

TEST(Cms, WrongKeyIsRejectedBeforeAnyRsaOperation) {
  const RsaKeyPair other = load_key(kKeyed[1]);
  auto r = open_enveloped(blob(kKeyed[0].dir), other);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCmsWrongRecipient);
  EXPECT_EQ(other.private_operations(), 0u);
  // Names both keys by SKI prefix: the blob's (fb09e9af...) and ours (9631a0c6...).
  EXPECT_NE(r.error().message.find("addressed to key fb09e9af2940ddcf..."), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("not this proxy's key 9631a0c659910ad5..."), std::string::npos)
      << r.error().message;
}

TEST(Cms, RightSkiButWrongRsaKeyFailsInRsa) {
  const RsaKeyPair other = load_key(kKeyed[1]);
  const Bytes original = blob(kKeyed[0].dir);
  auto env = parse_enveloped(original);
  ASSERT_TRUE(env);
  const auto& forged_ski = other.spki_sha256();
  const Bytes forged = replace(original, env->recipient_ski, forged_ski);
  auto r = open_enveloped(forged, other);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCmsDecryptFailed);
  EXPECT_EQ(r.error().message, kDecryptFailed);
  EXPECT_EQ(other.private_operations(), 1u);
}

// A failed unwrap, a key of the wrong size (CmsOpensslCli) and bad CBC
// padding read the same, so the answer is no oracle for a forged blob.
TEST(Cms, BadPaddingReadsLikeEveryOtherDecryptionFailure) {
  const RsaKeyPair key = load_key(kKeyed[0]);
  const std::string text = "a plaintext of a few blocks, sealed here";
  auto sealed = seal_enveloped(ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                               key.spki_der());
  ASSERT_TRUE(sealed) << sealed.error().message;
  const Bytes original = *sealed;  // one primitive encryptedContent
  auto env = parse_enveloped(original);
  ASSERT_TRUE(env);
  ASSERT_TRUE(open_enveloped(original, key));
  // Flip a bit of the second-to-last ciphertext block: the last block's
  // padding bytes change, the key unwrap does not.
  ASSERT_GE(env->encrypted_content.size(), 32u);
  const std::size_t off = env->encrypted_content.size() - 17;
  Bytes tampered_content = env->encrypted_content;
  tampered_content[off] ^= 0x01;
  const Bytes forged = replace(original, env->encrypted_content, tampered_content);
  auto r = open_enveloped(forged, key);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCmsDecryptFailed);
  EXPECT_EQ(r.error().message, kDecryptFailed);
}

TEST(Cms, TamperingAnyByteNeverYieldsTheOriginalPlaintext) {
  for (const auto& v : kKeyed) {
    const RsaKeyPair key = load_key(v);
    const Bytes original = blob(v.dir);
    const Bytes expected = read_file(cfr_dir(v.dir) / "expected_plaintext.bin");
    auto env = parse_enveloped(original);
    ASSERT_TRUE(env);
    const std::size_t ski_at = find(original, env->recipient_ski);
    const std::size_t ek_at = find(original, env->encrypted_key);
    const std::size_t iv_at = find(original, env->iv);
    const std::size_t ct_at = find(original, env->encrypted_content);
    ASSERT_NE(ct_at, std::string::npos);
    auto in = [](std::size_t i, std::size_t at, std::size_t n) { return i >= at && i < at + n; };
    for (std::size_t i = 0; i < original.size(); ++i) {
      for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
        Bytes t = original;
        t[i] ^= mask;
        auto r = open_enveloped(t, key);
        if (in(i, ski_at, 32)) {
          ASSERT_FALSE(r) << v.dir << " offset " << i;
          EXPECT_EQ(r.error().code, Errc::kCmsWrongRecipient) << i;
        } else if (in(i, ek_at, env->encrypted_key.size())) {
          ASSERT_FALSE(r) << v.dir << " offset " << i;
          EXPECT_EQ(r.error().code, Errc::kCmsDecryptFailed) << i;
        } else if (in(i, iv_at, 16) || in(i, ct_at, env->encrypted_content.size())) {
          // CBC is malleable (CMS EnvelopedData has no MAC): either the padding
          // check fails or a different plaintext comes out.
          if (r) {
            EXPECT_FALSE(r->equals(expected)) << v.dir << " offset " << i;
          } else {
            EXPECT_EQ(r.error().code, Errc::kCmsDecryptFailed) << i;
          }
        } else {
          ASSERT_FALSE(r) << v.dir << " structural offset " << i << " mask " << int(mask);
          EXPECT_EQ(r.error().code, Errc::kCmsInvalid) << i << ": " << r.error().message;
        }
      }
    }
  }
}

TEST(Cms, TruncationAtEveryOffsetIsInvalid) {
  const RsaKeyPair key = load_key(kKeyed[0]);
  for (const char* dir : kAllVectors) {
    const Bytes original = blob(dir);
    for (std::size_t n = 0; n < original.size(); ++n) {
      const ByteView cut(original.data(), n);
      auto p = parse_enveloped(cut);
      ASSERT_FALSE(p) << dir << " length " << n;
      EXPECT_EQ(p.error().code, Errc::kCmsInvalid);
      auto o = open_enveloped(cut, key);
      ASSERT_FALSE(o);
      EXPECT_EQ(o.error().code, Errc::kCmsInvalid);
    }
    EXPECT_EQ(key.private_operations(), 0u);
  }
}

TEST(Cms, TrailingBytesAreInvalid) {
  Bytes b = blob(kKeyed[0].dir);
  b.push_back(0x00);
  auto p = parse_enveloped(b);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kCmsInvalid);
  EXPECT_NE(p.error().message.find("trailing bytes"), std::string::npos) << p.error().message;
}

TEST(Cms, RandomMutationsNeverCrash) {
  // A cheap in-tree fuzzer: byte flips, insertions and deletions on every real
  // blob. Must only ever return errors or (rarely, CBC malleability) plaintext.
  const RsaKeyPair key = load_key(kKeyed[0]);
  std::mt19937 rng(20240601);
  int errors = 0;
  for (int iter = 0; iter < 6000; ++iter) {
    Bytes b = blob(kAllVectors[iter % 4]);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const std::size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[at] = static_cast<std::uint8_t>(rng()); break;
        case 1: b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng())); break;
        default: b.erase(b.begin() + static_cast<std::ptrdiff_t>(at)); break;
      }
    }
    auto p = parse_enveloped(b);
    auto o = open_enveloped(b, key);
    if (!p) {
      EXPECT_FALSE(o);
      EXPECT_EQ(o.error().code, Errc::kCmsInvalid);
    }
    errors += o ? 0 : 1;
  }
  EXPECT_GT(errors, 5000);
}

struct Mutation {
  const char* name;
  const char* from;
  const char* to;
  const char* needle;  // must appear in the error message
};

TEST(Cms, StrictChecksNameTheElement) {
  const Mutation cases[] = {
      {"signedData", "2a864886f70d010703", "2a864886f70d010702", "ContentInfo.contentType: must be id-envelopedData"},
      {"EnvelopedData v0", "3080020102", "3080020100", "EnvelopedData.version: must be 2, found 0"},
      {"KTRI v0", "30820167020102", "30820167020100", "KeyTransRecipientInfo.version: must be 2, found 0"},
      {"rsaEncryption", "2a864886f70d010107", "2a864886f70d010101",
       "keyEncryptionAlgorithm.algorithm: must be id-RSAES-OAEP (1.2.840.113549.1.1.7), found 1.2.840.113549.1.1.1"},
      {"sha384 in OAEP", "a00f300d06096086480165030402010500", "a00f300d06096086480165030402020500",
       "RSAES-OAEP-params.hashAlgorithm.algorithm: must be sha256"},
      {"sha512 in MGF1", "06092a864886f70d010108300d06096086480165030402010500",
       "06092a864886f70d010108300d06096086480165030402030500", "maskGenAlgorithm.parameters.algorithm"},
      {"not id-data", "2a864886f70d010701", "2a864886f70d010702", "encryptedContentInfo.contentType: must be id-data"},
      {"aes128-CBC", "060960864801650304012a", "0609608648016503040102",
       "contentEncryptionAlgorithm.algorithm: must be aes256-CBC"},
      {"rid issuerAndSerial", "0201028020", "0201023020", "rid (subjectKeyIdentifier [0]): expected primitive [0]"},
  };
  const Bytes original = blob(kKeyed[0].dir);
  for (const auto& c : cases) {
    const Bytes mutated = replace(original, hex(c.from), hex(c.to));
    ASSERT_NE(mutated, original) << c.name;
    auto p = parse_enveloped(mutated);
    ASSERT_FALSE(p) << c.name;
    EXPECT_EQ(p.error().code, Errc::kCmsInvalid) << c.name;
    EXPECT_NE(p.error().message.find(c.needle), std::string::npos) << c.name << ": " << p.error().message;
    EXPECT_EQ(p.error().message.rfind("CiphertextForRecipient: ", 0), 0u) << p.error().message;
  }
}

TEST(Cms, ExactlyOneRecipientIsRequired) {
  const Bytes original = blob(kKeyed[0].dir);
  const std::size_t set_at = find(original, hex("3182016b"));
  ASSERT_NE(set_at, std::string::npos);
  const Bytes ktri(original.begin() + static_cast<std::ptrdiff_t>(set_at + 4),
                   original.begin() + static_cast<std::ptrdiff_t>(set_at + 4 + 0x16b));
  Bytes two(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(set_at));
  const Bytes hdr = hex("318202d6");
  two.insert(two.end(), hdr.begin(), hdr.end());
  two.insert(two.end(), ktri.begin(), ktri.end());
  two.insert(two.end(), ktri.begin(), ktri.end());
  two.insert(two.end(), original.begin() + static_cast<std::ptrdiff_t>(set_at + 4 + 0x16b), original.end());
  auto p = parse_enveloped(two);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("more than one RecipientInfo"), std::string::npos) << p.error().message;

  Bytes none(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(set_at));
  const Bytes empty_set = hex("3100");
  none.insert(none.end(), empty_set.begin(), empty_set.end());
  none.insert(none.end(), original.begin() + static_cast<std::ptrdiff_t>(set_at + 4 + 0x16b), original.end());
  auto q = parse_enveloped(none);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message.find("recipientInfos: empty"), std::string::npos) << q.error().message;
}

TEST(Cms, AllEncryptedContentEncodingsDecrypt) {
  // The enclaver vector's content is a0 80 { 04 10 <16 bytes> } 00 00; re-encode it
  // as primitive, as two segments, and as a nested constructed segment.
  const RsaKeyPair key = load_key(kKeyed[0]);
  const Bytes original = blob(kKeyed[0].dir);
  auto env = parse_enveloped(original);
  ASSERT_TRUE(env);
  const Bytes& ct = env->encrypted_content;
  ASSERT_EQ(ct.size(), 16u);
  Bytes constructed = hex("a0800410");
  constructed.insert(constructed.end(), ct.begin(), ct.end());
  constructed.insert(constructed.end(), {0x00, 0x00});

  auto with = [&](std::initializer_list<Bytes> parts) {
    Bytes enc;
    for (const auto& p : parts) {
      enc.insert(enc.end(), p.begin(), p.end());
    }
    return replace(original, constructed, enc);
  };
  const Bytes first(ct.begin(), ct.begin() + 8);
  const Bytes second(ct.begin() + 8, ct.end());
  const Bytes variants[] = {
      with({hex("8010"), ct}),
      with({hex("a0800408"), first, hex("0408"), second, hex("0000")}),
      with({hex("a08024800410"), ct, hex("00000000")}),
      with({hex("a0800400"), hex("0410"), ct, hex("0000")}),  // empty segment
      with({hex("a01404820010"), ct}),                       // definite, non-minimal length
  };
  for (const auto& v : variants) {
    auto pt = open_enveloped(v, key);
    ASSERT_TRUE(pt) << hex_encode(v) << ": " << pt.error().message;
    EXPECT_EQ(pt->chars(), "Hello, World");
  }
  for (const Bytes& bad : {with({hex("8000")}), with({hex("800f"), Bytes(ct.begin(), ct.end() - 1)}),
                           with({hex("a0800210"), ct, hex("0000")})}) {
    auto p = open_enveloped(bad, key);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, Errc::kCmsInvalid);
    EXPECT_NE(p.error().message.find("encryptedContent"), std::string::npos) << p.error().message;
  }
}

class CmsSeal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto k = RsaKeyPair::generate();
    ASSERT_TRUE(k);
    key_ = new RsaKeyPair(std::move(*k));
  }
  static void TearDownTestSuite() {
    delete key_;
    key_ = nullptr;
  }
  static RsaKeyPair* key_;
};
RsaKeyPair* CmsSeal::key_ = nullptr;

TEST_F(CmsSeal, RoundTripsEverySizeFrom1To4096) {
  Bytes pt(4096);
  for (std::size_t i = 0; i < pt.size(); ++i) {
    pt[i] = static_cast<std::uint8_t>(i * 31 + 7);
  }
  for (std::size_t n = 1; n <= 4096; ++n) {
    const ByteView msg(pt.data(), n);
    auto sealed = seal_enveloped(msg, key_->spki_der());
    ASSERT_TRUE(sealed) << n << ": " << sealed.error().message;
    auto opened = open_enveloped(*sealed, *key_);
    ASSERT_TRUE(opened) << n << ": " << opened.error().message;
    ASSERT_TRUE(opened->equals(msg)) << n;
  }
}

TEST_F(CmsSeal, EmptyPlaintextRoundTrips) {
  auto sealed = seal_enveloped({}, key_->spki_der());
  ASSERT_TRUE(sealed) << sealed.error().message;
  auto opened = open_enveloped(*sealed, *key_);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(opened->empty());
}

TEST_F(CmsSeal, FreshCekAndIvEachTime) {
  auto a = parse_enveloped(*seal_enveloped(as_bytes("same"), key_->spki_der()));
  auto b = parse_enveloped(*seal_enveloped(as_bytes("same"), key_->spki_der()));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->iv, b->iv);
  EXPECT_NE(a->encrypted_key, b->encrypted_key);
  EXPECT_NE(a->encrypted_content, b->encrypted_content);
  EXPECT_EQ(a->recipient_ski, b->recipient_ski);
}

TEST(CmsSealFormat, MatchesKmsByteForByteOutsideRandomFields) {
  const char* dir = kKeyed[0].dir;  // "Hello, World" (12 bytes -> one block)
  const Bytes kms = blob(dir);
  auto sealed = seal_enveloped(as_bytes("Hello, World"), read_file(cfr_dir(dir) / "public_key_spki.der"));
  ASSERT_TRUE(sealed) << sealed.error().message;
  ASSERT_EQ(sealed->size(), kms.size());
  auto env = parse_enveloped(kms);
  ASSERT_TRUE(env);
  const std::size_t ek_at = find(kms, env->encrypted_key);
  const std::size_t iv_at = find(kms, env->iv);
  const std::size_t ct_at = find(kms, env->encrypted_content);
  for (std::size_t i = 0; i < kms.size(); ++i) {
    const bool random = (i >= ek_at && i < ek_at + 256) || (i >= iv_at && i < iv_at + 16) ||
                        (i >= ct_at && i < ct_at + 16);
    if (!random) {
      ASSERT_EQ((*sealed)[i], kms[i]) << "offset " << i;
    }
  }
  const RsaKeyPair key = load_key(kKeyed[0]);
  auto pt = open_enveloped(*sealed, key);
  ASSERT_TRUE(pt) << pt.error().message;
  EXPECT_EQ(pt->chars(), "Hello, World");
}

TEST(CmsSealFormat, RejectsNonRsaRecipients) {
  auto ec = generate_key_pair(KeyPairSpec::kEccNistP256);
  ASSERT_TRUE(ec);
  auto r = seal_enveloped(as_bytes("x"), ec->public_key_spki);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kValidation);
  EXPECT_NE(r.error().message.find("not an RSA key"), std::string::npos) << r.error().message;
  for (const Bytes& junk : {Bytes{}, Bytes{0x30, 0x00}, hex("3003020101")}) {
    auto j = seal_enveloped(as_bytes("x"), junk);
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().code, Errc::kValidation);
  }
  Bytes trailing = read_file(cfr_dir(kKeyed[0].dir) / "public_key_spki.der");
  trailing.push_back(0);
  auto t = seal_enveloped(as_bytes("x"), trailing);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kValidation);
}

TEST(CmsPerformance, OpenIsDominatedByOneRsaOperation) {
  auto key = RsaKeyPair::generate();
  ASSERT_TRUE(key);
  auto sealed = seal_enveloped(Bytes(32, 0x42), key->spki_der());
  ASSERT_TRUE(sealed);
  constexpr int kIterations = 200;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    auto pt = open_enveloped(*sealed, *key);
    ASSERT_TRUE(pt);
  }
  const auto per_op = (std::chrono::steady_clock::now() - t0) / kIterations;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(per_op).count();
  std::printf("open_enveloped (RSA-2048): %lld us/op\n", static_cast<long long>(us));
  EXPECT_LT(us, 50000);  // generous: a shared 2-core CI box; ~1-2 ms expected
}

}  // namespace
}  // namespace kp::crypto
