#include "policy/match.h"

#include <array>
#include <cstddef>

namespace kp::policy {

namespace {

char fold(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Bytes of the UTF-8 sequence starting at text[i] (1 for ASCII, a stray
// continuation byte or a truncated sequence): '?' and '*' consume characters.
std::size_t char_length(std::string_view text, std::size_t i) noexcept {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t n = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  if (i + n > text.size()) {
    return 1;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
      return 1;
    }
  }
  return n;
}

}  // namespace

std::optional<Arn> parse_arn(std::string_view s) noexcept {
  constexpr std::string_view kPrefix = "arn:";
  if (s.substr(0, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  s.remove_prefix(kPrefix.size());
  std::array<std::string_view, 4> f;
  for (auto& field : f) {
    const std::size_t colon = s.find(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    field = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  return Arn{f[0], f[1], f[2], f[3], s};
}

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) {
      return false;
    }
  }
  return true;
}

bool wildcard_match(std::string_view pattern, std::string_view text, bool ignore_case, bool escapes) noexcept {
  // Greedy matching with a single backtrack point: O(|pattern| * |text|) worst case.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t mark = 0;
  auto same = [ignore_case](char a, char b) { return ignore_case ? fold(a) == fold(b) : a == b; };
  while (t < text.size()) {
    // An escaped character (a resolved policy variable's '*' or '?') is
    // compared like any other, never taken as a wildcard.
    const bool escaped = escapes && p + 1 < pattern.size() && pattern[p] == kLiteralNext;
    if (!escaped && p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (!escaped && p < pattern.size() && pattern[p] == '?') {
      ++p;
      t += char_length(text, t);
    } else if (p < pattern.size() && same(pattern[escaped ? p + 1 : p], text[t])) {
      p += escaped ? 2 : 1;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      mark += char_length(text, mark);
      t = mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

bool arn_match(std::string_view pattern, std::string_view arn, bool escapes) noexcept {
  if (pattern == "*") {
    return true;
  }
  // Segment by segment, so a '*' in one does not swallow the next's colons
  // ("arn:" itself is the first segment of both).
  const auto p = parse_arn(pattern);
  const auto a = parse_arn(arn);
  return p && a && wildcard_match(p->partition, a->partition, false, escapes) &&
         wildcard_match(p->service, a->service, false, escapes) &&
         wildcard_match(p->region, a->region, false, escapes) &&
         wildcard_match(p->account, a->account, false, escapes) &&
         wildcard_match(p->resource, a->resource, false, escapes);
}

}  // namespace kp::policy
