// `kms-proxy policy-check`: evaluates a KMS key policy against an enclave's
// measurements before deployment, with the same evaluator as kms-emulator.
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>

#include "attestation/document.h"
#include "attestation/inspect.h"
#include "base/encoding.h"
#include "cli/commands.h"
#include "config/measurements.h"
#include "policy/policy.h"

namespace kp::cli {

namespace {

struct PolicyCheckFlags {
  std::string policy_file;
  std::string attestation_file;
  std::string measurements_file;
  std::vector<std::string> pcrs;
  std::string action = "kms:Decrypt";
  std::string principal;
  std::vector<std::string> encryption_context;
};

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool all_zero(const Bytes& b) {
  for (auto x : b) {
    if (x != 0) {
      return false;
    }
  }
  return !b.empty();
}

// The account that owns the key: taken from the first account-qualified ARN
// among the policy's principals (key policies name their own account root).
std::optional<std::string> key_account(const policy::Policy& p) {
  for (const auto& st : p.statements) {
    for (const auto& a : st.principal.aws) {
      // arn:aws:iam::111122223333:root | 111122223333
      if (a.size() == 12 && a.find_first_not_of("0123456789") == std::string::npos) {
        return a;
      }
      const auto pos = a.find(":iam::");
      if (pos != std::string::npos && a.size() >= pos + 6 + 12) {
        return a.substr(pos + 6, 12);
      }
    }
  }
  return std::nullopt;
}

// "PCR0 expected 3aa0..., enclave has 0000... (debug-mode enclave)".
std::string explain(const policy::ConditionFailure& f, const std::map<unsigned, Bytes>& pcrs) {
  std::string line = policy::describe(f);
  static constexpr std::string_view kPrefix = "kms:recipientattestation:";
  std::string key_lower;
  for (char c : f.key) {
    key_lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (key_lower.starts_with(kPrefix)) {
    const std::string_view rest = std::string_view(key_lower).substr(kPrefix.size());
    std::optional<unsigned> idx;
    if (rest == "imagesha384") {
      idx = 0;
    } else if (rest.starts_with("pcr")) {
      idx = static_cast<unsigned>(std::atoi(std::string(rest.substr(3)).c_str()));
    }
    if (idx) {
      auto it = pcrs.find(*idx);
      line += "\n      PCR" + std::to_string(*idx) + " expected " +
              (f.expected.empty() ? std::string("(nothing)") : f.expected.front()) + ", enclave has " +
              (it == pcrs.end() ? std::string("no value") : hex_encode(it->second));
      if (it != pcrs.end() && all_zero(it->second) && *idx <= 2) {
        line += " (debug-mode enclave: PCR0/1/2 are zero; production key policies reject it)";
      }
      if (!f.expected.empty() && it != pcrs.end() && f.expected.front() != hex_encode(it->second) &&
          [&] {
            std::string up = f.expected.front();
            for (auto& c : up) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            return up == hex_encode(it->second);
          }()) {
        line += " (differs only in letter case: use StringEqualsIgnoreCase or lower-case hex)";
      }
    }
  }
  return line;
}

int policy_check(const PolicyCheckFlags& f) {
  auto text = read_file(f.policy_file);
  if (!text) {
    std::cerr << "policy-check: cannot read " << f.policy_file << "\n";
    return 2;
  }
  auto pol = policy::parse_policy(*text);
  if (!pol) {
    std::cerr << "policy-check: " << pol.error().message << "\n";
    return 2;
  }
  std::map<unsigned, Bytes> pcrs;
  if (!f.attestation_file.empty()) {
    auto raw = read_file(f.attestation_file);
    auto bytes = raw ? attestation::read_document_input(*raw)
                     : Result<Bytes>(Error{Errc::kNotFound, "cannot read the file"});
    auto doc = bytes ? attestation::parse_document(*bytes) : Result<attestation::AttestationDocument>(bytes.error());
    if (!doc) {
      std::cerr << "policy-check: --attestation: " << doc.error().message << "\n";
      return 2;
    }
    pcrs = doc->pcrs;
  }
  if (!f.measurements_file.empty()) {
    auto json = read_file(f.measurements_file);
    auto m = json ? config::parse_measurements_json(*json)
                  : Result<config::PcrMap>(Error{Errc::kNotFound, "cannot read the file"});
    if (!m) {
      std::cerr << "policy-check: --measurements: " << m.error().message << "\n";
      return 2;
    }
    for (auto& [i, v] : *m) {
      pcrs[i] = v;
    }
  }
  for (const auto& p : f.pcrs) {
    auto kv = config::parse_pcr_assignment(p);
    if (!kv) {
      std::cerr << "policy-check: --pcr: " << kv.error().message << "\n";
      return 2;
    }
    pcrs[kv->first] = kv->second;
  }
  if (pcrs.empty()) {
    std::cerr << "policy-check: give the enclave's measurements: --attestation DOC, --measurements "
                 "FILE or --pcr N=HEX\n";
    return 2;
  }
  std::map<std::string, std::string> ec;
  for (const auto& kv : f.encryption_context) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "policy-check: --encryption-context takes K=V\n";
      return 2;
    }
    ec[kv.substr(0, eq)] = kv.substr(eq + 1);
  }

  policy::RequestContext ctx;
  ctx.action = f.action;
  if (!f.principal.empty()) {
    ctx.principal_arn = f.principal;
  } else if (auto acct = key_account(*pol)) {
    ctx.principal_arn = "arn:aws:iam::" + *acct + ":root";
  } else {
    std::cerr << "policy-check: cannot tell the key's account from the policy: pass --principal ARN\n";
    return 2;
  }
  policy::add_recipient_attestation(ctx, pcrs);
  policy::add_encryption_context(ctx, ec);

  const auto d = policy::evaluate(*pol, ctx);
  std::cout << (d.allowed ? "ALLOWED" : "DENIED") << ": " << ctx.action << " by " << ctx.principal_arn
            << "\n";
  std::cout << "  decided by: " << d.decided_by() << "\n";
  if (!d.allowed) {
    for (const auto& miss : d.condition_misses) {
      std::cout << "  statement " << miss.statement_index
                << (miss.sid.empty() ? std::string() : " (\"" + miss.sid + "\")")
                << " matched the action and principal but its conditions failed:\n";
      for (const auto& fl : miss.failures) {
        std::cout << "    - " << explain(fl, pcrs) << "\n";
      }
    }
  }
  bool debug = true;
  for (unsigned i = 0; i <= 2; ++i) {
    auto it = pcrs.find(i);
    debug = debug && it != pcrs.end() && all_zero(it->second);
  }
  if (debug) {
    std::cout << "  note: PCR0, PCR1 and PCR2 are all zero: this is a debug-mode enclave\n";
  }
  return d.allowed ? 0 : 1;
}

}  // namespace

Runner add_policy_check_command(CLI::App& app) {
  auto f = std::make_shared<PolicyCheckFlags>();
  auto* sub = app.add_subcommand(
      "policy-check", "Evaluate a KMS key policy against an enclave's measurements before deploying");
  sub->add_option("--policy", f->policy_file, "Key policy JSON file")->required();
  sub->add_option("--attestation", f->attestation_file, "Attestation document (CBOR, base64 or hex)");
  sub->add_option("--measurements", f->measurements_file, "nitro-cli build-enclave/describe-eif JSON");
  sub->add_option("--pcr", f->pcrs, "PCR value N=HEX; repeatable");
  sub->add_option("--action", f->action, "KMS action (default kms:Decrypt)");
  sub->add_option("--principal", f->principal,
                  "Caller ARN (default: the root of the key's account, from the policy)");
  sub->add_option("--encryption-context", f->encryption_context, "K=V; repeatable");
  sub->footer(
      "Exit status: 0 allowed, 1 denied, 2 usage or input error.\nExample:\n"
      "  kms-proxy policy-check --policy key-policy.json --measurements measurements.json");
  return [sub, f]() -> int { return *sub ? policy_check(*f) : -1; };
}

}  // namespace kp::cli
