// File: policy/policy.h
// AWS KMS key-policy parser and evaluator, shared by the KMS emulator (every
// request) and `kms-proxy policy-check`. Implements the IAM policy language
// subset key policies use: Allow/Deny statements with Principal/NotPrincipal,
// Action/NotAction, Resource/NotResource and Condition blocks with the String*,
// Arn*, Numeric*, Date*, Bool, BinaryEquals, IpAddress / NotIpAddress and Null
// operators, the ...IfExists suffix and the ForAnyValue: / ForAllValues: set
// qualifiers. Pure: Boost.JSON only, no Asio, no I/O.
//
// Evaluation rules implemented (IAM User Guide, "Policy evaluation logic",
// "Condition operators", "Condition with multiple context keys or values"):
//  * explicit Deny wins; otherwise any applicable Allow; otherwise implicit deny.
//  * Within a Condition, operators are AND'ed and keys within an operator are
//    AND'ed; the values listed for one key are OR'ed for positive operators and
//    NOR'ed for negated ones (StringNotEquals: "matches none of").
//  * Missing key: the condition is false, except that negated operators
//    (StringNotEquals, StringNotLike, ArnNot*, ...) are TRUE on a missing key
//    ("If the policy condition requires that the key is not matched ... and the
//    right key is not present, the condition is true", reference_policies_
//    elements_condition_operators; also NumericNotEquals, DateNotEquals and
//    NotIpAddress); ...IfExists is true on a missing key; Null
//    tests presence. A key present with no values counts as missing.
//  * Set qualifiers: ForAnyValue is false on a missing/empty key, ForAllValues
//    is true on it (reference_policies_condition-single-vs-multi-valued-context-keys).
//    With a negated operator, ForAnyValue = "some request value matches none of
//    the policy values", ForAllValues = "no request value matches any".
//    Without a qualifier a multi-valued request key matches a positive operator
//    if any value matches and a negated one if no value matches.
//  * Condition key names are case-insensitive, including the <context-key> part
//    of kms:EncryptionContext:<context-key> (KMS Developer Guide, "Case
//    sensitivity of the encryption context condition"); values compare as the
//    operator says (StringEquals case-sensitive, ...IgnoreCase not).
//  * Action names match case-insensitively with * and ? wildcards; resources
//    and Arn* operators case-sensitively, ARN segment by segment.
//  * Principals: "*" / {"AWS":"*"} match everyone; an account ("111122223333"
//    or "arn:aws:iam::111122223333:root") matches every principal of that
//    account (the emulator has no IAM policies, so "delegate to IAM" is taken
//    as allowed); a role ARN also matches that role's STS assumed-role
//    sessions; other ARNs and Service/Federated/CanonicalUser names match exactly.
//  * NotPrincipal: the statement applies unless it names every principal the
//    request is made by, each exactly: an IAM user and its account; an
//    assumed-role session, its role and its account (IAM User Guide,
//    "NotPrincipal"); an account listed alone does not spare its users.
//  * Typed operators (policy/typed_values.h): a policy value that is not a
//    number / date / address / base64 is a parse error (a clear error beats a
//    silently wrong decision); a request value that is not one matches no
//    policy value. Numeric and Date order: NumericLessThan holds when the
//    request's value is less than a policy value.
//  * Policy variables (Version 2012-10-17 only; 2008-10-17 takes them
//    literally) in String* and Arn* condition values and in Resource: ${key}
//    is the request's single value of that key, ${key, 'default'} the default
//    otherwise, ${*} ${?} ${$} those characters taken literally; a resolved
//    value is literal inside a pattern (policy/variables.h). A variable that
//    does not resolve makes its condition fail (so a Deny with it does not
//    apply), except that ...IfExists on an absent key holds; in Resource it
//    names nothing.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace kp::policy {

/// Largest policy document accepted (the PutKeyPolicy Policy length limit).
inline constexpr std::size_t kMaxPolicyBytes = 131072;

enum class Effect { kAllow, kDeny };

enum class ConditionOp {
  kStringEquals,
  kStringNotEquals,
  kStringEqualsIgnoreCase,
  kStringNotEqualsIgnoreCase,
  kStringLike,
  kStringNotLike,
  kArnEquals,
  kArnNotEquals,
  kArnLike,
  kArnNotLike,
  kNumericEquals,
  kNumericNotEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kDateEquals,
  kDateNotEquals,
  kDateLessThan,
  kDateLessThanEquals,
  kDateGreaterThan,
  kDateGreaterThanEquals,
  kBool,
  kBinaryEquals,
  kIpAddress,
  kNotIpAddress,
  kNull,
};

enum class SetQualifier { kNone, kForAnyValue, kForAllValues };

struct Condition {
  std::string operator_name;  // as written, e.g. "ForAnyValue:StringEqualsIgnoreCase"
  ConditionOp op = ConditionOp::kStringEquals;
  SetQualifier qualifier = SetQualifier::kNone;
  bool if_exists = false;
  std::string key;                  // as written, e.g. "kms:RecipientAttestation:PCR0"
  std::vector<std::string> values;  // booleans/numbers are kept in their JSON text form
};

/// One Principal or NotPrincipal element.
struct Principal {
  bool everyone = false;  // "Principal": "*" (or {"AWS": "*"})
  std::vector<std::string> aws;
  std::vector<std::string> service;
  std::vector<std::string> federated;
  std::vector<std::string> canonical_user;
};

struct Statement {
  std::string sid;  // may be empty
  Effect effect = Effect::kAllow;
  Principal principal;
  bool not_principal = false;
  std::vector<std::string> actions;
  bool not_action = false;
  std::vector<std::string> resources;
  bool not_resource = false;
  std::vector<Condition> conditions;

  /// False for a statement without Action/NotAction or Resource/NotResource:
  /// KMS accepts it, and it applies to nothing.
  bool effective() const noexcept { return !actions.empty() && !resources.empty(); }
};

struct Policy {
  std::string version;  // "2012-10-17" or "2008-10-17" (the default when absent)
  std::string id;
  std::vector<Statement> statements;
};

/// KMS's quota on one key policy document ("Key policy document size: 32 KB"),
/// below the API model's 131072-character limit on the parameter.
inline constexpr std::size_t kKeyPolicyQuotaBytes = 32768;

/// What PutKeyPolicy and CreateKey check of a document besides its grammar:
/// at most kKeyPolicyQuotaBytes (Errc::kLimitExceeded), and only tab, LF, CR
/// and U+0020..U+00FF, in UTF-8 (Errc::kValidation): the characters the KMS
/// API reference allows in a key policy.
Result<void> check_attachable(std::string_view text);

/// Parses and validates a key policy document. Errc::kMalformedPolicy naming
/// what is wrong (like KMS's MalformedPolicyDocumentException).
Result<Policy> parse_policy(std::string_view json);

/// What the caller knows about a request.
struct RequestContext {
  std::string action;          // "kms:Decrypt"
  std::string principal_arn;   // "arn:aws:iam::111122223333:role/app" or an STS assumed-role ARN
  std::string caller_account;  // "111122223333" (derived from principal_arn when empty)
  std::string resource;        // the key ARN; empty = "the key this policy is attached to"
  /// Condition keys and their values, e.g. "kms:RecipientAttestation:PCR0" ->
  /// {"3aa0..."}, "kms:EncryptionContextKeys" -> {"a", "b"}. Absent keys are
  /// simply not in the map. aws:PrincipalArn, kms:CallerAccount and
  /// aws:PrincipalAccount default to principal_arn / the caller account.
  std::map<std::string, std::vector<std::string>> keys;
};

/// Adds kms:EncryptionContext:<k> and kms:EncryptionContextKeys.
void add_encryption_context(RequestContext& ctx, const std::map<std::string, std::string>& encryption_context);
/// Adds kms:RecipientAttestation:ImageSha384 (= PCR0) and
/// kms:RecipientAttestation:PCR<n> for every PCR given, as lower-case hex
/// (the form KMS documents).
void add_recipient_attestation(RequestContext& ctx, const std::map<unsigned, Bytes>& pcrs);

struct ConditionFailure {
  ConditionOp op = ConditionOp::kStringEquals;
  std::string operator_name;          // as written in the policy
  std::string key;                    // as written in the policy
  std::vector<std::string> expected;  // the policy's values
  std::vector<std::string> actual;    // the request's values (empty when absent)
  bool key_present = false;
  std::string unresolved;             // why a policy variable in `expected` did not resolve
};

/// A statement whose action, principal and resource applied but whose
/// conditions did not all hold.
struct ConditionMiss {
  std::size_t statement_index = 0;
  std::string sid;
  Effect effect = Effect::kAllow;
  std::vector<ConditionFailure> failures;
};

struct Decision {
  bool allowed = false;
  bool explicit_deny = false;
  /// The deciding statement: the first applicable Deny, else the first
  /// applicable Allow; empty for an implicit deny.
  std::optional<std::size_t> statement_index;
  std::string statement_sid;
  std::vector<ConditionMiss> condition_misses;

  /// "statement \"Sid\"", "statement #3" or "no statement (implicit deny)".
  std::string decided_by() const;
};

Decision evaluate(const Policy& policy, const RequestContext& ctx);

/// StringNotEquals, NumericNotEquals, NotIpAddress, ...: the operators that
/// hold when no policy value matches (and on a missing key).
bool is_negated(ConditionOp op) noexcept;

/// e.g. "StringEqualsIgnoreCase kms:RecipientAttestation:PCR0: expected 3aa0..., request has 0000..."
/// (or "... request has no value"), with unresolved_note() at the end.
std::string describe(const ConditionFailure& failure);

/// " (a policy variable does not resolve, ...: WHY)" when one in the
/// condition's values did not, else "".
std::string unresolved_note(const ConditionFailure& failure);

/// The policy KMS attaches when CreateKey gets none, formatted as GetKeyPolicy returns it.
std::string default_key_policy(std::string_view account_id, std::string_view partition = "aws");

/// AWS's AccessDeniedException wording for a key policy decision.
std::string access_denied_message(std::string_view principal_arn, std::string_view action,
                                  std::string_view key_arn, bool explicit_deny);

}  // namespace kp::policy
