#include "base/http_message.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>

#include "base/error.h"

namespace kp {

bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept {
  // Eight bytes at a time while they are equal (header names usually come in
  // the spelling they are looked up with); a word with a difference other
  // than the case bit fails at once, the rest is decided byte by byte.
  constexpr std::uint64_t kCaseBits = 0x2020202020202020ULL;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    const std::uint64_t d = x ^ y;
    if (d == 0) {
      continue;
    }
    if ((d & ~kCaseBits) != 0) {
      return false;
    }
    break;
  }
  for (; i < n; ++i) {
    // ASCII case folding: letters differ only in bit 0x20.
    const char x = a[i];
    const char y = b[i];
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) {
      return false;
    }
  }
  return true;
}

bool is_safe_field_value(std::string_view s) noexcept {
  if (s.size() >= 64) {  // an Authorization or a session token: libc's vectorised search
    return std::memchr(s.data(), '\r', s.size()) == nullptr && std::memchr(s.data(), '\n', s.size()) == nullptr &&
           std::memchr(s.data(), '\0', s.size()) == nullptr;
  }
  // Eight bytes at a time: a word has a zero byte iff (x - 0x01..) & ~x & 0x80..
  // is non-zero (exact for "any", which is all that is asked here).
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  const auto has_byte = [](std::uint64_t word, std::uint64_t pattern) noexcept {
    const std::uint64_t x = word ^ pattern;
    return ((x - kOnes) & ~x & kHighs) != 0;
  };
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, sizeof w);
    if (has_byte(w, 0) || has_byte(w, kOnes * '\r') || has_byte(w, kOnes * '\n')) {
      return false;
    }
  }
  for (; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const Slot& s : slots_) {
    if (iequals(name_of(s), name)) {
      return std::string_view(text_.data() + s.value_at, s.value_len);
    }
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Slot& s : slots_) {
    if (iequals(name_of(s), name)) {
      out.emplace_back(text_.data() + s.value_at, s.value_len);
    }
  }
  return out;
}

bool Headers::aliases(std::string_view v) const noexcept {
  const std::less<const char*> lt;
  return !v.empty() && !lt(v.data(), text_.data()) && lt(v.data(), text_.data() + text_.size());
}

void Headers::set(std::string_view name, std::string_view value) {
  if (aliases(name) || aliases(value)) {  // e.g. set("A", *get("B")): copy before text_ moves
    const std::string n(name);
    const std::string v(value);
    set(n, v);
    return;
  }
  // Replace the first field in place (keeps its position), drop any later
  // duplicates. A value no longer than the old one is overwritten where it is.
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!iequals(name_of(s), name)) {
      continue;
    }
    std::memcpy(text_.data() + s.name_at, name.data(), name.size());  // same length: iequals matched
    if (value.size() <= s.value_len) {
      if (!value.empty()) {
        std::memcpy(text_.data() + s.value_at, value.data(), value.size());
      }
    } else {
      s.value_at = text_.size();
      text_.append(value);
    }
    s.value_len = value.size();
    const auto rest = slots_.begin() + static_cast<std::ptrdiff_t>(i) + 1;
    slots_.erase(std::remove_if(rest, slots_.end(), [&](const Slot& o) { return iequals(name_of(o), name); }),
                 slots_.end());
    compact_if_wasteful();
    return;
  }
  add(name, value);
}

void Headers::add(std::string_view name, std::string_view value) {
  if (aliases(name) || aliases(value)) {
    const std::string n(name);
    const std::string v(value);
    add(n, v);
    return;
  }
  if (slots_.capacity() == 0) {
    // A typical SDK request; an Authorization alone is ~200 bytes. Both
    // blocks stay within glibc's per-thread cache (at most 1,032 bytes), so
    // allocating and freeing them takes its fast path.
    slots_.reserve(12);
    text_.reserve(1000);
  }
  const std::size_t at = text_.size();
  text_.append(name).append(value);  // no zero-fill first, as resize() would
  slots_.push_back(Slot{at, name.size(), at + name.size(), value.size()});
}

std::size_t Headers::erase(std::string_view name) {
  const auto before = slots_.size();
  std::erase_if(slots_, [&](const Slot& s) { return iequals(name_of(s), name); });
  const auto removed = before - slots_.size();
  if (removed != 0) {
    compact_if_wasteful();
  }
  return removed;
}

// set() and erase() leave dead bytes behind; a long-lived Headers that is
// changed again and again is rewritten once they outweigh the live ones.
void Headers::compact_if_wasteful() {
  std::size_t live = 0;
  for (const Slot& s : slots_) {
    live += s.name_len + s.value_len;
  }
  if (text_.size() <= 4096 || text_.size() <= 2 * live) {
    return;
  }
  std::string packed;
  packed.reserve(live);
  for (Slot& s : slots_) {
    const std::size_t name_at = packed.size();
    packed.append(text_, s.name_at, s.name_len);
    const std::size_t value_at = packed.size();
    packed.append(text_, s.value_at, s.value_len);
    s.name_at = name_at;
    s.value_at = value_at;
  }
  text_.swap(packed);
}

HttpResponse make_error_response(unsigned status, std::string_view type, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.body = kms_error_body(type, message);
  return r;
}

}  // namespace kp
