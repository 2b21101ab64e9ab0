#include "crypto/pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "crypto/openssl_util.h"

namespace kp::crypto {

namespace {

using detail::BioPtr;

using X509Ptr = CPtr<X509, X509_free>;

BioPtr memory_bio(std::string_view s) {
  if (s.size() > (1u << 24)) {
    return nullptr;
  }
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::optional<Bytes> x509_der(X509* cert) {
  const int n = i2d_X509(cert, nullptr);
  if (n <= 0) {
    return std::nullopt;
  }
  Bytes der(static_cast<std::size_t>(n));
  unsigned char* p = der.data();
  if (i2d_X509(cert, &p) != n) {
    return std::nullopt;
  }
  return der;
}

}  // namespace

std::vector<Bytes> certificates_der_from_pem(std::string_view pem) {
  std::vector<Bytes> out;
  auto bio = memory_bio(pem);
  if (!bio) {
    return out;
  }
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    if (auto der = x509_der(cert.get())) {
      out.push_back(std::move(*der));
    }
  }
  ERR_clear_error();
  return out;
}

std::optional<Bytes> certificate_der_from_pem(std::string_view pem) {
  auto all = certificates_der_from_pem(pem);
  if (all.empty()) {
    return std::nullopt;
  }
  return std::move(all.front());
}

std::optional<Bytes> public_key_der_from_pem_or_der(std::string_view data) {
  if (auto pk = detail::parse_spki(as_bytes(data), Errc::kValidation, "public key")) {
    if (auto spki = detail::spki_of(pk->get())) {
      return std::move(*spki);
    }
    return std::nullopt;
  }
  auto bio = memory_bio(data);
  if (!bio) {
    return std::nullopt;
  }
  detail::PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) {
    return std::nullopt;
  }
  auto spki = detail::spki_of(key.get());
  if (!spki) {
    return std::nullopt;
  }
  return std::move(*spki);
}

}  // namespace kp::crypto
