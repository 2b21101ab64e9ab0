#include "crypto/cms.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "crypto/ber_reader.h"
#include "crypto/digest.h"
#include "crypto/openssl_util.h"
#include "crypto/random.h"

namespace kp::crypto {

namespace {

// Content octets of the object identifiers KMS uses (RFC 5652, RFC 8017, RFC 3565).
constexpr std::uint8_t kOidEnvelopedData[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
constexpr std::uint8_t kOidData[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
constexpr std::uint8_t kOidRsaesOaep[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07};
constexpr std::uint8_t kOidMgf1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
constexpr std::uint8_t kOidPSpecified[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09};
constexpr std::uint8_t kOidSha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
constexpr std::uint8_t kOidAes256Cbc[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};

constexpr std::size_t kSkiBytes = 32;
constexpr std::size_t kIvBytes = 16;
constexpr std::size_t kCekBytes = 32;
constexpr std::size_t kBlockBytes = 16;
constexpr std::size_t kMaxEncryptedKeyBytes = 512;  // RSA-4096

constexpr std::string_view kPrefix = "CiphertextForRecipient: ";

// The parsed blob as views into the input (no copies on the open path).
struct EnvelopeView {
  ByteView ski;
  ByteView encrypted_key;
  ByteView iv;
  std::vector<ByteView> content_chunks;
  std::size_t content_size = 0;
};

// An element's name for messages ("RSAES-OAEP-params" + ".hashAlgorithm" +
// ".algorithm"), kept as parts and joined only when a message is built: a
// blob that parses allocates no names.
class Where {
 public:
  Where(std::string_view name) noexcept { parts_[0] = name; }  // NOLINT(google-explicit-constructor)
  Where(const char* name) noexcept : Where(std::string_view(name)) {}  // NOLINT(google-explicit-constructor)
  Where operator+(std::string_view part) const noexcept {
    Where w = *this;
    if (w.n_ < kMaxParts) {  // the deepest name in this file has three parts
      w.parts_[w.n_++] = part;
    }
    return w;
  }
  void append_to(std::string& out) const {
    for (std::size_t i = 0; i < n_; ++i) {
      out.append(parts_[i]);
    }
  }

 private:
  static constexpr std::size_t kMaxParts = 4;
  std::array<std::string_view, kMaxParts> parts_{};
  std::size_t n_ = 1;
};

Error invalid(const Where& element, std::string_view problem) {
  std::string m(kPrefix);
  element.append_to(m);
  m.append(": ").append(problem);
  return Error(Errc::kCmsInvalid, std::move(m));
}

template <std::size_t N>
bool equals(ByteView v, const std::uint8_t (&oid)[N]) {
  return std::ranges::equal(v, std::span<const std::uint8_t>(oid, N));
}

std::string tag_name(std::uint8_t tag) {
  switch (tag) {
    case ber::kInteger: return "INTEGER";
    case ber::kOctetString: return "OCTET STRING";
    case ber::kOctetString | ber::kConstructedBit: return "constructed OCTET STRING";
    case ber::kNull: return "NULL";
    case ber::kOid: return "OBJECT IDENTIFIER";
    case ber::kSequence: return "SEQUENCE";
    case ber::kSet: return "SET";
    default: break;
  }
  if ((tag & 0xc0) == 0x80) {
    return std::string((tag & ber::kConstructedBit) ? "constructed [" : "primitive [") +
           std::to_string(tag & 0x1f) + "]";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "tag 0x%02x", tag);
  return buf;
}

// Dotted form of an OID for messages ("1.2.840.113549.1.1.1").
std::string oid_string(ByteView v) {
  if (v.empty() || v.size() > 64) {
    return "<malformed OID>";
  }
  std::string out;
  std::uint64_t acc = 0;
  bool first = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (acc > (UINT64_MAX >> 7)) {
      return "<malformed OID>";
    }
    acc = (acc << 7) | (v[i] & 0x7f);
    if ((v[i] & 0x80) != 0) {
      if (i + 1 == v.size()) {
        return "<malformed OID>";
      }
      continue;
    }
    if (first) {
      const std::uint64_t top = acc < 40 ? 0 : acc < 80 ? 1 : 2;
      out = std::to_string(top) + "." + std::to_string(acc - 40 * top);
      first = false;
    } else {
      out += "." + std::to_string(acc);
    }
    acc = 0;
  }
  return out;
}

std::string integer_string(ByteView v) {
  if (v.empty() || v.size() > 4) {
    return "an integer of " + std::to_string(v.size()) + " octets";
  }
  std::int64_t x = (v[0] & 0x80) ? -1 : 0;
  for (auto b : v) {
    x = x * 256 + b;
  }
  return std::to_string(x);
}

// Reads the next element of `r`, which must carry `tag`.
Result<ber::Element> expect(ber::Reader& r, std::uint8_t tag, const Where& element) {
  if (r.at_end()) {
    return invalid(element, "missing (expected " + tag_name(tag) + " at offset " +
                                std::to_string(r.offset()) + ")");
  }
  auto e = r.next();
  if (!e) {
    return invalid(element, e.error().message);
  }
  if (e->tag != tag) {
    return invalid(element, "expected " + tag_name(tag) + ", found " + tag_name(e->tag) + " at offset " +
                                std::to_string(e->offset));
  }
  return e;
}

Result<void> expect_end(const ber::Reader& r, const Where& element) {
  if (!r.at_end()) {
    return invalid(element, "unexpected extra data at offset " + std::to_string(r.offset()));
  }
  return {};
}

Result<void> expect_oid(ber::Reader& r, const Where& element, ByteView want, std::string_view want_name) {
  auto oid = expect(r, ber::kOid, element);
  if (!oid) {
    return oid.error();
  }
  if (!std::ranges::equal(oid->content, want)) {
    return invalid(element, "must be " + std::string(want_name) + ", found " + oid_string(oid->content));
  }
  return {};
}

Result<void> expect_version_2(ber::Reader& r, const Where& element) {
  auto v = expect(r, ber::kInteger, element);
  if (!v) {
    return v.error();
  }
  if (v->content.size() != 1 || v->content[0] != 2) {
    // DER allows one encoding of 2 only: 02 01 02 (not 02 02 00 02).
    return invalid(element, v->content.size() > 1 && v->content[0] == 0 && v->content.back() == 2
                                ? "must be the INTEGER 2 in its minimal encoding, found " +
                                      std::to_string(v->content.size()) + " content bytes"
                                : "must be 2, found " + integer_string(v->content));
  }
  return {};
}

// AlgorithmIdentifier { sha256, NULL | absent } held in a SEQUENCE read from `r`.
Result<void> parse_sha256_alg(ber::Reader& r, const Where& element) {
  auto seq = expect(r, ber::kSequence, element);
  if (!seq) {
    return seq.error();
  }
  ber::Reader a = r.enter(*seq);
  if (auto o = expect_oid(a, element + ".algorithm", kOidSha256, "sha256 (2.16.840.1.101.3.4.2.1)"); !o) {
    return o;
  }
  if (!a.at_end()) {
    auto null = expect(a, ber::kNull, element + ".parameters");
    if (!null) {
      return null.error();
    }
    if (!null->content.empty()) {
      return invalid(element + ".parameters", "NULL with content");
    }
  }
  return expect_end(a, element);
}

// keyEncryptionAlgorithm: id-RSAES-OAEP with explicit SHA-256 / MGF1-SHA-256
// (RFC 8017 A.2.1: absent hashAlgorithm/maskGenAlgorithm mean SHA-1, which
// KMS never uses and we refuse); pSourceAlgorithm absent or an empty label.
Result<void> parse_oaep_alg(ber::Reader& r) {
  const Where kea = "KeyTransRecipientInfo.keyEncryptionAlgorithm";
  auto seq = expect(r, ber::kSequence, kea);
  if (!seq) {
    return seq.error();
  }
  ber::Reader a = r.enter(*seq);
  if (auto o = expect_oid(a, kea + ".algorithm", kOidRsaesOaep, "id-RSAES-OAEP (1.2.840.113549.1.1.7)"); !o) {
    return o;
  }
  if (a.at_end()) {
    return invalid(kea + ".parameters", "absent (defaults select SHA-1; SHA-256 is required)");
  }
  const Where params = "RSAES-OAEP-params";
  auto ps = expect(a, ber::kSequence, params);
  if (!ps) {
    return ps.error();
  }
  if (auto e = expect_end(a, kea); !e) {
    return e;
  }
  ber::Reader p = a.enter(*ps);

  if (p.at_end()) {
    return invalid(params + ".hashAlgorithm", "absent (default SHA-1); SHA-256 is required");
  }
  auto hash = expect(p, ber::context_constructed(0), params + ".hashAlgorithm");
  if (!hash) {
    return hash.error();
  }
  ber::Reader hr = p.enter(*hash);
  if (auto h = parse_sha256_alg(hr, params + ".hashAlgorithm"); !h) {
    return h;
  }
  if (auto e = expect_end(hr, params + ".hashAlgorithm"); !e) {
    return e;
  }

  if (p.at_end()) {
    return invalid(params + ".maskGenAlgorithm", "absent (default MGF1-SHA-1); MGF1-SHA-256 is required");
  }
  auto mgf = expect(p, ber::context_constructed(1), params + ".maskGenAlgorithm");
  if (!mgf) {
    return mgf.error();
  }
  ber::Reader mr = p.enter(*mgf);
  auto mseq = expect(mr, ber::kSequence, params + ".maskGenAlgorithm");
  if (!mseq) {
    return mseq.error();
  }
  if (auto e = expect_end(mr, params + ".maskGenAlgorithm"); !e) {
    return e;
  }
  ber::Reader ms = mr.enter(*mseq);
  if (auto o = expect_oid(ms, params + ".maskGenAlgorithm.algorithm", kOidMgf1, "id-mgf1 (1.2.840.113549.1.1.8)");
      !o) {
    return o;
  }
  if (auto h = parse_sha256_alg(ms, params + ".maskGenAlgorithm.parameters"); !h) {
    return h;
  }
  if (auto e = expect_end(ms, params + ".maskGenAlgorithm"); !e) {
    return e;
  }

  if (!p.at_end()) {
    const Where src = params + ".pSourceAlgorithm";
    auto pso = expect(p, ber::context_constructed(2), src);
    if (!pso) {
      return pso.error();
    }
    ber::Reader pr = p.enter(*pso);
    auto sseq = expect(pr, ber::kSequence, src);
    if (!sseq) {
      return sseq.error();
    }
    if (auto e = expect_end(pr, src); !e) {
      return e;
    }
    ber::Reader sr = pr.enter(*sseq);
    if (auto o = expect_oid(sr, src + ".algorithm", kOidPSpecified, "id-pSpecified (1.2.840.113549.1.1.9)"); !o) {
      return o;
    }
    auto label = expect(sr, ber::kOctetString, src + ".parameters");
    if (!label) {
      return label.error();
    }
    if (!label->content.empty()) {
      return invalid(src, "a non-empty OAEP label is not supported");
    }
    if (auto e = expect_end(sr, src); !e) {
      return e;
    }
  }
  return expect_end(p, params);
}

// encryptedContent [0] IMPLICIT OCTET STRING: primitive, or constructed with
// OCTET STRING segments (which may themselves be constructed; the reader's
// depth limit bounds the recursion).
Result<void> collect_chunks(ber::Reader r, EnvelopeView& out) {
  while (!r.at_end()) {
    auto e = r.next();
    if (!e) {
      return invalid("encryptedContent", e.error().message);
    }
    if (e->tag == ber::kOctetString) {
      out.content_size += e->content.size();
      out.content_chunks.push_back(e->content);
    } else if (e->tag == (ber::kOctetString | ber::kConstructedBit)) {
      if (auto c = collect_chunks(r.enter(*e), out); !c) {
        return c;
      }
    } else {
      return invalid("encryptedContent", "segment must be an OCTET STRING, found " + tag_name(e->tag) +
                                             " at offset " + std::to_string(e->offset));
    }
  }
  return {};
}

Result<void> parse_encrypted_content_info(ber::Reader& r, EnvelopeView& out) {
  const Where eci = "EnvelopedData.encryptedContentInfo";
  auto seq = expect(r, ber::kSequence, eci);
  if (!seq) {
    return seq.error();
  }
  ber::Reader c = r.enter(*seq);
  if (auto o = expect_oid(c, eci + ".contentType", kOidData, "id-data (1.2.840.113549.1.7.1)"); !o) {
    return o;
  }
  const Where cea = eci + ".contentEncryptionAlgorithm";
  auto alg = expect(c, ber::kSequence, cea);
  if (!alg) {
    return alg.error();
  }
  ber::Reader a = c.enter(*alg);
  if (auto o = expect_oid(a, cea + ".algorithm", kOidAes256Cbc, "aes256-CBC (2.16.840.1.101.3.4.1.42)"); !o) {
    return o;
  }
  auto iv = expect(a, ber::kOctetString, cea + ".parameters (IV)");
  if (!iv) {
    return iv.error();
  }
  if (iv->content.size() != kIvBytes) {
    return invalid(cea + ".parameters (IV)", "must be 16 bytes, found " + std::to_string(iv->content.size()));
  }
  out.iv = iv->content;
  if (auto e = expect_end(a, cea); !e) {
    return e;
  }

  if (c.at_end()) {
    return invalid(eci + ".encryptedContent", "absent (detached content is not supported)");
  }
  auto content = c.next();
  if (!content) {
    return invalid(eci + ".encryptedContent", content.error().message);
  }
  if (content->tag == ber::context(0)) {
    out.content_size = content->content.size();
    out.content_chunks.push_back(content->content);
  } else if (content->tag == ber::context_constructed(0)) {
    if (auto ch = collect_chunks(c.enter(*content), out); !ch) {
      return ch;
    }
  } else {
    return invalid(eci + ".encryptedContent",
                   "expected [0], found " + tag_name(content->tag) + " at offset " + std::to_string(content->offset));
  }
  if (out.content_size == 0 || out.content_size % kBlockBytes != 0) {
    return invalid(eci + ".encryptedContent", "AES-CBC ciphertext must be a non-zero multiple of 16 bytes, found " +
                                                  std::to_string(out.content_size));
  }
  return expect_end(c, eci);
}

Result<void> parse_recipient_infos(ber::Reader& r, EnvelopeView& out) {
  auto set = expect(r, ber::kSet, "EnvelopedData.recipientInfos");
  if (!set) {
    return set.error();
  }
  ber::Reader s = r.enter(*set);
  const Where ktri = "KeyTransRecipientInfo";
  if (s.at_end()) {
    return invalid("EnvelopedData.recipientInfos", "empty (exactly one KeyTransRecipientInfo is required)");
  }
  auto seq = expect(s, ber::kSequence, "EnvelopedData.recipientInfos[0] (KeyTransRecipientInfo)");
  if (!seq) {
    return seq.error();
  }
  if (!s.at_end()) {
    return invalid("EnvelopedData.recipientInfos",
                   "more than one RecipientInfo (second at offset " + std::to_string(s.offset()) +
                       "); KMS addresses exactly one");
  }
  ber::Reader k = s.enter(*seq);
  if (auto v = expect_version_2(k, ktri + ".version"); !v) {
    return v;
  }
  auto rid = expect(k, ber::context(0), ktri + ".rid (subjectKeyIdentifier [0])");
  if (!rid) {
    return rid.error();
  }
  if (rid->content.size() != kSkiBytes) {
    return invalid(ktri + ".rid", "subjectKeyIdentifier must be 32 bytes (SHA-256 of the recipient SPKI), found " +
                                      std::to_string(rid->content.size()));
  }
  out.ski = rid->content;
  if (auto a = parse_oaep_alg(k); !a) {
    return a;
  }
  auto ek = expect(k, ber::kOctetString, ktri + ".encryptedKey");
  if (!ek) {
    return ek.error();
  }
  if (ek->content.empty() || ek->content.size() > kMaxEncryptedKeyBytes) {
    return invalid(ktri + ".encryptedKey", "size " + std::to_string(ek->content.size()) +
                                               " is not an RSA 2048..4096 ciphertext");
  }
  out.encrypted_key = ek->content;
  return expect_end(k, ktri);
}

Result<EnvelopeView> parse_view(ByteView input) {
  if (input.size() > kMaxEnvelopeBytes) {
    return invalid("input", std::to_string(input.size()) + " bytes exceeds the limit of " +
                                std::to_string(kMaxEnvelopeBytes));
  }
  EnvelopeView out;
  ber::Reader top(input);
  auto ci = expect(top, ber::kSequence, "ContentInfo");
  if (!ci) {
    return ci.error();
  }
  if (!top.at_end()) {
    return invalid("ContentInfo", "trailing bytes after the ContentInfo at offset " + std::to_string(top.offset()));
  }
  ber::Reader c = top.enter(*ci);
  if (auto o = expect_oid(c, "ContentInfo.contentType", kOidEnvelopedData,
                          "id-envelopedData (1.2.840.113549.1.7.3)");
      !o) {
    return o.error();
  }
  auto explicit0 = expect(c, ber::context_constructed(0), "ContentInfo.content");
  if (!explicit0) {
    return explicit0.error();
  }
  if (auto e = expect_end(c, "ContentInfo"); !e) {
    return e.error();
  }
  ber::Reader x = c.enter(*explicit0);
  auto env = expect(x, ber::kSequence, "EnvelopedData");
  if (!env) {
    return env.error();
  }
  if (auto e = expect_end(x, "ContentInfo.content"); !e) {
    return e.error();
  }
  ber::Reader e = x.enter(*env);
  if (auto v = expect_version_2(e, "EnvelopedData.version"); !v) {
    return v.error();
  }
  {
    ber::Reader peek = e;
    auto next = peek.next();
    if (next && next->tag == ber::context_constructed(0)) {
      return invalid("EnvelopedData.originatorInfo", "present; not supported (KMS never sends it)");
    }
  }
  if (auto ri = parse_recipient_infos(e, out); !ri) {
    return ri.error();
  }
  if (auto eci = parse_encrypted_content_info(e, out); !eci) {
    return eci.error();
  }
  if (!e.at_end()) {
    ber::Reader peek = e;
    auto next = peek.next();
    if (next && next->tag == ber::context_constructed(1)) {
      return invalid("EnvelopedData.unprotectedAttrs", "present; not supported (KMS never sends it)");
    }
    return invalid("EnvelopedData", "unexpected extra data at offset " + std::to_string(e.offset()));
  }
  return out;
}

struct CipherCtxReset {
  EVP_CIPHER_CTX* ctx;
  ~CipherCtxReset() { EVP_CIPHER_CTX_reset(ctx); }  // frees (and cleanses) the key schedule
};

// One cipher context per thread, reset (key wiped) after every use.
EVP_CIPHER_CTX* thread_cipher_ctx() {
  thread_local detail::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

Result<SecretBytes> decrypt_content(const SecretBytes& cek, const EnvelopeView& v) {
  EVP_CIPHER_CTX* ctx = thread_cipher_ctx();
  if (ctx == nullptr) {
    return fail(Errc::kInternal, "CiphertextForRecipient: cannot allocate a cipher context");
  }
  CipherCtxReset reset{ctx};
  if (EVP_DecryptInit_ex2(ctx, detail::aes_256_cbc(), cek.data(), v.iv.data(), nullptr) != 1) {
    ERR_clear_error();
    return fail(Errc::kInternal, "CiphertextForRecipient: AES-256-CBC initialisation failed");
  }
  // Plaintext never exceeds the ciphertext; one spare block keeps every
  // EVP_DecryptUpdate call within its documented output bound.
  SecretBytes out(v.content_size + kBlockBytes);
  std::size_t written = 0;
  for (ByteView chunk : v.content_chunks) {
    if (chunk.empty()) {
      continue;
    }
    int n = 0;
    if (EVP_DecryptUpdate(ctx, out.data() + written, &n, chunk.data(), static_cast<int>(chunk.size())) != 1) {
      ERR_clear_error();
      return fail(Errc::kCmsDecryptFailed, "CiphertextForRecipient: AES-256-CBC decryption failed");
    }
    written += static_cast<std::size_t>(n);
  }
  int n = 0;
  if (EVP_DecryptFinal_ex(ctx, out.data() + written, &n) != 1) {
    ERR_clear_error();
    return fail(Errc::kCmsDecryptFailed,
                "CiphertextForRecipient: AES-256-CBC decryption failed: bad PKCS#7 padding "
                "(wrong content-encryption key or corrupted content)");
  }
  written += static_cast<std::size_t>(n);
  out.truncate(written);
  return out;
}

std::string key_id_prefix(ByteView digest) { return hex_encode(digest.first(std::min<std::size_t>(8, digest.size()))) + "..."; }

void append_length(Bytes& out, std::size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<std::uint8_t>(len));
    return;
  }
  std::uint8_t buf[sizeof(std::size_t)];
  std::size_t n = 0;
  for (std::size_t v = len; v != 0; v >>= 8) {
    buf[n++] = static_cast<std::uint8_t>(v);
  }
  out.push_back(static_cast<std::uint8_t>(0x80 | n));
  while (n > 0) {
    out.push_back(buf[--n]);
  }
}

std::size_t length_size(std::size_t len) {
  std::size_t n = 1;
  if (len >= 0x80) {
    for (std::size_t v = len; v != 0; v >>= 8) {
      ++n;
    }
  }
  return n;
}

void append(Bytes& out, std::initializer_list<std::uint8_t> bytes) { out.insert(out.end(), bytes); }
void append(Bytes& out, ByteView bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }
template <std::size_t N>
void append_oid(Bytes& out, const std::uint8_t (&oid)[N]) {
  out.push_back(ber::kOid);
  out.push_back(static_cast<std::uint8_t>(N));
  out.insert(out.end(), oid, oid + N);
}

// AlgorithmIdentifier { sha256, NULL }: 15 bytes.
void append_sha256_alg(Bytes& out) {
  append(out, {ber::kSequence, 0x0d});
  append_oid(out, kOidSha256);
  append(out, {ber::kNull, 0x00});
}

// keyEncryptionAlgorithm exactly as KMS writes it (62 bytes).
void append_oaep_alg(Bytes& out) {
  append(out, {ber::kSequence, 0x3c});
  append_oid(out, kOidRsaesOaep);
  append(out, {ber::kSequence, 0x2f, ber::context_constructed(0), 0x0f});
  append_sha256_alg(out);
  append(out, {ber::context_constructed(1), 0x1c, ber::kSequence, 0x1a});
  append_oid(out, kOidMgf1);
  append_sha256_alg(out);
}
constexpr std::size_t kOaepAlgBytes = 62;

}  // namespace

Result<CmsEnvelope> parse_enveloped(ByteView ber) {
  auto v = parse_view(ber);
  if (!v) {
    return v.error();
  }
  CmsEnvelope out;
  out.recipient_ski.assign(v->ski.begin(), v->ski.end());
  out.encrypted_key.assign(v->encrypted_key.begin(), v->encrypted_key.end());
  out.iv.assign(v->iv.begin(), v->iv.end());
  out.encrypted_content.reserve(v->content_size);
  for (ByteView c : v->content_chunks) {
    out.encrypted_content.insert(out.encrypted_content.end(), c.begin(), c.end());
  }
  return out;
}

Result<SecretBytes> open_enveloped(ByteView ber, const RsaKeyPair& key) {
  auto v = parse_view(ber);
  if (!v) {
    return v.error();
  }
  // Address check first: a blob for another key must never reach RSA.
  const auto& ours = key.spki_sha256();
  if (!std::ranges::equal(v->ski, ours)) {
    return fail(Errc::kCmsWrongRecipient, "CiphertextForRecipient is addressed to key " + key_id_prefix(v->ski) +
                                              ", not this proxy's key " + key_id_prefix(ours) +
                                              " (SHA-256 of the DER SubjectPublicKeyInfo)");
  }
  // From here on every failure reads the same: which step failed (the key
  // unwrap, its size, the CBC padding) would tell whoever forged the blob
  // something about the decryption (a padding or Manger-style oracle).
  const auto failed = [] {
    return fail(Errc::kCmsDecryptFailed,
                "CiphertextForRecipient could not be decrypted with this proxy's key (wrong key or corrupted data)");
  };
  auto cek = key.decrypt_oaep_sha256(v->encrypted_key);
  if (!cek) {
    return cek.error().code == Errc::kInternal ? cek.error() : failed();
  }
  if (cek->size() != kCekBytes) {
    return failed();
  }
  auto plain = decrypt_content(*cek, *v);
  if (!plain && plain.error().code == Errc::kCmsDecryptFailed) {
    return failed();
  }
  return plain;
}

Result<Bytes> seal_enveloped(ByteView plaintext, ByteView recipient_spki_der) {
  if (plaintext.size() > kMaxEnvelopeBytes / 2) {
    return fail(Errc::kValidation, "CMS seal: plaintext of " + std::to_string(plaintext.size()) + " bytes is too large");
  }
  auto pkey = detail::parse_spki(recipient_spki_der, Errc::kValidation, "CMS seal: recipient public key");
  if (!pkey) {
    return pkey.error();
  }
  if (EVP_PKEY_is_a(pkey->get(), "RSA") != 1) {
    const char* type = EVP_PKEY_get0_type_name(pkey->get());
    return fail(Errc::kValidation, std::string("CMS seal: recipient public key is not an RSA key (") +
                                       (type != nullptr ? type : "unknown type") + ")");
  }
  const int bits = EVP_PKEY_get_bits(pkey->get());
  if (bits < 2048 || bits > 4096) {
    return fail(Errc::kValidation,
                "CMS seal: recipient RSA key has " + std::to_string(bits) + " bits; supported are 2048..4096");
  }
  auto cek = try_random_bytes(kCekBytes);
  if (!cek) {
    return cek.error();
  }
  std::array<std::uint8_t, kIvBytes> iv{};
  if (!random_fill(iv)) {
    return fail(Errc::kInternal, "CMS seal: random number generator failed");
  }
  auto ek = detail::rsa_oaep_sha256_encrypt(pkey->get(), cek->view(), "CMS seal");
  if (!ek) {
    return ek.error();
  }
  const Sha256Digest ski = sha256(recipient_spki_der);

  const std::size_t ct_len = (plaintext.size() / kBlockBytes + 1) * kBlockBytes;
  const std::size_t ktri_len = 3 + 2 + kSkiBytes + kOaepAlgBytes + 1 + length_size(ek->size()) + ek->size();
  const std::size_t set_len = 1 + length_size(ktri_len) + ktri_len;

  Bytes out;
  out.reserve(64 + set_len + 1 + length_size(set_len) + 64 + ct_len + length_size(ct_len) + 16);
  // ContentInfo (indefinite) { envelopedData, [0] (indefinite) EnvelopedData (indefinite) {
  append(out, {ber::kSequence, 0x80});
  append_oid(out, kOidEnvelopedData);
  append(out, {ber::context_constructed(0), 0x80, ber::kSequence, 0x80});
  append(out, {ber::kInteger, 0x01, 0x02});
  //   recipientInfos SET { KeyTransRecipientInfo { 2, [0] SKI, RSAES-OAEP, encryptedKey } }
  out.push_back(ber::kSet);
  append_length(out, set_len);
  out.push_back(ber::kSequence);
  append_length(out, ktri_len);
  append(out, {ber::kInteger, 0x01, 0x02, ber::context(0), static_cast<std::uint8_t>(kSkiBytes)});
  append(out, ski);
  append_oaep_alg(out);
  out.push_back(ber::kOctetString);
  append_length(out, ek->size());
  append(out, *ek);
  //   encryptedContentInfo (indefinite) { id-data, { aes256-CBC, IV }, [0] (indefinite) { OCTET STRING } }
  append(out, {ber::kSequence, 0x80});
  append_oid(out, kOidData);
  append(out, {ber::kSequence, 0x1d});
  append_oid(out, kOidAes256Cbc);
  append(out, {ber::kOctetString, static_cast<std::uint8_t>(kIvBytes)});
  append(out, iv);
  append(out, {ber::context_constructed(0), 0x80, ber::kOctetString});
  append_length(out, ct_len);

  const std::size_t ct_at = out.size();
  out.resize(ct_at + ct_len);
  EVP_CIPHER_CTX* ctx = thread_cipher_ctx();
  if (ctx == nullptr) {
    return fail(Errc::kInternal, "CMS seal: cannot allocate a cipher context");
  }
  CipherCtxReset reset{ctx};
  int n1 = 0;
  int n2 = 0;
  if (EVP_EncryptInit_ex2(ctx, detail::aes_256_cbc(), cek->data(), iv.data(), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx, out.data() + ct_at, &n1, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, out.data() + ct_at + n1, &n2) != 1 ||
      static_cast<std::size_t>(n1) + static_cast<std::size_t>(n2) != ct_len) {
    return fail(Errc::kInternal, "CMS seal: AES-256-CBC encryption failed (" + detail::take_openssl_error() + ")");
  }
  // End-of-contents for [0] content, encryptedContentInfo, EnvelopedData, [0] explicit, ContentInfo.
  out.insert(out.end(), 10, 0x00);
  return out;
}

}  // namespace kp::crypto
