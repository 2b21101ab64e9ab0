// File: policy/match.h
// String matching used by the policy evaluator: IAM wildcards (* and ?) and
// ARN matching segment by segment. Pure, allocation-free.
#pragma once

#include <optional>
#include <string_view>

namespace kp::policy {

/// In a pattern, makes the next character literal: how a resolved policy
/// variable (${*}, ${?}, or a request value put into a StringLike pattern)
/// keeps its '*' and '?' from acting as wildcards. KMS refuses control
/// characters in policy documents, so no written pattern contains it.
inline constexpr char kLiteralNext = '\x01';

/// IAM wildcard match: '*' = any run (also empty), '?' = exactly one character
/// (a whole UTF-8 sequence); kLiteralNext escapes the next character. ASCII
/// case folding when `ignore_case`.
bool wildcard_match(std::string_view pattern, std::string_view text, bool ignore_case) noexcept;

/// ArnEquals/ArnLike: each of the six colon-separated ARN components
/// ("arn:partition:service:region:account:resource") is wildcard-matched
/// separately, case-sensitively; a lone "*" matches anything. A value that is
/// not an ARN never matches a pattern other than "*".
bool arn_match(std::string_view pattern, std::string_view arn) noexcept;

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
