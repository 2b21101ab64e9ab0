// Policy variables (variables.h).
#include "policy/variables.h"

#include "policy/match.h"
#include "policy/typed_values.h"

namespace kp::policy::detail {

namespace {

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

// Appends `v`, taken literally: in a pattern, '*', '?' and the escape
// character itself get an escape in front.
void append_literal(std::string& out, std::string_view v, bool pattern) {
  for (const char ch : v) {
    if (pattern && (ch == '*' || ch == '?' || ch == kLiteralNext)) {
      out.push_back(kLiteralNext);
    }
    out.push_back(ch);
  }
}

// The text of a default value 'like this' ('' is one quote); nullopt if malformed.
std::optional<std::string> quoted_default(std::string_view d) {
  if (d.size() < 2 || d.front() != '\'' || d.back() != '\'') {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t k = 1; k + 1 < d.size(); ++k) {
    if (d[k] == '\'') {
      if (k + 2 < d.size() && d[k + 1] == '\'') {
        ++k;
      } else {
        return std::nullopt;
      }
    }
    out.push_back(d[k]);
  }
  return out;
}

}  // namespace

std::optional<std::string> resolve_variables(std::string_view v, const RequestContext& ctx, bool pattern,
                                             std::size_t& budget, std::string* why) {
  const auto fail = [&](std::string reason) -> std::optional<std::string> {
    if (why != nullptr) {
      *why = std::move(reason);
    }
    return std::nullopt;
  };
  std::string out;
  std::size_t i = 0;
  while (i < v.size()) {
    if (v[i] != '$' || i + 1 >= v.size() || v[i + 1] != '{') {
      if (pattern && v[i] == kLiteralNext) {
        out.push_back(kLiteralNext);  // a written \u0001 is a character, not an escape
      }
      out.push_back(v[i++]);
      continue;
    }
    std::size_t j = i + 2;
    bool quoted = false;
    for (; j < v.size() && (quoted || v[j] != '}'); ++j) {
      if (v[j] == '\'') {
        quoted = !quoted;
      }
    }
    if (j >= v.size()) {
      return fail("'${' without its '}'");
    }
    const std::string_view body = trim_blanks(v.substr(i + 2, j - i - 2));
    i = j + 1;
    if (body == "*" || body == "?" || body == "$") {
      append_literal(out, body, pattern);
      continue;
    }
    std::string_view key = body;
    std::optional<std::string> fallback;
    if (const auto comma = body.find(','); comma != std::string_view::npos) {
      key = trim_blanks(body.substr(0, comma));
      fallback = quoted_default(trim_blanks(body.substr(comma + 1)));
      if (!fallback) {
        return fail("${" + std::string(body) + "}: the default is not a 'quoted' text");
      }
    }
    if (key.empty() || key.find(' ') != std::string_view::npos) {
      return fail("${" + std::string(body) + "}: not a condition key name");
    }
    const auto values = lookup_key(ctx, key);
    if (values.size() == 1) {
      append_literal(out, values.front(), pattern);
    } else if (fallback) {
      append_literal(out, *fallback, pattern);
    } else {
      return fail("${" + std::string(body) + "}: the request has " +
                  (values.empty() ? "no " + std::string(key)
                                  : std::to_string(values.size()) + " values of " + std::string(key) +
                                        " (a variable takes one)"));
    }
    if (out.size() > budget) {
      return fail("the values of the policy's variables are too long in all");
    }
  }
  if (out.size() > budget) {
    return fail("the values of the policy's variables are too long in all");
  }
  budget -= out.size();
  return out;
}

bool takes_variables(ConditionOp op) noexcept {
  // The String* and Arn* operators: the untyped ones but Bool and Null.
  return typed_kind(op) == TypedKind::kNone && op != ConditionOp::kBool && op != ConditionOp::kNull;
}

bool is_pattern_operator(ConditionOp op) noexcept {
  switch (op) {
    case ConditionOp::kStringLike:
    case ConditionOp::kStringNotLike:
    case ConditionOp::kArnEquals:
    case ConditionOp::kArnNotEquals:
    case ConditionOp::kArnLike:
    case ConditionOp::kArnNotLike:
      return true;
    default:
      return false;
  }
}

}  // namespace kp::policy::detail
