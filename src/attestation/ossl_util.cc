#include "attestation/ossl_util.h"

#include <openssl/err.h>

#include <cstring>
#include <ctime>

namespace kp::attestation::detail {

X509Ptr parse_der_cert(ByteView der) {
  if (der.empty() || der.size() > 64 * 1024) {
    return nullptr;
  }
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) {
    ERR_clear_error();
    return nullptr;
  }
  return cert;
}

Bytes cert_der(X509* cert) {
  const int n = i2d_X509(cert, nullptr);
  if (n <= 0) {
    return {};
  }
  Bytes out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  i2d_X509(cert, &p);
  return out;
}

std::string name_string(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr) {
    return {};
  }
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::optional<SysTime> asn1_time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return std::nullopt;
  }
  const time_t secs = timegm(&tm);
  // SysTime holds nanoseconds in 64 bits (years ~1678..2261); certificates
  // may say 9999-12-31 ("no well-defined expiration", RFC 5280 4.1.2.5).
  // Converting that would overflow (UB): saturate instead (display only;
  // validity is checked by OpenSSL on time_t).
  using std::chrono::duration_cast;
  constexpr auto kMax = duration_cast<std::chrono::seconds>(SysTime::duration::max()).count();
  constexpr auto kMin = duration_cast<std::chrono::seconds>(SysTime::duration::min()).count();
  if (secs >= kMax) {
    return SysTime::max();
  }
  if (secs <= kMin) {
    return SysTime::min();
  }
  return SysTime(std::chrono::seconds(secs));
}

bool set_asn1_time(ASN1_TIME* t, SysTime when) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
  return ASN1_TIME_set(t, static_cast<time_t>(secs)) != nullptr;
}

EvpPkeyPtr parse_private_key_pem(ByteView pem) {
  if (pem.empty() || pem.size() > 64 * 1024) {
    return nullptr;
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return nullptr;
  }
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
  }
  return key;
}

bool is_p384(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return false;
  }
  char group[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) {
    return false;
  }
  return std::strcmp(group, "secp384r1") == 0;
}

std::optional<Bytes> es384_raw_to_der(ByteView raw) {
  if (raw.size() != 96) {
    return std::nullopt;
  }
  BignumPtr r(BN_bin2bn(raw.data(), 48, nullptr));
  BignumPtr s(BN_bin2bn(raw.data() + 48, 48, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return std::nullopt;
  }
  r.release();  // owned by sig now
  s.release();
  const int n = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (n <= 0) {
    return std::nullopt;
  }
  Bytes out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  i2d_ECDSA_SIG(sig.get(), &p);
  return out;
}

std::optional<Bytes> es384_der_to_raw(ByteView der) {
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) {
    return std::nullopt;
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  Bytes out(96);
  if (BN_bn2binpad(r, out.data(), 48) != 48 || BN_bn2binpad(s, out.data() + 48, 48) != 48) {
    return std::nullopt;
  }
  return out;
}

}  // namespace kp::attestation::detail
