// `kms-proxy attest`, `kms-proxy inspect-attestation`, `kms-proxy sim-pki init`.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "attestation/document.h"
#include "attestation/inspect.h"
#include "attestation/nsm.h"
#include "attestation/nsm_device_linux.h"
#include "attestation/sim_pki.h"
#include "attestation/simulated_nsm.h"
#include "attestation/verifier.h"
#include "base/file_input.h"
#include "base/time_format.h"
#include "cli/commands.h"
#include "config/measurements.h"
#include "config/overrides.h"
#include "crypto/pem.h"

namespace kp::cli {

namespace {

// --- inspect-attestation ----------------------------------------------------

struct InspectFlags {
  std::string file;
  std::vector<std::string> roots;
  std::string at = "now";
};

int inspect(const InspectFlags& f) {
  auto text = read_input_file(f.file);
  if (!text) {
    std::cerr << "inspect-attestation: " << text.error().message << "\n";
    return 2;
  }
  auto bytes = attestation::read_document_input(*text);
  if (!bytes) {
    std::cerr << "inspect-attestation: " << bytes.error().message << "\n";
    return 1;
  }
  auto doc = attestation::parse_document(*bytes);
  if (!doc) {
    std::cerr << "inspect-attestation: " << doc.error().message << "\n";
    return 1;
  }
  attestation::VerifyOptions vo;
  for (const auto& r : f.roots) {
    auto pem = read_input_file(r);
    if (!pem) {
      std::cerr << "inspect-attestation: --root " << pem.error().message << "\n";
      return 2;
    }
    auto certs = crypto::certificates_der_from_pem(*pem);  // every certificate of a bundle
    if (certs.empty()) {
      std::cerr << "inspect-attestation: --root " << r
                << ": no PEM certificate in the file (for DER: openssl x509 -inform der -in FILE)\n";
      return 2;
    }
    for (auto& der : certs) {
      vo.trusted_roots_der.push_back(std::move(der));
    }
  }
  if (f.at == "document") {
    const auto t = attestation::document_time(doc->timestamp_ms);
    if (!t) {
      std::cerr << "inspect-attestation: --at document: the document's timestamp (" << doc->timestamp_ms
                << " ms since the epoch) is out of range (after 2262-04-11)\n";
      return 1;
    }
    vo.at = *t;
  } else if (f.at != "now") {
    auto t = parse_time_utc(f.at);
    if (!t) {
      std::cerr << "inspect-attestation: --at must be an RFC 3339 time with a zone (years " << kMinParsedYear
                << ".." << kMaxParsedYear << "), 'now' or 'document'\n";
      return 2;
    }
    vo.at = *t;
  }
  const auto outcome = attestation::verify_detailed(*doc, vo);
  std::cout << attestation::to_json(*doc, outcome, vo.at) << "\n";
  if (!outcome.ok()) {
    std::cerr << "inspect-attestation: INVALID: " << outcome.message << "\n";
    if (outcome.failure == attestation::VerifyFailure::kUntrustedRoot && f.roots.empty()) {
      std::cerr << "  hint: only the AWS Nitro root is trusted without --root; a document of "
                   "--attestation simulated\n        verifies with --root PKI_DIR/root.pem (the "
                   "kms-proxy sim-pki init directory)\n";
    }
    return 1;
  }
  return 0;
}

// --- attest -------------------------------------------------------------------

struct AttestFlags {
  std::string mode = "nsm";
  std::string nsm_device = "/dev/nsm";
  std::string sim_pki;
  std::vector<std::string> pcrs;
  std::string measurements;
  std::string public_key_file;
  std::string out;
};

int attest(const AttestFlags& f) {
  std::shared_ptr<attestation::NsmDevice> device;
  attestation::VerifyOptions vo;
  if (f.mode == "nsm") {
    auto dev = attestation::open_nsm_device(f.nsm_device);
    if (!dev) {
      std::cerr << "attest: " << dev.error().message
                << " (outside a Nitro Enclave use --attestation simulated --sim-pki-dir DIR for development)\n";
      return 1;
    }
    device = std::move(*dev);
  } else if (f.mode == "simulated") {
    if (f.sim_pki.empty()) {
      std::cerr << "attest: --attestation simulated needs --sim-pki-dir DIR (make one with: kms-proxy sim-pki "
                   "init DIR)\n";
      return 2;
    }
    auto pki = attestation::load_sim_pki(f.sim_pki);
    if (!pki) {
      std::cerr << "attest: --sim-pki-dir: " << pki.error().message << "\n";
      return 2;
    }
    attestation::SimulatedNsmOptions o;
    vo.trusted_roots_der.push_back(pki->root_der);
    o.pki = std::make_shared<const attestation::SimPki>(std::move(*pki));
    if (!f.measurements.empty()) {
      auto json = read_input_file(f.measurements);
      auto pcrs = json ? config::parse_measurements_json(*json) : Result<config::PcrMap>(json.error());
      if (!pcrs) {
        std::cerr << "attest: --measurements: " << pcrs.error().message << "\n";
        return 2;
      }
      o.pcrs = std::move(*pcrs);
    }
    for (const auto& p : f.pcrs) {
      auto kv = config::parse_pcr_assignment(p);
      if (!kv) {
        std::cerr << "attest: --pcr: " << kv.error().message << "\n";
        return 2;
      }
      o.pcrs[kv->first] = std::move(kv->second);
    }
    auto sim = attestation::SimulatedNsm::create(std::move(o));
    if (!sim) {
      std::cerr << "attest: " << sim.error().message << "\n";
      return 1;
    }
    device = std::move(*sim);
  } else {
    std::cerr << "attest: --attestation must be nsm or simulated\n";
    return 2;
  }
  attestation::AttestationRequest req;
  if (!f.public_key_file.empty()) {
    auto pk = read_input_file(f.public_key_file);
    if (!pk) {
      std::cerr << "attest: --public-key " << pk.error().message << "\n";
      return 2;
    }
    auto der = crypto::public_key_der_from_pem_or_der(*pk);
    if (!der) {
      std::cerr << "attest: --public-key: not a PEM or DER public key\n";
      return 2;
    }
    req.public_key = std::move(*der);
  }
  attestation::NsmClient client(device);
  auto doc_bytes = client.attestation(req);
  if (!doc_bytes) {
    std::cerr << "attest: " << doc_bytes.error().message << "\n";
    return 1;
  }
  if (!f.out.empty()) {
    errno = 0;
    std::ofstream out(f.out, std::ios::binary);
    out.write(reinterpret_cast<const char*>(doc_bytes->data()),
              static_cast<std::streamsize>(doc_bytes->size()));
    if (!out) {
      const int err = errno;
      std::cerr << "attest: cannot write " << f.out << (err != 0 ? ": " + std::string(std::strerror(err)) : "")
                << "\n";
      return 1;
    }
  }
  auto doc = attestation::parse_document(*doc_bytes);
  if (!doc) {
    std::cerr << "attest: the device returned an unparseable document: " << doc.error().message << "\n";
    return 1;
  }
  const auto outcome = attestation::verify_detailed(*doc, vo);
  std::cout << attestation::to_json(*doc, outcome, vo.at) << "\n";
  return outcome.ok() ? 0 : 1;
}

}  // namespace

Runner add_attestation_commands(CLI::App& app) {
  auto inf = std::make_shared<InspectFlags>();
  auto* insp = app.add_subcommand("inspect-attestation",
                                  "Verify an attestation document and print it as JSON");
  insp->add_option("FILE", inf->file, "Document: raw CBOR (COSE_Sign1), base64 or hex")->required();
  insp->add_option("--root", inf->roots,
                   "Extra trusted root certificate (PEM), besides the pinned AWS Nitro root; repeatable");
  insp->add_option("--at", inf->at, "Verification time: RFC 3339, 'now' (default) or 'document'");
  insp->footer(
      "Checks the COSE_Sign1 signature (ES384) and the certificate chain up to the pinned AWS Nitro\n"
      "root (or a --root), at the verification time, and prints the decoded document as JSON.\n"
      "Leaf certificates live about 3 hours: an old document is expired 'now'; '--at document'\n"
      "checks it at its own timestamp.\n"
      "Exit status 0 when the document verifies, 1 when it does not (with a one-line reason), 2 for\n"
      "usage errors.\nExamples:\n"
      "  kms-proxy inspect-attestation doc.b64 --at document\n"
      "  kms-proxy inspect-attestation doc.cbor --root ./pki/root.pem      # a simulated document\n"
      "  kms-proxy inspect-attestation doc.hex --at 2025-11-10T17:21:00Z | jq .pcrs");

  auto af = std::make_shared<AttestFlags>();
  auto* att = app.add_subcommand("attest", "Get a fresh attestation document and print it as JSON");
  att->add_option("--attestation", af->mode, "nsm (default) | simulated");
  att->add_option("--nsm-device", af->nsm_device, "NSM device path (default /dev/nsm)");
  att->add_option("--sim-pki-dir,--sim-pki", af->sim_pki, "Development PKI for simulated attestation");
  att->add_option("--pcr", af->pcrs, "Simulated PCR N=HEX; repeatable");
  att->add_option("--measurements", af->measurements, "nitro-cli measurements JSON for simulated PCRs");
  att->add_option("--public-key", af->public_key_file, "Public key (PEM or DER SPKI) to bind");
  att->add_option("--out", af->out, "Also write the raw document (CBOR) to this file");
  att->footer(
      "Asks the NSM (/dev/nsm, inside an enclave) or the simulated NSM for a document, verifies it\n"
      "(simulated: against the PKI's root) and prints it as JSON. Exit status 0 ok, 1 when the\n"
      "device fails or the document does not verify, 2 for usage errors.\n"
      "Examples:\n"
      "  kms-proxy attest                                   # inside the enclave: the real PCRs\n"
      "  kms-proxy attest --attestation simulated --sim-pki ./pki --out doc.cbor\n"
      "  kms-proxy attest --attestation simulated --sim-pki ./pki --measurements m.json \\\n"
      "      --public-key app.pub.pem --out doc.cbor");

  auto pki_dir = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* pki = app.add_subcommand("sim-pki", "Development PKI for simulated attestation");
  auto* pki_init = pki->add_subcommand("init", "Create root, intermediate and leaf (P-384) in DIR");
  pki_init->add_option("DIR", *pki_dir, "Directory to create")->required();
  pki_init->add_flag("--force", *force, "Replace an existing PKI");
  pki_init->footer(
      "Documents signed by this PKI are for development only: real KMS rejects them; kms-emulator\n"
      "accepts them with --trust-root DIR/root.pem. An existing PKI is kept unless --force is given\n"
      "(exit status 1 then).\nExamples:\n"
      "  kms-proxy sim-pki init ./pki\n"
      "  kms-proxy serve --attestation simulated --sim-pki ./pki ...");
  pki->footer("Example:\n  kms-proxy sim-pki init ./pki && kms-emulator serve --trust-root ./pki/root.pem ...");
  pki->require_subcommand(1);

  return [insp, inf, att, af, pki_init, pki_dir, force]() -> int {
    if (*insp) {
      return inspect(*inf);
    }
    if (*att) {
      return attest(*af);
    }
    if (*pki_init) {
      attestation::SimPkiOptions o;
      o.overwrite = *force;
      auto r = attestation::init_sim_pki(*pki_dir, o);
      if (!r) {
        // --force helps only against an existing PKI, not an unwritable path.
        std::cerr << "sim-pki init: " << r.error().message
                  << (!*force && r.error().code == Errc::kAlreadyExists ? " (use --force to replace it)" : "")
                  << "\n";
        return 1;
      }
      std::cout << "created development PKI in " << *pki_dir << " (root certificate: " << *pki_dir
                << "/root.pem)\n";
      return 0;
    }
    return -1;
  };
}

}  // namespace kp::cli
