// `kms-proxy policy-check`: evaluates a KMS key policy against an enclave's
// measurements before deployment, with the same evaluator as kms-emulator.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attestation/document.h"
#include "attestation/inspect.h"
#include "base/clock.h"
#include "base/encoding.h"
#include "base/file_input.h"
#include "base/http_message.h"
#include "base/time_format.h"
#include "cli/commands.h"
#include "config/config.h"
#include "config/measurements.h"
#include "kms/operations.h"
#include "policy/kms_request.h"
#include "policy/match.h"
#include "policy/policy.h"

namespace kp::cli {

namespace {

struct PolicyCheckFlags {
  std::string policy_file;
  std::string attestation_file;
  std::string measurements_file;
  std::vector<std::string> pcrs;
  std::string action = "kms:Decrypt";
  bool no_recipient = false;
  std::string principal;
  std::string key_arn;
  std::string key_spec = "SYMMETRIC_DEFAULT";
  std::string key_usage = "ENCRYPT_DECRYPT";
  std::vector<std::string> encryption_context;
  std::vector<std::string> conditions;  // KEY=VALUE, repeatable per key
};

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
  // PCR<n> without leading zeros: KMS supplies "PCR1", so a policy's "PCR01"
  // names a key no request carries (describe() then says "no value").
  if (rest.starts_with("pcr") && rest.size() > 3 && rest.size() <= 5 &&
      rest.find_first_not_of("0123456789", 3) == std::string_view::npos && (rest.size() == 4 || rest[3] != '0')) {
    return static_cast<unsigned>(std::stoul(std::string(rest.substr(3))));
  }
  return std::nullopt;
}

std::string statement_name(std::size_t index, const std::string& sid) {
  return sid.empty() ? "statement #" + std::to_string(index) : "statement \"" + sid + "\"";
}

// One failed condition, with the request's values, operator-first for PCR keys:
//   "PCR0 expected 3aa0..., enclave has 0000... (debug-mode enclave)"
//   "    condition: StringEqualsIgnoreCase kms:RecipientAttestation:ImageSha384"
// and describe()'s wording for every other key.
std::string explain(const policy::ConditionFailure& f) {
  const auto idx = pcr_of_key(f.key);
  if (!idx || f.op == policy::ConditionOp::kNull) {
    return policy::describe(f);
  }
  // The request's values (the measurements, or what --condition put there).
  const bool negated = policy::is_negated(f.op);
  std::string line = "PCR" + std::to_string(*idx) + (negated ? " expected none of " : " expected ") +
                     (f.expected.empty() ? std::string("(nothing)") : join(f.expected, " or ")) + ", enclave has " +
                     (f.actual.empty() ? std::string("no value (not measured, not given, or no Recipient)")
                                       : join(f.actual, ", "));
  line += policy::unresolved_note(f);
  for (const auto& actual : f.actual) {
    if (*idx <= 2 && !actual.empty() && actual.find_first_not_of('0') == std::string::npos) {
      line += " (debug-mode enclave)";
      break;
    }
  }
  if (!negated) {
    for (const auto& e : f.expected) {
      for (const auto& actual : f.actual) {
        if (e != actual && lower(e) == lower(actual)) {
          line += " (differs only in letter case: use StringEqualsIgnoreCase or lower-case hex)";
          return line + "\n      condition: " + f.operator_name + " " + f.key;
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

// The 12-digit account of an ARN ("" when it is none).
std::string account_of(std::string_view arn) {
  const auto a = policy::parse_arn(arn);
  return a && a->account.size() == 12 && a->account.find_first_not_of("0123456789") == std::string_view::npos
             ? std::string(a->account)
             : std::string();
}

// arn:PARTITION:kms:REGION:ACCOUNT:key/ID -> region ("" if it is not one).
std::string key_arn_region(std::string_view arn) {
  const auto a = policy::parse_arn(arn);
  const bool key = a && a->service == "kms" && a->resource.starts_with("key/") && !account_of(arn).empty();
  return key ? std::string(a->region) : std::string();
}

// Operations on no key: no key policy governs them (IAM policies do).
bool names_no_key(std::string_view op) {
  for (const std::string_view n : {"CreateKey", "GenerateRandom", "ListKeys", "ListAliases", "ListRetirableGrants"}) {
    if (op == n) {
      return true;
    }
  }
  return op.find("CustomKeyStore") != std::string_view::npos;
}

// --condition KEY=VALUE pairs, grouped by key (keys compare case-insensitively;
// the first spelling is kept), in the order given.
std::optional<std::vector<std::pair<std::string, std::vector<std::string>>>> parse_conditions(
    const std::vector<std::string>& given) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& kv : given) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return std::nullopt;
    }
    const std::string key = kv.substr(0, eq);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return lower(e.first) == lower(key); });
    if (it == out.end()) {
      out.emplace_back(key, std::vector<std::string>{});
      it = std::prev(out.end());
    }
    it->second.push_back(kv.substr(eq + 1));
  }
  return out;
}

// The enclave's PCRs from --attestation, --measurements and --pcr (which win
// in that order); nullopt after an error message.
std::optional<std::map<unsigned, Bytes>> read_measurements(const PolicyCheckFlags& f) {
  std::map<unsigned, Bytes> pcrs;
  if (!f.attestation_file.empty()) {
    auto raw = read_input_file(f.attestation_file);
    auto bytes = raw ? attestation::read_document_input(*raw) : Result<Bytes>(raw.error());
    auto doc = bytes ? attestation::parse_document(*bytes) : Result<attestation::AttestationDocument>(bytes.error());
    if (!doc) {
      std::cerr << "policy-check: --attestation: " << doc.error().message << "\n";
      return std::nullopt;
    }
    pcrs = doc->pcrs;
  }
  if (!f.measurements_file.empty()) {
    auto json = read_input_file(f.measurements_file);
    auto m = json ? config::parse_measurements_json(*json) : Result<config::PcrMap>(json.error());
    if (!m) {
      std::cerr << "policy-check: --measurements: " << m.error().message << "\n";
      return std::nullopt;
    }
    for (auto& [i, v] : *m) {
      pcrs[i] = v;
    }
  }
  for (const auto& p : f.pcrs) {
    auto kv = config::parse_pcr_assignment(p);
    if (!kv) {
      std::cerr << "policy-check: --pcr: " << kv.error().message << "\n";
      return std::nullopt;
    }
    pcrs[kv->first] = kv->second;
  }
  return pcrs;
}

// The request policy-check imagines.
struct Request {
  policy::RequestContext ctx;
  std::string action;             // "kms:Decrypt", the model's spelling
  bool accepts_recipient = false;  // one of the five operations
  bool with_recipient = false;     // ... and it carries the attestation keys
};

// The request for --action on the key by the caller, with the condition
// keys KMS would supply; nullopt after an error message.
std::optional<Request> build_request(const PolicyCheckFlags& f, const policy::Policy& pol,
                                     const std::map<unsigned, Bytes>& pcrs) {
  // The action: an IAM action of KMS ("kms:Decrypt", any case). They are the
  // operations' names, except ReEncrypt: kms:ReEncryptFrom on the source
  // key's policy, kms:ReEncryptTo on the destination key's.
  const std::string_view name =
      lower(f.action).starts_with("kms:") ? std::string_view(f.action).substr(4) : std::string_view();
  if (iequals(name, "ReEncrypt")) {
    std::cerr << "policy-check: ReEncrypt is authorized as kms:ReEncryptFrom (by the source key's policy) and "
                 "kms:ReEncryptTo (by the destination key's): check each with --action\n";
    return std::nullopt;
  }
  const bool reencrypt_side = iequals(name, "ReEncryptFrom") || iequals(name, "ReEncryptTo");
  const kms::OperationInfo* op = kms::find_operation(reencrypt_side ? std::string_view("ReEncrypt") : name);
  if (name.empty() || op == nullptr) {
    std::cerr << "policy-check: --action must name a KMS operation, e.g. kms:Decrypt or kms:GenerateDataKey (got \""
              << f.action << "\")\n";
    return std::nullopt;
  }
  const std::string action = !reencrypt_side           ? "kms:" + std::string(op->name)
                             : iequals(name, "ReEncryptFrom") ? std::string("kms:ReEncryptFrom")
                                                              : std::string("kms:ReEncryptTo");
  if (names_no_key(op->name)) {
    std::cerr << "policy-check: " << action
              << " names no key, so no key policy governs it: the caller's IAM policies do (KMS evaluates "
                 "kms:RecipientAttestation conditions there too)\n";
    return std::nullopt;
  }
  // Only the five operations that take a Recipient carry its attestation keys.
  Request r;
  r.action = action;
  r.accepts_recipient = op->accepts_recipient;
  r.with_recipient = op->accepts_recipient && !f.no_recipient;
  if (r.with_recipient && pcrs.empty()) {
    std::cerr << "policy-check: give the enclave's measurements: --attestation DOC, --measurements "
                 "FILE or --pcr N=HEX (or --no-recipient for a request without an attestation document)\n";
    return std::nullopt;
  }
  std::map<std::string, std::string> ec;
  for (const auto& kv : f.encryption_context) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "policy-check: --encryption-context: '" << config::value_for_message(kv)
                << "' is not K=V (a non-empty key)\n";
      return std::nullopt;
    }
    ec[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  const auto overrides = parse_conditions(f.conditions);
  if (!overrides) {
    std::cerr << "policy-check: --condition takes KEY=VALUE, e.g. aws:SourceIp=203.0.113.7\n";
    return std::nullopt;
  }

  // The key: its ARN matches Resource elements and gives the region and account.
  policy::KeyFacts key;
  if (!f.key_arn.empty()) {
    key.region = key_arn_region(f.key_arn);
    if (key.region.empty()) {
      std::cerr << "policy-check: --key-arn must be a key ARN, arn:aws:kms:REGION:ACCOUNT:key/ID\n";
      return std::nullopt;
    }
    key.arn = f.key_arn;
  } else {
    for (std::size_t i = 0; i < pol.statements.size(); ++i) {
      const auto& st = pol.statements[i];
      for (const auto& resource : st.resources) {
        if (st.effective() && resource != "*") {
          std::cerr << "policy-check: " << statement_name(i, st.sid) << " names the resource " << resource
                    << ": pass --key-arn (the key's ARN) to tell whether it is this key\n";
          return std::nullopt;
        }
      }
    }
  }
  key.key_spec = f.key_spec;
  key.key_usage = f.key_usage;

  policy::CallerFacts who;
  if (!f.principal.empty()) {
    const bool account_id = f.principal.size() == 12 && f.principal.find_first_not_of("0123456789") == std::string::npos;
    if (account_id) {
      who.principal_arn = "arn:aws:iam::" + f.principal + ":root";  // as a policy's Principal reads it
    } else if (!account_of(f.principal).empty() && f.principal.size() <= 2048) {
      who.principal_arn = f.principal;
    } else {
      std::cerr << "policy-check: --principal: '" << config::value_for_message(f.principal)
                << "' is not a caller ARN with an account (arn:aws:iam::ACCOUNT:role/NAME, "
                   "arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, arn:aws:iam::ACCOUNT:root) or a 12-digit "
                   "account ID\n";
      return std::nullopt;
    }
  } else if (const std::string acct = account_of(f.key_arn); !acct.empty()) {
    who.principal_arn = "arn:aws:iam::" + acct + ":root";
  } else if (auto acct_of_policy = key_account(pol)) {
    who.principal_arn = "arn:aws:iam::" + *acct_of_policy + ":root";
  } else {
    std::cerr << "policy-check: cannot tell the key's account from the policy: pass --principal ARN or --key-arn\n";
    return std::nullopt;
  }
  who.account = account_of(who.principal_arn);
  who.request_time = SystemClock::instance().now();

  r.ctx = policy::kms_request_context(action, key, who);
  if (r.with_recipient) {
    policy::add_recipient_attestation(r.ctx, pcrs);
  }
  policy::add_encryption_context(r.ctx, ec);
  // --condition replaces what the request would carry for that key.
  for (const auto& [key_name, values] : *overrides) {
    std::erase_if(r.ctx.keys, [&](const auto& e) { return lower(e.first) == lower(key_name); });
    r.ctx.keys[key_name] = values;
  }
  return r;
}

// True when `st` lets `principal` in only through its account (an account
// ID or ":root" entry) and `principal` is not that root: the key policy then
// delegates to IAM, and the caller's IAM policies must allow the action too.
bool allowed_only_as_account(const policy::Statement& st, const std::string& principal) {
  if (st.not_principal || st.principal.everyone || principal.ends_with(":root")) {
    return false;
  }
  const std::string role = policy::principal_arn_key_value(principal);
  for (const auto& a : st.principal.aws) {
    if (a == principal || a == role) {
      return false;
    }
  }
  return true;
}

// The verdict, the deciding statement, and why.
void print_verdict(const policy::Policy& pol, const Request& r, const policy::Decision& d,
                   const std::map<unsigned, Bytes>& pcrs) {
  std::cout << (d.allowed ? "ALLOWED" : "DENIED") << ": " << r.ctx.action << " by " << r.ctx.principal_arn
            << "\n";
  if (d.explicit_deny) {
    std::cout << "  decided by: " << d.decided_by()
              << " (explicit Deny: a Deny statement that applies overrides every Allow)\n";
    const auto& st = pol.statements[*d.statement_index];
    if (st.conditions.empty()) {
      std::cout << "  it has no conditions: it denies " << r.ctx.action << " to this principal always\n";
    } else {
      std::cout << "  its conditions all hold for this enclave:\n";
      for (const auto& c : st.conditions) {
        const auto actual = request_values(r.ctx, c.key);
        std::cout << "    - " << c.operator_name << " " << c.key << ": " << join(c.values, " or ")
                  << "; request has " << (actual.empty() ? std::string("no value") : join(actual, ", "))
                  << "\n";
      }
    }
  } else {
    std::cout << "  decided by: " << d.decided_by() << "\n";
  }
  if (d.allowed && allowed_only_as_account(pol.statements[*d.statement_index], r.ctx.principal_arn)) {
    std::cout << "  note: the statement names the caller's account, not the caller: KMS also needs an IAM\n"
                 "        policy of "
              << r.ctx.principal_arn << " that allows " << r.action << "\n";
  }
  if (!d.allowed && !d.explicit_deny) {
    bool any_allow = false;
    for (const auto& miss : d.condition_misses) {
      if (miss.effect != policy::Effect::kAllow) {
        continue;  // a Deny statement whose conditions failed did not apply: not the cause
      }
      any_allow = true;
      std::cout << "  " << statement_name(miss.statement_index, miss.sid) << " allows " << r.ctx.action
                << " to this principal, but its conditions failed:\n";
      for (const auto& fl : miss.failures) {
        std::cout << "    - " << explain(fl) << "\n";
      }
    }
    if (!any_allow) {
      std::cout << "  no Allow statement covers " << r.ctx.action << " for " << r.ctx.principal_arn
                << " (check the statements' Action and Principal; --principal sets the caller)\n";
    }
  }
  if (!pcrs.empty() && !r.with_recipient) {
    std::cout << "  note: " << (r.accepts_recipient ? "--no-recipient: the request carries no attestation document"
                                                     : r.action + " takes no Recipient")
              << ", so KMS supplies no kms:RecipientAttestation keys and the measurements were not used\n";
  }
  bool debug = r.with_recipient;
  for (unsigned i = 0; i <= 2; ++i) {
    auto it = pcrs.find(i);
    debug = debug && it != pcrs.end() && all_zero(it->second);
  }
  if (debug) {
    std::cout << "  note: PCR0, PCR1 and PCR2 are all zero: this is a debug-mode enclave (nitro-cli\n"
                 "        run-enclave --debug-mode); production key policies should not admit it\n";
  }
}

// `aws kms get-key-policy --output text` without `--query Policy` prints the
// policy, a TAB and the policy's name ("}\tdefault"): not one JSON document.
bool looks_like_cli_text_output(std::string_view text) {
  const auto brace = text.rfind('}');
  if (brace == std::string_view::npos) {
    return false;
  }
  std::string_view rest = text.substr(brace + 1);
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) {
    rest.remove_suffix(1);
  }
  return rest.size() > 1 && rest.front() == '\t' && rest.find_first_of(" \t{}", 1) == std::string_view::npos;
}

int policy_check(const PolicyCheckFlags& f) {
  auto text = read_input_file(f.policy_file);
  if (!text) {
    std::cerr << "policy-check: --policy " << text.error().message << "\n";
    return 2;
  }
  // KMS's document rules first: a Latin-1 file gets the character message,
  // not "not valid JSON".
  if (auto attachable = policy::check_attachable(*text); !attachable) {
    std::cerr << "policy-check: KMS would refuse this policy document (PutKeyPolicy): "
              << attachable.error().message << "\n";
    return 2;
  }
  auto pol = policy::parse_policy(*text);
  if (!pol) {
    std::cerr << "policy-check: " << pol.error().message << "\n";
    if (looks_like_cli_text_output(*text)) {
      std::cerr << "  hint: the file ends with a TAB and the policy's name, as `aws kms get-key-policy "
                   "--output text` prints\n        it without `--query Policy`; fetch it again with "
                   "--query Policy --output text\n";
    }
    return 2;
  }
  const auto pcrs = read_measurements(f);
  if (!pcrs) {
    return 2;
  }
  const auto request = build_request(f, *pol, *pcrs);
  if (!request) {
    return 2;
  }
  const auto d = policy::evaluate(*pol, request->ctx);
  print_verdict(*pol, *request, d, *pcrs);
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
  sub->add_flag("--no-recipient", f->no_recipient,
                "The request carries no attestation document (e.g. Decrypt from the parent instance):\n"
                "does the policy keep such callers out?");
  sub->add_option("--principal", f->principal,
                  "Caller ARN, e.g. the enclave's instance role or its assumed-role session, or a 12-digit\n"
                  "account ID for its root (default: the root of the key's account, from --key-arn or the policy)");
  sub->add_option("--key-arn", f->key_arn,
                  "The key's ARN: matched against Resource elements (required when a statement names\n"
                  "one), and the request's aws:RequestedRegion");
  // The KMS model's KeySpec and KeyUsageType values.
  sub->add_option("--key-spec", f->key_spec, "kms:KeySpec of the key (default SYMMETRIC_DEFAULT)")
      ->check(CLI::IsMember({"SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                             "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519",
                             "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65",
                             "ML_DSA_87"}));
  sub->add_option("--key-usage", f->key_usage, "kms:KeyUsage of the key (default ENCRYPT_DECRYPT)")
      ->check(CLI::IsMember({"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}));
  sub->add_option("--encryption-context", f->encryption_context,
                  "Encryption context pair K=V of the request; repeatable");
  sub->add_option("--condition", f->conditions,
                  "A condition key of the request, KEY=VALUE (e.g. aws:SourceIp=203.0.113.7,\n"
                  "kms:ViaService=..., aws:CurrentTime=2026-12-01T00:00:00Z); replaces the value the\n"
                  "request would carry; repeat a key for several values. Defaults as KMS supplies them:\n"
                  "aws:CurrentTime / aws:EpochTime now, aws:SecureTransport true (KMS is HTTPS-only),\n"
                  "kms:CallerAccount, aws:PrincipalArn (the role of a session), kms:KeySpec, kms:KeyUsage,\n"
                  "kms:KeyOrigin AWS_KMS, kms:EncryptionAlgorithm SYMMETRIC_DEFAULT where it applies");
  sub->footer(
      "Evaluates the key policy as KMS does (explicit Deny wins, then any Allow whose conditions\n"
      "hold) for one request, with the condition keys KMS would supply (the same request context\n"
      "kms-emulator builds) and, for the five operations that take a Recipient,\n"
      "kms:RecipientAttestation:ImageSha384 and :PCR<n> from the enclave's measurements. It says\n"
      "which statement decided and which condition failed, e.g.\n"
      "  PCR0 expected 3aa0..., enclave has 0000... (debug-mode enclave)\n"
      "Exit status: 0 allowed, 1 denied, 2 usage or input error.\n"
      "Examples:\n"
      "  kms-proxy policy-check --policy key-policy.json --measurements measurements.json\n"
      "  aws kms get-key-policy --key-id $KEY --policy-name default --query Policy --output text > key-policy.json\n"
      "  kms-proxy policy-check --policy key-policy.json --attestation doc.b64 \\\n"
      "      --principal arn:aws:iam::111122223333:role/enclave --encryption-context app=billing\n"
      "  kms-proxy policy-check --policy key-policy.json --action kms:GenerateDataKey --pcr 0=$PCR0\n"
      "  kms-proxy policy-check --policy key-policy.json --no-recipient \\\n"
      "      --principal arn:aws:iam::111122223333:role/parent   # should be DENIED");
  return [sub, f]() -> int { return *sub ? policy_check(*f) : -1; };
}

}  // namespace kp::cli
