// `kms-proxy policy-check`: evaluates a KMS key policy against an enclave's
// measurements before deployment, with the same evaluator as kms-emulator.
#include <cctype>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attestation/document.h"
#include "attestation/inspect.h"
#include "base/clock.h"
#include "base/encoding.h"
#include "base/time_format.h"
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
  std::vector<std::string> conditions;  // KEY=VALUE, repeatable per key
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

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& x : v) {
    if (!out.empty()) {
      out += sep;
    }
    out += x;
  }
  return out;
}

// The PCR a kms:RecipientAttestation:* condition key names (ImageSha384 = PCR0).
std::optional<unsigned> pcr_of_key(std::string_view key) {
  static constexpr std::string_view kPrefix = "kms:recipientattestation:";
  const std::string k = lower(key);
  if (!k.starts_with(kPrefix)) {
    return std::nullopt;
  }
  const std::string_view rest = std::string_view(k).substr(kPrefix.size());
  if (rest == "imagesha384") {
    return 0U;
  }
  if (rest.starts_with("pcr") && rest.size() > 3 && rest.size() <= 5 &&
      rest.find_first_not_of("0123456789", 3) == std::string_view::npos) {
    return static_cast<unsigned>(std::stoul(std::string(rest.substr(3))));
  }
  return std::nullopt;
}

std::string statement_name(std::size_t index, const std::string& sid) {
  return sid.empty() ? "statement #" + std::to_string(index) : "statement \"" + sid + "\"";
}

// One failed condition, operator-first for PCR keys:
//   "PCR0 expected 3aa0..., enclave has 0000... (debug-mode enclave)"
//   "    condition: StringEqualsIgnoreCase kms:RecipientAttestation:ImageSha384"
// and describe()'s wording for every other key.
std::string explain(const policy::ConditionFailure& f, const std::map<unsigned, Bytes>& pcrs) {
  const auto idx = pcr_of_key(f.key);
  if (!idx || f.op == policy::ConditionOp::kNull) {
    return policy::describe(f);
  }
  const auto it = pcrs.find(*idx);
  const bool negated = policy::is_negated(f.op);
  std::string line = "PCR" + std::to_string(*idx) + (negated ? " expected none of " : " expected ") +
                     (f.expected.empty() ? std::string("(nothing)") : join(f.expected, " or ")) +
                     ", enclave has " +
                     (it == pcrs.end() ? std::string("no value (not measured or not given)")
                                       : hex_encode(it->second));
  if (it != pcrs.end()) {
    const std::string actual = hex_encode(it->second);
    if (all_zero(it->second) && *idx <= 2) {
      line += " (debug-mode enclave)";
    }
    if (!negated) {
      for (const auto& e : f.expected) {
        if (e != actual && lower(e) == actual) {
          line += " (differs only in letter case: use StringEqualsIgnoreCase or lower-case hex)";
          break;
        }
      }
    }
  }
  line += "\n      condition: " + f.operator_name + " " + f.key;
  return line;
}

// The request's values for a condition key (keys compare case-insensitively).
std::vector<std::string> request_values(const policy::RequestContext& ctx, const std::string& key) {
  const std::string k = lower(key);
  for (const auto& [name, values] : ctx.keys) {
    if (lower(name) == k) {
      return values;
    }
  }
  return {};
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
  for (const auto& kv : f.conditions) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "policy-check: --condition takes KEY=VALUE, e.g. aws:SourceIp=203.0.113.7\n";
      return 2;
    }
    ctx.keys[kv.substr(0, eq)].push_back(kv.substr(eq + 1));
  }
  // The global keys every request carries, unless --condition set them.
  const SysTime now = SystemClock::instance().now();
  ctx.keys.try_emplace("aws:CurrentTime", std::vector<std::string>{format_rfc3339(now)});
  ctx.keys.try_emplace("aws:EpochTime",
                       std::vector<std::string>{std::to_string(
                           std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count())});
  ctx.keys.try_emplace("aws:SecureTransport", std::vector<std::string>{"true"});

  const auto d = policy::evaluate(*pol, ctx);
  std::cout << (d.allowed ? "ALLOWED" : "DENIED") << ": " << ctx.action << " by " << ctx.principal_arn
            << "\n";
  if (d.explicit_deny) {
    std::cout << "  decided by: " << d.decided_by()
              << " (explicit Deny: a Deny statement that applies overrides every Allow)\n";
    const auto& st = pol->statements[*d.statement_index];
    if (st.conditions.empty()) {
      std::cout << "  it has no conditions: it denies " << ctx.action << " to this principal always\n";
    } else {
      std::cout << "  its conditions all hold for this enclave:\n";
      for (const auto& c : st.conditions) {
        const auto actual = request_values(ctx, c.key);
        std::cout << "    - " << c.operator_name << " " << c.key << ": " << join(c.values, " or ")
                  << "; request has " << (actual.empty() ? std::string("no value") : join(actual, ", "))
                  << "\n";
      }
    }
  } else {
    std::cout << "  decided by: " << d.decided_by() << "\n";
  }
  if (!d.allowed && !d.explicit_deny) {
    bool any_allow = false;
    for (const auto& miss : d.condition_misses) {
      if (miss.effect != policy::Effect::kAllow) {
        continue;  // a Deny statement whose conditions failed did not apply: not the cause
      }
      any_allow = true;
      std::cout << "  " << statement_name(miss.statement_index, miss.sid) << " allows " << ctx.action
                << " to this principal, but its conditions failed:\n";
      for (const auto& fl : miss.failures) {
        std::cout << "    - " << explain(fl, pcrs) << "\n";
      }
    }
    if (!any_allow) {
      std::cout << "  no Allow statement covers " << ctx.action << " for " << ctx.principal_arn
                << " (check the statements' Action and Principal; --principal sets the caller)\n";
    }
  }
  bool debug = true;
  for (unsigned i = 0; i <= 2; ++i) {
    auto it = pcrs.find(i);
    debug = debug && it != pcrs.end() && all_zero(it->second);
  }
  if (debug) {
    std::cout << "  note: PCR0, PCR1 and PCR2 are all zero: this is a debug-mode enclave (nitro-cli\n"
                 "        run-enclave --debug-mode); production key policies should not admit it\n";
  }
  return d.allowed ? 0 : 1;
}

}  // namespace

Runner add_policy_check_command(CLI::App& app) {
  auto f = std::make_shared<PolicyCheckFlags>();
  auto* sub = app.add_subcommand(
      "policy-check", "Evaluate a KMS key policy against an enclave's measurements before deploying");
  sub->add_option("--policy", f->policy_file, "Key policy JSON file (as GetKeyPolicy prints it)")->required();
  sub->add_option("--attestation", f->attestation_file,
                  "Take the PCRs from this attestation document (CBOR, base64 or hex; its signature is\n"
                  "not checked here: use inspect-attestation for that)");
  sub->add_option("--measurements", f->measurements_file,
                  "Take the PCRs from nitro-cli build-enclave/describe-eif/describe-enclaves JSON");
  sub->add_option("--pcr", f->pcrs, "PCR value N=HEX (96 hex digits; wins over the files); repeatable");
  sub->add_option("--action", f->action, "KMS action (default kms:Decrypt)");
  sub->add_option("--principal", f->principal,
                  "Caller ARN, e.g. the enclave's instance role (default: the root of the key's account,\n"
                  "taken from the policy)");
  sub->add_option("--encryption-context", f->encryption_context,
                  "Encryption context pair K=V of the request; repeatable");
  sub->add_option("--condition", f->conditions,
                  "Any other condition key of the request, KEY=VALUE (e.g. aws:SourceIp=203.0.113.7,\n"
                  "kms:ViaService=..., aws:CurrentTime=2026-12-01T00:00:00Z); repeat a key for several\n"
                  "values. aws:CurrentTime and aws:EpochTime default to now, aws:SecureTransport to true");
  sub->footer(
      "Evaluates the policy as KMS does (explicit Deny wins, then any Allow whose conditions hold),\n"
      "with kms:RecipientAttestation:ImageSha384 and :PCR<n> taken from the enclave's measurements,\n"
      "and says which statement decided and which condition failed, e.g.\n"
      "  PCR0 expected 3aa0..., enclave has 0000... (debug-mode enclave)\n"
      "Exit status: 0 allowed, 1 denied, 2 usage or input error.\n"
      "Examples:\n"
      "  kms-proxy policy-check --policy key-policy.json --measurements measurements.json\n"
      "  aws kms get-key-policy --key-id $KEY --policy-name default --output text > key-policy.json\n"
      "  kms-proxy policy-check --policy key-policy.json --attestation doc.b64 \\\n"
      "      --principal arn:aws:iam::111122223333:role/enclave --encryption-context app=billing\n"
      "  kms-proxy policy-check --policy key-policy.json --action kms:GenerateDataKey --pcr 0=$PCR0");
  return [sub, f]() -> int { return *sub ? policy_check(*f) : -1; };
}

}  // namespace kp::cli
