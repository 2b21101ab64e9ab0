// File: base/http_message.h
//
// Plain HTTP/1.1 message types shared by the pure modules (SigV4 signs and
// verifies them, the KMS emulator answers them) and by the network layer
// (net/ converts Beast messages to and from these at the socket edge). No
// Asio/Beast here, so everything above the socket is testable without I/O.
//
//   kp::HttpRequest req;
//   req.method = "POST"; req.target = "/";
//   req.headers.set("X-Amz-Target", "TrentService.Decrypt");
//   if (auto v = req.headers.get("x-amz-target")) { ... }   // case-insensitive
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"

namespace kp {

bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept;
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  // Most header lookups miss on length: keep that test inline.
  return a.size() == b.size() && iequals_same_size(a.data(), b.data(), a.size());
}

/// Ordered header list with case-insensitive lookup. Keeps the sender's
/// spelling and order (SigV4 canonicalisation needs the raw values).
class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  /// First value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  /// All values of `name`, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }
  /// Replaces every field named `name` with one field.
  void set(std::string_view name, std::string_view value);
  /// Appends a field (duplicates allowed).
  void add(std::string_view name, std::string_view value);
  /// Removes every field named `name`; returns how many were removed.
  std::size_t erase(std::string_view name);

  const std::vector<Field>& fields() const noexcept { return fields_; }
  std::size_t size() const noexcept { return fields_.size(); }
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<Field> fields_;
};

struct HttpRequest {
  std::string method = "POST";
  std::string target = "/";  // origin-form: path[?query]
  unsigned version = 11;     // 10 or 11
  Headers headers;
  std::string body;
  SysTime received_at{};     // when the request's headers were read
};

struct HttpResponse {
  unsigned status = 200;
  Headers headers;
  std::string body;
  /// Set when the body holds secrets (plaintexts): the server wipes it after
  /// the write completes.
  bool sensitive_body = false;
};

/// A KMS-style JSON error response (Content-Type application/x-amz-json-1.1).
HttpResponse make_error_response(unsigned status, std::string_view type, std::string_view message);

}  // namespace kp
