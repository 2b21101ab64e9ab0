#include "emulator/ciphertext.h"

#include "emulator/key_crypto.h"

namespace kp::emulator {

namespace {

constexpr std::size_t kMaxKeyIdLength = 64;

void put_u32(Bytes& out, std::size_t n) {
  const auto v = static_cast<std::uint32_t>(n);
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

// Header length (magic + length byte + key id), or 0 if not our format.
std::size_t header_length(ByteView blob) {
  if (blob.size() < kBlobMagic.size() + 1 || as_chars(blob.first(kBlobMagic.size())) != kBlobMagic) {
    return 0;
  }
  const std::size_t l = blob[kBlobMagic.size()];
  if (l == 0 || l > kMaxKeyIdLength) {
    return 0;
  }
  const std::size_t h = kBlobMagic.size() + 1 + l;
  if (blob.size() < h + kGcmIvBytes + kGcmTagBytes) {
    return 0;
  }
  return h;
}

Bytes aad_of(ByteView header, const EncryptionContext& ec) {
  Bytes aad(header.begin(), header.end());
  const Bytes c = canonical_context(ec);
  aad.insert(aad.end(), c.begin(), c.end());
  return aad;
}

}  // namespace

Bytes canonical_context(const EncryptionContext& ec) {
  Bytes out;
  for (const auto& [k, v] : ec) {  // std::map iterates in bytewise key order
    put_u32(out, k.size());
    out.insert(out.end(), k.begin(), k.end());
    put_u32(out, v.size());
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

Result<std::string> blob_key_id(ByteView blob) {
  const std::size_t h = header_length(blob);
  if (h == 0) {
    return fail(Errc::kInvalidCiphertext, "");
  }
  return std::string(as_chars(blob.subspan(kBlobMagic.size() + 1, h - kBlobMagic.size() - 1)));
}

Result<Bytes> seal_blob(std::string_view key_id, ByteView key, const EncryptionContext& ec, ByteView plaintext,
                        ByteView iv) {
  Bytes blob(kBlobMagic.begin(), kBlobMagic.end());
  blob.push_back(static_cast<std::uint8_t>(key_id.size()));
  blob.insert(blob.end(), key_id.begin(), key_id.end());
  const Bytes aad = aad_of(blob, ec);
  auto sealed = aes_gcm_seal(key, iv, aad, plaintext);
  if (!sealed) {
    return sealed.error();
  }
  blob.insert(blob.end(), iv.begin(), iv.end());
  blob.insert(blob.end(), sealed->begin(), sealed->end());
  return blob;
}

Result<SecretBytes> open_blob(ByteView blob, ByteView key, const EncryptionContext& ec) {
  const std::size_t h = header_length(blob);
  if (h == 0) {
    return fail(Errc::kInvalidCiphertext, "");
  }
  const Bytes aad = aad_of(blob.first(h), ec);
  auto pt = aes_gcm_open(key, blob.subspan(h, kGcmIvBytes), aad, blob.subspan(h + kGcmIvBytes));
  if (!pt) {
    return fail(Errc::kInvalidCiphertext, "");
  }
  return std::move(*pt);
}

}  // namespace kp::emulator
