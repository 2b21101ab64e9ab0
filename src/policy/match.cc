#include "policy/match.h"

#include <array>
#include <cstddef>

namespace kp::policy {

namespace {

char fold(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Splits an ARN into its 6 components (the last keeps any further colons).
bool split_arn(std::string_view s, std::array<std::string_view, 6>& out) noexcept {
  for (std::size_t i = 0; i < 5; ++i) {
    const std::size_t colon = s.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    out[i] = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  out[5] = s;
  return true;
}

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

bool wildcard_match(std::string_view pattern, std::string_view text, bool ignore_case) noexcept {
  // Greedy matching with a single backtrack point: O(|pattern| * |text|) worst case.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t mark = 0;
  auto same = [ignore_case](char a, char b) { return ignore_case ? fold(a) == fold(b) : a == b; };
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      t += char_length(text, t);
    } else if (p < pattern.size() && same(pattern[p], text[t])) {
      ++p;
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

bool arn_match(std::string_view pattern, std::string_view arn) noexcept {
  if (pattern == "*") {
    return true;
  }
  std::array<std::string_view, 6> pp;
  std::array<std::string_view, 6> aa;
  if (!split_arn(pattern, pp) || !split_arn(arn, aa)) {
    return false;
  }
  for (std::size_t i = 0; i < 6; ++i) {
    if (!wildcard_match(pp[i], aa[i], false)) {
      return false;
    }
  }
  return true;
}

}  // namespace kp::policy
