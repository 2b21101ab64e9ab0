// ServerTls: loads the certificate chain and key into an Asio SSL server
// context. See server_tls.h for the contract.
#include "net/server_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "base/error.h"
#include "base/openssl.h"
#include "base/secret.h"
#include "net/detail/server_tls_impl.h"

namespace kp::net {

namespace {

// TLS 1.2 suites: forward secrecy and AEAD only (the Mozilla "intermediate"
// list without DHE). TLS 1.3 keeps OpenSSL's default suites (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ALPN protocol list in wire format: we speak HTTP/1.1 only.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

using BioPtr = CPtr<BIO, BIO_free>;
using X509Ptr = CPtr<X509, X509_free>;
using PkeyPtr = CPtr<EVP_PKEY, EVP_PKEY_free>;

// Reads a whole file; nullopt with the OS reason in `why` on failure.
std::optional<std::string> read_file(const std::string& path, std::string& why) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof(buf), f);
    out.append(buf, n);
    if (n < sizeof(buf)) {
      break;
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  kp::secure_wipe(buf, sizeof(buf));
  if (failed) {
    kp::secure_wipe(out.data(), out.size());
    why = "read error";
    return std::nullopt;
  }
  return out;
}

// The password callback for PEM keys: refuse (a server must never prompt on
// the terminal), but remember that a password was asked for.
int refuse_password(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof(kAlpnHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: carry on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string name_line(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return "?";
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// Loads the chain into ctx; returns the problem or nullopt.
std::optional<std::string> load_chain(SSL_CTX* ctx, const std::string& path, std::string& subject) {
  std::string why;
  const auto text = read_file(path, why);
  if (!text) {
    return "certificate file '" + path + "': cannot read: " + why;
  }
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!bio) {
    return "certificate file '" + path + "': " + take_openssl_error();
  }
  X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    ERR_clear_error();
    return "certificate file '" + path + "': no PEM CERTIFICATE in the file";
  }
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    return "certificate file '" + path + "': certificate not usable: " + take_openssl_error();
  }
  subject = name_line(X509_get_subject_name(leaf.get()));
  SSL_CTX_clear_chain_certs(ctx);
  for (;;) {
    X509Ptr extra(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!extra) {
      break;  // end of the file (PEM "no start line") or a non-certificate tail
    }
    if (SSL_CTX_add0_chain_cert(ctx, extra.get()) != 1) {
      return "certificate file '" + path + "': intermediate certificate not usable: " + take_openssl_error();
    }
    (void)extra.release();  // owned by ctx now
  }
  ERR_clear_error();
  return std::nullopt;
}

std::string mismatch(const std::string& key_file, const std::string& cert_file) {
  return "key file '" + key_file + "' does not match the certificate in '" + cert_file + "'";
}

std::optional<std::string> load_key(SSL_CTX* ctx, const std::string& path, const std::string& cert_path) {
  std::string why;
  auto text = read_file(path, why);
  if (!text) {
    return "key file '" + path + "': cannot read: " + why;
  }
  bool asked_password = false;
  PkeyPtr key;
  {
    BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    if (bio) {
      key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_password, &asked_password));
    }
  }
  kp::secure_wipe(text->data(), text->size());
  if (!key) {
    ERR_clear_error();
    if (asked_password) {
      return "key file '" + path + "': the key is encrypted; give an unencrypted PEM key";
    }
    return "key file '" + path + "': no PEM PRIVATE KEY in the file";
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    // OpenSSL checks the key against an already loaded leaf here.
    const int reason = ERR_GET_REASON(ERR_peek_last_error());
    if (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH) {
      ERR_clear_error();
      return mismatch(path, cert_path);
    }
    return "key file '" + path + "': key not usable: " + take_openssl_error();
  }
  return std::nullopt;
}

}  // namespace

ServerTls::ServerTls(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServerTls::~ServerTls() = default;

const std::string& ServerTls::subject() const noexcept { return impl_->subject; }

kp::Result<std::shared_ptr<const ServerTls>> ServerTls::load(const std::string& cert_chain_file,
                                                             const std::string& key_file) {
  auto impl = std::make_unique<Impl>();
  SSL_CTX* ctx = impl->ctx.native_handle();
  std::vector<std::string> problems;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    problems.push_back("cannot configure TLS 1.2+ with AEAD suites: " + take_openssl_error());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);

  const auto chain_problem = load_chain(ctx, cert_chain_file, impl->subject);
  if (chain_problem) {
    problems.push_back(*chain_problem);
  }
  const auto key_problem = load_key(ctx, key_file, cert_chain_file);
  if (key_problem) {
    problems.push_back(*key_problem);
  }
  if (!chain_problem && !key_problem && SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    problems.push_back(mismatch(key_file, cert_chain_file));
  }
  ERR_clear_error();
  if (!problems.empty()) {
    std::string message = "tls: ";
    for (std::size_t i = 0; i < problems.size(); ++i) {
      message += (i == 0 ? "" : "; ") + problems[i];
    }
    return kp::fail(Errc::kValidation, std::move(message));
  }
  return std::shared_ptr<const ServerTls>(new ServerTls(std::move(impl)));
}

}  // namespace kp::net
