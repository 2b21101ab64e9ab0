// File: policy/match.h
// String matching used by the policy evaluator: IAM wildcards (* and ?) and
// ARN matching segment by segment. Pure, allocation-free.
#pragma once

#include <optional>
#include <string_view>

namespace kp::policy {

/// In a pattern built from policy variables (and only there: see
/// `escapes`), makes the next character literal: how ${*}, ${?} and a
/// request value put into a StringLike pattern keep their '*' and '?' (and
/// this character itself) from acting as wildcards.
inline constexpr char kLiteralNext = '\x01';

/// IAM wildcard match: '*' = any run (also empty), '?' = exactly one character
/// (a whole UTF-8 sequence). ASCII case folding when `ignore_case`. With
/// `escapes`, kLiteralNext makes the next pattern character literal (a
/// written pattern is matched without: a \u0001 in a policy is a character).
bool wildcard_match(std::string_view pattern, std::string_view text, bool ignore_case, bool escapes = false) noexcept;

/// ArnEquals/ArnLike: each of the six colon-separated ARN components
/// ("arn:partition:service:region:account:resource") is wildcard-matched
/// separately, case-sensitively; a lone "*" matches anything. A value that is
/// not an ARN never matches a pattern other than "*".
bool arn_match(std::string_view pattern, std::string_view arn, bool escapes = false) noexcept;

/// The five fields of "arn:partition:service:region:account:resource" (the
/// resource keeps any further colons); views into the parsed string.
struct Arn {
  std::string_view partition, service, region, account, resource;
};
/// nullopt when `s` does not start with "arn:" or has fewer than six fields.
std::optional<Arn> parse_arn(std::string_view s) noexcept;

/// ASCII case-insensitive equality.
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace kp::policy
