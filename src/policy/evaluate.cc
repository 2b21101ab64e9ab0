// Key policy evaluation (policy.h), plus KMS's default policy and messages.
#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "base/encoding.h"
#include "policy/kms_request.h"
#include "policy/match.h"
#include "policy/policy.h"
#include "policy/typed_values.h"
#include "policy/variables.h"

namespace kp::policy {

namespace {

bool is_account_id(std::string_view s) {
  return s.size() == 12 && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string caller_account(const RequestContext& ctx) {
  if (!ctx.caller_account.empty()) {
    return ctx.caller_account;
  }
  if (auto a = parse_arn(ctx.principal_arn)) {
    return std::string(a->account);
  }
  return {};
}

// "arn:aws:sts::111122223333:assumed-role/Name/session" -> the role it is a session of.
bool is_session_of_role(const Arn& role, std::string_view principal_arn) {
  auto session = parse_arn(principal_arn);
  if (!session || session->service != "sts" || session->resource.rfind("assumed-role/", 0) != 0 ||
      session->partition != role.partition || session->account != role.account) {
    return false;
  }
  std::string_view rest = session->resource.substr(13);
  const std::string_view session_role = rest.substr(0, rest.find('/'));
  // A role ARN may carry a path (role/path/Name); the session ARN only has the name.
  const std::string_view role_name = role.resource.substr(role.resource.rfind('/') + 1);
  return !session_role.empty() && session_role == role_name;
}

bool principal_matches(const Principal& p, const RequestContext& ctx) {
  if (p.everyone) {
    return true;
  }
  const std::string account = caller_account(ctx);
  for (const auto& a : p.aws) {
    if (a == ctx.principal_arn) {
      return true;
    }
    if (is_account_id(a)) {
      if (a == account) {
        return true;
      }
      continue;
    }
    auto arn = parse_arn(a);
    if (!arn || arn->service != "iam") {
      continue;
    }
    if (arn->resource == "root") {
      if (!account.empty() && arn->account == account) {
        return true;
      }
    } else if (arn->resource.rfind("role/", 0) == 0 && is_session_of_role(*arn, ctx.principal_arn)) {
      return true;
    }
  }
  for (const auto* list : {&p.service, &p.federated, &p.canonical_user}) {
    for (const auto& name : *list) {
      if (name == ctx.principal_arn) {
        return true;
      }
    }
  }
  return false;
}

// The principals a request is made by, for NotPrincipal: the caller, plus
// for an STS assumed-role session its role, plus (unless the caller is the
// account itself) its account. IAM evaluates NotPrincipal against each of
// them: a Deny with NotPrincipal spares a session only if it lists the
// session, the role and the account (IAM User Guide, "NotPrincipal": "you
// must also specify the account ARN ... the role ARN and the session").
struct CallerIdentities {
  std::string caller;                   // the principal ARN (or service name) itself
  bool session = false;                 // an STS assumed-role session: its role counts too
  std::optional<std::string> account;   // "arn:...:iam::A:root", unless the caller is it
};

CallerIdentities caller_identities(const RequestContext& ctx) {
  CallerIdentities out{ctx.principal_arn, false, std::nullopt};
  const auto arn = parse_arn(ctx.principal_arn);
  if (!arn || arn->account.empty()) {
    return out;  // a service principal, or a name: just itself
  }
  out.session = arn->service == "sts" && arn->resource.rfind("assumed-role/", 0) == 0;
  if (!(arn->service == "iam" && arn->resource == "root")) {
    out.account = "arn:" + std::string(arn->partition) + ":iam::" + std::string(arn->account) + ":root";
  }
  return out;
}

// Does the Principal element name `identity` itself (an account also as its
// 12-digit id)? No wildcards and no "account covers its principals" here.
bool names_exactly(const Principal& p, std::string_view identity) {
  for (const auto* list : {&p.aws, &p.service, &p.federated, &p.canonical_user}) {
    for (const auto& name : *list) {
      if (name == identity) {
        return true;
      }
    }
  }
  if (const auto arn = parse_arn(identity); arn && arn->service == "iam" && arn->resource == "root") {
    for (const auto& name : p.aws) {
      if (is_account_id(name) && name == arn->account) {
        return true;
      }
    }
  }
  return false;
}

// Does the Principal element name the role of session `session_arn`? The
// session ARN has the role's name but not its path: role/team/app and
// role/app both name the role of assumed-role/app/... (as Principal does).
bool names_role_of(const Principal& p, std::string_view session_arn) {
  for (const auto& name : p.aws) {
    const auto arn = parse_arn(name);
    if (arn && arn->service == "iam" && arn->resource.rfind("role/", 0) == 0 &&
        is_session_of_role(*arn, session_arn)) {
      return true;
    }
  }
  return false;
}

// NotPrincipal: the statement leaves out the caller only when it names every
// principal the request is made by.
bool not_principal_excludes(const Principal& p, const RequestContext& ctx) {
  if (p.everyone) {
    return true;
  }
  const CallerIdentities who = caller_identities(ctx);
  return names_exactly(p, who.caller) && (!who.session || names_role_of(p, who.caller)) &&
         (!who.account || names_exactly(p, *who.account));
}

bool action_applies(const Statement& st, std::string_view action) {
  bool any = false;
  for (const auto& pattern : st.actions) {
    if (wildcard_match(pattern, action, /*ignore_case=*/true)) {
      any = true;
      break;
    }
  }
  return st.not_action ? !any : any;
}

// `variables`: the policy is 2012-10-17, so ${...} in a Resource resolves
// (an entry whose variable does not resolve names nothing).
bool resource_applies(const Statement& st, const RequestContext& ctx, bool variables, std::size_t& budget) {
  // Without a resource the request is for "the key this policy is attached
  // to", which every Resource entry of a key policy denotes.
  const std::string_view resource = ctx.resource;
  if (resource.empty()) {
    return !st.not_resource;
  }
  bool any = false;
  for (const auto& pattern : st.resources) {
    if (variables && pattern.find("${") != std::string::npos) {
      const auto resolved = detail::resolve_variables(pattern, ctx, /*pattern=*/true, budget);
      any = resolved && wildcard_match(*resolved, resource, /*ignore_case=*/false, /*escapes=*/true);
    } else {
      any = wildcard_match(pattern, resource, /*ignore_case=*/false);
    }
    if (any) {
      break;
    }
  }
  return st.not_resource ? !any : any;
}


// `c` with its policy variables resolved (nullopt: one did not resolve, and
// `why` says which and why).
std::optional<Condition> with_variables(const Condition& c, const RequestContext& ctx, std::size_t& budget,
                                        std::string& why) {
  Condition out = c;
  const bool pattern = detail::is_pattern_operator(c.op);
  for (auto& v : out.values) {
    auto r = detail::resolve_variables(v, ctx, pattern, budget, &why);
    if (!r) {
      return std::nullopt;
    }
    v = std::move(*r);
  }
  return out;
}

bool negated(ConditionOp op) {
  switch (op) {
    case ConditionOp::kStringNotEquals:
    case ConditionOp::kStringNotEqualsIgnoreCase:
    case ConditionOp::kStringNotLike:
    case ConditionOp::kArnNotEquals:
    case ConditionOp::kArnNotLike:
    case ConditionOp::kNumericNotEquals:
    case ConditionOp::kDateNotEquals:
    case ConditionOp::kNotIpAddress:
      return true;
    default:
      return false;
  }
}

// -1, 0, 1 as request <, ==, > policy; nullopt when either is not a value of
// the type (a policy's are checked at parse time, a request's may be anything).
template <class Parse>
std::optional<int> compare_typed(Parse parse, std::string_view policy_value, std::string_view request_value) {
  const auto p = parse(policy_value);
  const auto r = parse(request_value);
  if (!p || !r) {
    return std::nullopt;
  }
  return *r < *p ? -1 : (*p < *r ? 1 : 0);
}

// The relation an ordered operator asks for, given the comparison's sign.
bool order_holds(ConditionOp op, std::optional<int> cmp) {
  if (!cmp) {
    return false;
  }
  switch (op) {
    case ConditionOp::kNumericLessThan:
    case ConditionOp::kDateLessThan:
      return *cmp < 0;
    case ConditionOp::kNumericLessThanEquals:
    case ConditionOp::kDateLessThanEquals:
      return *cmp <= 0;
    case ConditionOp::kNumericGreaterThan:
    case ConditionOp::kDateGreaterThan:
      return *cmp > 0;
    case ConditionOp::kNumericGreaterThanEquals:
    case ConditionOp::kDateGreaterThanEquals:
      return *cmp >= 0;
    default:  // the Equals / NotEquals pairs: their positive relation
      return *cmp == 0;
  }
}

// The positive relation behind `op` for one policy value and one request value.
// `escapes`: the policy value has its variables resolved (wildcard_match).
bool value_matches(ConditionOp op, std::string_view policy_value, std::string_view request_value, bool escapes) {
  switch (typed_kind(op)) {
    case TypedKind::kNumber:
      return order_holds(op, compare_typed(parse_number, policy_value, request_value));
    case TypedKind::kDate:
      return order_holds(op, compare_typed(parse_date_ms, policy_value, request_value));
    case TypedKind::kIpAddress: {
      const auto range = parse_ip_range(policy_value);
      return range && ip_in_range(*range, request_value);
    }
    case TypedKind::kBinary: {
      const auto p = parse_binary(policy_value);
      const auto r = parse_binary(request_value);
      return p && r && *p == *r;
    }
    case TypedKind::kNone:
      break;
  }
  switch (op) {
    case ConditionOp::kStringEquals:
    case ConditionOp::kStringNotEquals:
      return policy_value == request_value;
    case ConditionOp::kStringEqualsIgnoreCase:
    case ConditionOp::kStringNotEqualsIgnoreCase:
    case ConditionOp::kBool:
      return ascii_iequals(policy_value, request_value);
    case ConditionOp::kStringLike:
    case ConditionOp::kStringNotLike:
      return wildcard_match(policy_value, request_value, /*ignore_case=*/false, escapes);
    case ConditionOp::kArnEquals:
    case ConditionOp::kArnNotEquals:
    case ConditionOp::kArnLike:
    case ConditionOp::kArnNotLike:
      return arn_match(policy_value, request_value, escapes);
    default:  // kNull (handled by condition_holds) and the typed operators above
      return false;
  }
}

bool condition_holds(const Condition& c, const std::vector<std::string>& actual, bool escapes = false) {
  const bool present = !actual.empty();
  if (c.op == ConditionOp::kNull) {
    // "true" = the key must be absent, "false" = it must be present; values OR'ed.
    for (const auto& v : c.values) {
      if (ascii_iequals(v, "true") != present) {
        return true;
      }
    }
    return false;
  }
  const bool neg = negated(c.op);
  if (!present) {
    if (c.if_exists || c.qualifier == SetQualifier::kForAllValues) {
      return true;
    }
    if (c.qualifier == SetQualifier::kForAnyValue) {
      return false;
    }
    return neg;  // negated operators hold on a missing key
  }
  auto matches_any_policy_value = [&](const std::string& request_value) {
    for (const auto& p : c.values) {
      if (value_matches(c.op, p, request_value, escapes)) {
        return true;
      }
    }
    return false;
  };
  switch (c.qualifier) {
    case SetQualifier::kForAllValues:
      for (const auto& v : actual) {
        if (matches_any_policy_value(v) == neg) {
          return false;
        }
      }
      return true;
    case SetQualifier::kForAnyValue:
      for (const auto& v : actual) {
        if (matches_any_policy_value(v) != neg) {
          return true;
        }
      }
      return false;
    case SetQualifier::kNone:
      break;
  }
  bool any = false;
  for (const auto& v : actual) {
    if (matches_any_policy_value(v)) {
      any = true;
      break;
    }
  }
  return neg ? !any : any;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i != 0) {
      out += sep;
    }
    out += v[i];
  }
  return out;
}

}  // namespace

std::vector<std::string> detail::lookup_key(const RequestContext& ctx, std::string_view key) {
  std::vector<std::string> out;
  bool found = false;
  for (const auto& [name, values] : ctx.keys) {
    if (ascii_iequals(name, key)) {
      found = true;
      out.insert(out.end(), values.begin(), values.end());
    }
  }
  if (!found) {
    if (ascii_iequals(key, "aws:PrincipalArn") && !ctx.principal_arn.empty()) {
      out.push_back(principal_arn_key_value(ctx.principal_arn));
    } else if (ascii_iequals(key, "kms:CallerAccount") || ascii_iequals(key, "aws:PrincipalAccount")) {
      if (auto a = caller_account(ctx); !a.empty()) {
        out.push_back(std::move(a));
      }
    }
  }
  return out;
}

Decision evaluate(const Policy& policy, const RequestContext& ctx) {
  Decision d;
  const bool variables = policy.version == "2012-10-17";  // 2008-10-17 takes "${" literally
  std::size_t budget = detail::kVariableBudget;
  std::optional<std::size_t> first_allow;
  for (std::size_t i = 0; i < policy.statements.size(); ++i) {
    const Statement& st = policy.statements[i];
    if (!st.effective()) {
      continue;
    }
    const bool principal_applies =
        st.not_principal ? !not_principal_excludes(st.principal, ctx) : principal_matches(st.principal, ctx);
    if (!action_applies(st, ctx.action) || !principal_applies || !resource_applies(st, ctx, variables, budget)) {
      continue;
    }
    // Evaluate every condition (no short-circuit) so policy-check can show all failures.
    std::vector<ConditionFailure> failures;
    for (const Condition& c : st.conditions) {
      std::vector<std::string> actual = detail::lookup_key(ctx, c.key);
      const bool resolve = variables && detail::takes_variables(c.op) &&
                           std::any_of(c.values.begin(), c.values.end(),
                                       [](const std::string& v) { return v.find("${") != std::string::npos; });
      std::string unresolved;
      const std::optional<Condition> resolved = resolve ? with_variables(c, ctx, budget, unresolved) : std::nullopt;
      // ...IfExists on an absent key holds whatever its values say ("use
      // IfExists to prevent variables from causing invalid statements").
      const bool holds = !resolve ? condition_holds(c, actual)
                         : resolved ? condition_holds(*resolved, actual, detail::is_pattern_operator(c.op))
                                    : c.if_exists && actual.empty();
      if (!holds) {
        const bool present = !actual.empty();
        failures.push_back(ConditionFailure{c.op, c.operator_name, c.key, c.values, std::move(actual), present,
                                            resolve && !resolved ? std::move(unresolved) : std::string()});
      }
    }
    if (!failures.empty()) {
      d.condition_misses.push_back(ConditionMiss{i, st.sid, st.effect, std::move(failures)});
      continue;
    }
    if (st.effect == Effect::kDeny) {
      if (!d.explicit_deny) {
        d.explicit_deny = true;
        d.statement_index = i;
        d.statement_sid = st.sid;
      }
    } else if (!first_allow) {
      first_allow = i;
    }
  }
  if (!d.explicit_deny && first_allow) {
    d.allowed = true;
    d.statement_index = first_allow;
    d.statement_sid = policy.statements[*first_allow].sid;
  }
  return d;
}

std::string Decision::decided_by() const {
  if (!statement_index) {
    return "no statement (implicit deny)";
  }
  if (!statement_sid.empty()) {
    return "statement \"" + statement_sid + "\"";
  }
  return "statement #" + std::to_string(*statement_index);
}

namespace {

// How describe() introduces the policy's values.
std::string_view expectation(ConditionOp op) {
  switch (op) {
    case ConditionOp::kNumericLessThan: return "expected less than ";
    case ConditionOp::kNumericLessThanEquals: return "expected at most ";
    case ConditionOp::kNumericGreaterThan: return "expected more than ";
    case ConditionOp::kNumericGreaterThanEquals: return "expected at least ";
    case ConditionOp::kDateLessThan: return "expected before ";
    case ConditionOp::kDateLessThanEquals: return "expected at or before ";
    case ConditionOp::kDateGreaterThan: return "expected after ";
    case ConditionOp::kDateGreaterThanEquals: return "expected at or after ";
    case ConditionOp::kIpAddress: return "expected an address in ";
    case ConditionOp::kNotIpAddress: return "expected an address in none of ";
    default: return negated(op) ? "expected none of " : "expected ";
  }
}

}  // namespace

bool is_negated(ConditionOp op) noexcept { return negated(op); }

std::string unresolved_note(const ConditionFailure& f) {
  return f.unresolved.empty() ? std::string()
                              : " (a policy variable does not resolve, so the condition cannot hold: " + f.unresolved + ")";
}

std::string describe(const ConditionFailure& f) {
  std::string out = f.operator_name + " " + f.key + ": ";
  if (f.op == ConditionOp::kNull) {
    const bool want_absent = !f.expected.empty() && ascii_iequals(f.expected.front(), "true");
    out += want_absent ? "expected the key to be absent" : "expected the key to be present";
  } else {
    out += expectation(f.op);
    out += join(f.expected, negated(f.op) ? ", " : " or ");
  }
  out += f.key_present ? ", request has " + join(f.actual, ", ") : ", request has no value";
  out += unresolved_note(f);
  return out;
}

void add_encryption_context(RequestContext& ctx, const std::map<std::string, std::string>& encryption_context) {
  if (encryption_context.empty()) {
    return;
  }
  auto& keys = ctx.keys["kms:EncryptionContextKeys"];
  for (const auto& [k, v] : encryption_context) {
    ctx.keys["kms:EncryptionContext:" + k] = {v};
    keys.push_back(k);
  }
}

void add_recipient_attestation(RequestContext& ctx, const std::map<unsigned, Bytes>& pcrs) {
  for (const auto& [index, value] : pcrs) {
    std::string hex = hex_encode(value);
    if (index == 0) {
      ctx.keys["kms:RecipientAttestation:ImageSha384"] = {hex};
    }
    ctx.keys["kms:RecipientAttestation:PCR" + std::to_string(index)] = {std::move(hex)};
  }
}

std::string default_key_policy(std::string_view account_id, std::string_view partition) {
  std::string out;
  out += "{\n";
  out += "  \"Version\" : \"2012-10-17\",\n";
  out += "  \"Id\" : \"key-default-1\",\n";
  out += "  \"Statement\" : [ {\n";
  out += "    \"Sid\" : \"Enable IAM User Permissions\",\n";
  out += "    \"Effect\" : \"Allow\",\n";
  out += "    \"Principal\" : {\n";
  out += "      \"AWS\" : \"arn:" + std::string(partition) + ":iam::" + std::string(account_id) + ":root\"\n";
  out += "    },\n";
  out += "    \"Action\" : \"kms:*\",\n";
  out += "    \"Resource\" : \"*\"\n";
  out += "  } ]\n";
  out += "}";
  return out;
}

std::string access_denied_message(std::string_view principal_arn, std::string_view action,
                                  std::string_view key_arn, bool explicit_deny) {
  std::string out = "User: " + std::string(principal_arn) + " is not authorized to perform: " + std::string(action) +
                    " on resource: " + std::string(key_arn);
  if (explicit_deny) {
    out += " with an explicit deny in a resource-based policy";
  } else {
    out += " because no resource-based policy allows the " + std::string(action) + " action";
  }
  return out;
}

}  // namespace kp::policy
