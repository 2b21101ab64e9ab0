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

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kp {

bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept;
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  // Most header lookups miss on length: keep that test inline.
  return a.size() == b.size() && iequals_same_size(a.data(), b.data(), a.size());
}

/// A field value that cannot end or split a header line: no CR, LF or NUL.
/// (The network layer checks every value it sends; the signer checks the
/// credentials it puts into headers.)
bool is_safe_field_value(std::string_view s) noexcept;

/// Ordered header list with case-insensitive lookup. Keeps the sender's
/// spelling and order (SigV4 canonicalisation needs the raw values).
///
/// Names and values live back to back in one buffer and the fields are
/// offsets into it: a message's headers cost two allocations, not one per
/// field longer than the small-string buffer (every request goes through
/// four of these).
class Headers {
 public:
  /// One field, viewing the Headers' storage: valid until the next change.
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  /// The fields in order: `for (const auto& [name, value] : h.fields())`.
  class FieldRange {
   public:
    class iterator {
     public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = Field;
      using difference_type = std::ptrdiff_t;
      using pointer = void;
      using reference = Field;
      iterator() = default;
      Field operator*() const noexcept { return h_->field(i_); }
      iterator& operator++() noexcept {
        ++i_;
        return *this;
      }
      iterator operator++(int) noexcept {
        iterator old = *this;
        ++i_;
        return old;
      }
      bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }

     private:
      friend class FieldRange;
      iterator(const Headers* h, std::size_t i) : h_(h), i_(i) {}
      const Headers* h_ = nullptr;
      std::size_t i_ = 0;
    };
    iterator begin() const noexcept { return {h_, 0}; }
    iterator end() const noexcept { return {h_, h_->slots_.size()}; }
    std::size_t size() const noexcept { return h_->slots_.size(); }
    bool empty() const noexcept { return h_->slots_.empty(); }
    Field operator[](std::size_t i) const noexcept { return h_->field(i); }

   private:
    friend class Headers;
    explicit FieldRange(const Headers* h) : h_(h) {}
    const Headers* h_;
  };

  /// First value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  /// All values of `name`, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  /// Replaces every field named `name` with one field (at the first one's place).
  void set(std::string_view name, std::string_view value);
  /// Appends a field (duplicates allowed).
  void add(std::string_view name, std::string_view value);
  /// Removes every field named `name`; returns how many were removed.
  std::size_t erase(std::string_view name);

  FieldRange fields() const noexcept { return FieldRange(this); }
  std::size_t size() const noexcept { return slots_.size(); }
  void clear() noexcept {
    slots_.clear();
    text_.clear();
  }

 private:
  struct Slot {
    std::size_t name_at;
    std::size_t name_len;
    std::size_t value_at;
    std::size_t value_len;
  };
  Field field(std::size_t i) const noexcept {
    const Slot& s = slots_[i];
    return {std::string_view(text_.data() + s.name_at, s.name_len),
            std::string_view(text_.data() + s.value_at, s.value_len)};
  }
  std::string_view name_of(const Slot& s) const noexcept {
    return std::string_view(text_.data() + s.name_at, s.name_len);
  }
  bool aliases(std::string_view v) const noexcept;  // v points into text_
  void compact_if_wasteful();

  std::string text_;         // names and values (and, after set/erase, dead bytes)
  std::vector<Slot> slots_;  // the fields, in order
};

struct HttpRequest {
  std::string method = "POST";
  std::string target = "/";  // origin-form: path[?query]
  unsigned version = 11;     // 10 or 11
  Headers headers;
  std::string body;
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
