#include "attestation/sim_pki.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "attestation/ossl_util.h"
#include "base/file_input.h"

namespace kp::attestation {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): .cc-local

enum class Profile { kRoot, kIntermediate, kLeaf };

Error ossl_fail(std::string_view what) {
  return Error{Errc::kInternal, "sim_pki: " + std::string(what) + ": " + take_openssl_error()};
}

EvpPkeyPtr new_p384_key() { return EvpPkeyPtr(EVP_EC_gen("P-384")); }

Result<SecretBytes> key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return ossl_fail("encode private key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  auto out = SecretBytes::copy_of(std::string_view(data, static_cast<std::size_t>(len)));
  secure_wipe(data, static_cast<std::size_t>(len));
  return out;
}

EvpPkeyPtr parse_key_pem(const SecretBytes& pem) { return parse_private_key_pem(pem.view()); }

X509NamePtr make_name(std::string_view cn) {
  X509NamePtr name(X509_NAME_new());
  const std::array<std::pair<const char*, std::string>, 4> rdns = {
      {{"C", "US"}, {"O", "Simulated"}, {"OU", "AWS"}, {"CN", std::string(cn)}}};
  for (const auto& [field, value] : rdns) {
    if (!name || X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_ASC,
                                            reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                            -1, 0) != 1) {
      return nullptr;
    }
  }
  return name;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return false;
  }
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

Result<X509Ptr> make_cert(EVP_PKEY* key, std::string_view cn, X509* issuer, EVP_PKEY* issuer_key,
                          SysTime not_before, SysTime not_after, Profile profile) {
  X509Ptr cert(X509_new());
  X509NamePtr subject = make_name(cn);
  BignumPtr serial_bn(BN_new());
  if (!cert || !subject || !serial_bn || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial_bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(),
                           issuer != nullptr ? X509_get_subject_name(issuer) : subject.get()) != 1 ||
      !set_asn1_time(X509_getm_notBefore(cert.get()), not_before) ||
      !set_asn1_time(X509_getm_notAfter(cert.get()), not_after) ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return ossl_fail("build certificate");
  }
  X509* iss = issuer != nullptr ? issuer : cert.get();
  bool ok = add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
  switch (profile) {
    case Profile::kRoot:
      ok = ok && add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE") &&
           add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
      break;
    case Profile::kIntermediate:
      ok = ok && add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always") &&
           add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
           add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
      break;
    case Profile::kLeaf:
      ok = ok && add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always") &&
           add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
           add_ext(cert.get(), iss, NID_key_usage, "digitalSignature");
      break;
  }
  if (!ok) {
    return ossl_fail("add extensions");
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha384()) <= 0) {
    return ossl_fail("sign certificate");
  }
  return cert;
}

Result<std::string> cert_pem(ByteView der) {
  X509Ptr cert = parse_der_cert(der);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!cert || !bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) {
    return ossl_fail("encode certificate");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

constexpr std::array<const char*, 6> kFiles = {"root.pem", "intermediate.pem", "leaf.pem",
                                               "root.key", "intermediate.key", "leaf.key"};

Result<void> write_file(const std::filesystem::path& p, std::string_view data, mode_t mode) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return Error{Errc::kInternal, "sim_pki: cannot create " + p.string() + ": " + std::strerror(errno)};
  }
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return Error{Errc::kInternal, "sim_pki: cannot write " + p.string() + ": " + std::strerror(e)};
    }
    off += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);  // umask-proof
  ::close(fd);
  return {};
}

// Far above any PEM certificate or P-384 key.
constexpr std::size_t kMaxPemBytes = 64 * 1024;

Error read_error(const std::filesystem::path& p, const Error& e) {
  return Error{e.code, "sim_pki: cannot read " + p.string() + ": " + input_file_reason(e, p.string())};
}

Result<std::string> read_text(const std::filesystem::path& p) {
  auto text = read_input_file(p.string(), kMaxPemBytes);
  if (!text) {
    return read_error(p, text.error());
  }
  return std::move(*text);
}

Result<Bytes> read_cert(const std::filesystem::path& p) {
  auto text = read_text(p);
  if (!text) {
    return text.error();
  }
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    return Error{Errc::kValidation, "sim_pki: " + p.string() + " is not a PEM certificate"};
  }
  return cert_der(cert.get());
}

Result<SecretBytes> read_key(const std::filesystem::path& p) {
  auto key = read_secret_input_file(p.string(), kMaxPemBytes);
  if (!key) {
    return read_error(p, key.error());
  }
  if (!parse_key_pem(*key)) {
    return Error{Errc::kValidation, "sim_pki: " + p.string() + " is not a PEM private key"};
  }
  return std::move(*key);
}

struct FullPki {
  SimPki pki;
  SecretBytes root_key_pem;  // written to disk, never kept in SimPki
};

Result<FullPki> generate_full(const SimPkiOptions& options) {
  // Back-dated a day so a clock slightly behind the generating host still works.
  const SysTime start = options.now - std::chrono::hours(24);
  EvpPkeyPtr root_key = new_p384_key();
  EvpPkeyPtr inter_key = new_p384_key();
  EvpPkeyPtr leaf_key = new_p384_key();
  if (!root_key || !inter_key || !leaf_key) {
    return ossl_fail("generate P-384 keys");
  }
  const auto years = [](int n) { return std::chrono::hours(24 * 365 * n); };
  auto root = make_cert(root_key.get(), "sim.nitro-enclaves", nullptr, root_key.get(), start,
                        options.now + years(30), Profile::kRoot);
  if (!root) {
    return root.error();
  }
  auto inter = make_cert(inter_key.get(), "sim-intermediate.sim.nitro-enclaves", root->get(),
                         root_key.get(), start, options.now + years(20), Profile::kIntermediate);
  if (!inter) {
    return inter.error();
  }
  auto leaf = make_cert(leaf_key.get(), "sim-enclave.sim.aws", inter->get(), inter_key.get(), start,
                        options.now + options.leaf_lifetime, Profile::kLeaf);
  if (!leaf) {
    return leaf.error();
  }
  auto root_pem = key_pem(root_key.get());
  auto inter_pem = key_pem(inter_key.get());
  auto leaf_pem = key_pem(leaf_key.get());
  if (!root_pem || !inter_pem || !leaf_pem) {
    return ossl_fail("encode keys");
  }
  return FullPki{SimPki{cert_der(root->get()), cert_der(inter->get()), cert_der(leaf->get()),
                        std::move(*inter_pem), std::move(*leaf_pem)},
                 std::move(*root_pem)};
}

}  // namespace

Result<SimPki> generate_sim_pki(const SimPkiOptions& options) {
  auto full = generate_full(options);
  if (!full) {
    return full.error();
  }
  return std::move(full->pki);
}

Result<SimPki> init_sim_pki(const std::filesystem::path& dir, const SimPkiOptions& options) {
  std::error_code ec;
  for (const char* f : kFiles) {
    if (std::filesystem::exists(dir / f, ec)) {
      if (!options.overwrite) {
        return Error{Errc::kAlreadyExists, "sim_pki: " + (dir / f).string() +
                                               " already exists (refusing to overwrite a PKI)"};
      }
      std::filesystem::remove(dir / f, ec);
    }
  }
  const bool existed = std::filesystem::exists(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error{Errc::kInternal, "sim_pki: cannot create " + dir.string() + ": " + ec.message()};
  }
  if (!existed) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  auto full = generate_full(options);
  if (!full) {
    return full.error();
  }
  const SimPki& pki = full->pki;
  const std::pair<const char*, const Bytes*> certs[] = {{"root.pem", &pki.root_der},
                                                        {"intermediate.pem", &pki.intermediate_der},
                                                        {"leaf.pem", &pki.leaf_der}};
  for (const auto& [name, der] : certs) {
    auto pem = cert_pem(*der);
    if (!pem) {
      return pem.error();
    }
    if (auto w = write_file(dir / name, *pem, 0644); !w) {
      return w.error();
    }
  }
  const std::pair<const char*, const SecretBytes*> keys[] = {
      {"root.key", &full->root_key_pem},
      {"intermediate.key", &pki.intermediate_key_pem},
      {"leaf.key", &pki.leaf_key_pem}};
  for (const auto& [name, pem] : keys) {
    if (auto w = write_file(dir / name, pem->chars(), 0600); !w) {
      return w.error();
    }
  }
  return std::move(full->pki);
}

Result<SimPki> load_sim_pki(const std::filesystem::path& dir) {
  auto root = read_cert(dir / "root.pem");
  auto inter = read_cert(dir / "intermediate.pem");
  auto leaf = read_cert(dir / "leaf.pem");
  if (!root) {
    return root.error();
  }
  if (!inter) {
    return inter.error();
  }
  if (!leaf) {
    return leaf.error();
  }
  auto inter_key = read_key(dir / "intermediate.key");
  if (!inter_key) {
    return inter_key.error();
  }
  auto leaf_key = read_key(dir / "leaf.key");
  if (!leaf_key) {
    return leaf_key.error();
  }
  X509Ptr r = parse_der_cert(*root);
  X509Ptr i = parse_der_cert(*inter);
  X509Ptr l = parse_der_cert(*leaf);
  EvpPkeyPtr ik = parse_key_pem(*inter_key);
  EvpPkeyPtr lk = parse_key_pem(*leaf_key);
  if (!r || !i || !l || !ik || !lk || X509_check_private_key(i.get(), ik.get()) != 1 ||
      X509_check_private_key(l.get(), lk.get()) != 1 || X509_verify(r.get(), X509_get0_pubkey(r.get())) != 1 ||
      X509_verify(i.get(), X509_get0_pubkey(r.get())) != 1 ||
      X509_verify(l.get(), X509_get0_pubkey(i.get())) != 1) {
    take_openssl_error();
    return Error{Errc::kValidation,
                 "sim_pki: " + dir.string() + ": keys and certificates do not form one chain"};
  }
  return SimPki{std::move(*root), std::move(*inter), std::move(*leaf), std::move(*inter_key),
                std::move(*leaf_key)};
}

Result<SimLeaf> mint_sim_leaf(const SimPki& pki, std::string_view common_name, SysTime not_before,
                              SysTime not_after) {
  X509Ptr inter = parse_der_cert(pki.intermediate_der);
  EvpPkeyPtr inter_key = parse_key_pem(pki.intermediate_key_pem);
  EvpPkeyPtr key = new_p384_key();
  if (!inter || !inter_key || !key) {
    return ossl_fail("mint leaf");
  }
  auto cert = make_cert(key.get(), common_name, inter.get(), inter_key.get(), not_before, not_after,
                        Profile::kLeaf);
  if (!cert) {
    return cert.error();
  }
  auto pem = key_pem(key.get());
  if (!pem) {
    return pem.error();
  }
  return SimLeaf{cert_der(cert->get()), std::move(*pem)};
}

}  // namespace kp::attestation
