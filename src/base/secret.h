// File: base/secret.h
//
// SecretBytes: the only container for key material, credentials and
// plaintexts. Move-only; wipes its memory (OPENSSL_cleanse) on destruction,
// on move-from and on clear(); prints as "<redacted N bytes>" so it can never
// reach a log by accident (there is deliberately no implicit conversion to a
// string). Use view() to hand the bytes to crypto code.
//
//   kp::SecretBytes key = kp::SecretBytes::copy_of(buf);
//   hmac(key.view(), ...);
#pragma once

#include <cstdint>
#include <cstring>
#include <ostream>
#include <span>
#include <string_view>

#include "base/bytes.h"

namespace kp {

/// Overwrites memory in a way the compiler cannot elide.
void secure_wipe(void* p, std::size_t n) noexcept;

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t n);
  ~SecretBytes();

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& o) noexcept;
  SecretBytes& operator=(SecretBytes&& o) noexcept;

  static SecretBytes copy_of(ByteView src);
  static SecretBytes copy_of(std::string_view src);
  /// Takes the bytes of `src` and wipes `src`.
  static SecretBytes take(Bytes&& src);
  static SecretBytes take(std::string&& src);

  /// An explicit copy (for the rare place that must keep two).
  SecretBytes clone() const { return copy_of(view()); }

  std::uint8_t* data() noexcept { return data_; }
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  ByteView view() const noexcept { return {data_, size_}; }
  std::string_view chars() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  std::span<std::uint8_t> mutable_view() noexcept { return {data_, size_}; }

  /// Shrinks the logical size (e.g. after padding removal); wipes the tail.
  void truncate(std::size_t n) noexcept;
  void clear() noexcept;

  /// Constant-time comparison.
  bool equals(ByteView other) const noexcept;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const SecretBytes& s) {
  return os << "<redacted " << s.size() << " bytes>";
}

}  // namespace kp
