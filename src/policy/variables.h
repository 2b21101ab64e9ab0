// File: policy/variables.h
// Policy variables (IAM User Guide, "IAM policy elements: Variables and
// tags"), for the evaluator: in Version 2012-10-17 documents, ${key} in a
// String* or Arn* condition value or in a Resource becomes the request's
// value of that condition key. Internal to the policy module.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace kp::policy::detail {

/// The request's values of condition key `key` (case-insensitive), with the
/// defaults evaluate() gives aws:PrincipalArn, aws:PrincipalAccount and
/// kms:CallerAccount. Defined in evaluate.cc.
std::vector<std::string> lookup_key(const RequestContext& ctx, std::string_view key);

/// Resolved text allowed per evaluation (pattern x text matching is
/// quadratic: a 32 KB policy full of variables each bringing a long request
/// value cost 20 s). Twice KMS's policy quota: at most twice the matching
/// work a policy without variables can ask for.
inline constexpr std::size_t kVariableBudget = 2 * kKeyPolicyQuotaBytes;

/// `value` with its variables resolved against `ctx`: ${key} is the key's
/// single value, ${key, 'default'} ('' a quote) the default when it has none
/// (or several), ${*} ${?} ${$} those characters literally. One pass.
/// `pattern`: the result is matched as a wildcard pattern with escapes
/// (wildcard_match's `escapes`): '*', '?' and kLiteralNext that come from
/// a variable, and kLiteralNext written in the value, are escaped.
/// nullopt when a variable does not resolve (key without a single value and
/// no default, "${" without "}", an empty or spaced name, a malformed
/// default) or the budget (decremented by the result's size) runs out; then
/// `why`, when given, says which variable and why (for policy-check).
std::optional<std::string> resolve_variables(std::string_view value, const RequestContext& ctx, bool pattern,
                                             std::size_t& budget, std::string* why = nullptr);

/// String* and Arn* operators take variables in their values.
bool takes_variables(ConditionOp op) noexcept;

/// Like and Arn operators match their values as patterns.
bool is_pattern_operator(ConditionOp op) noexcept;

}  // namespace kp::policy::detail
