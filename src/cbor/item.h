// File: cbor/item.h
//
// kp::cbor::Item: one decoded CBOR data item (RFC 8949) as a value type.
// Accessors return nullptr / std::nullopt on a type mismatch instead of
// throwing, so callers can validate untrusted input field by field:
//
//   if (const auto* m = item.find("module_id"); m && m->as_text()) { ... }
//
// Maps keep their entries in the order received (COSE/NSM documents are
// order-sensitive to humans, not to us, but tests compare key order).
// Depends on base/ only; no Asio, no OpenSSL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/bytes.h"

namespace kp::cbor {

struct MapEntry;

/// Major type 1 stored as its raw argument n: the value is -1 - n, which
/// spans -2^64 .. -1 (wider than int64_t).
struct NegativeInt {
  std::uint64_t n = 0;
  friend bool operator==(const NegativeInt&, const NegativeInt&) = default;
};
struct Null {
  friend bool operator==(const Null&, const Null&) = default;
};
struct Undefined {
  friend bool operator==(const Undefined&, const Undefined&) = default;
};
/// Simple values other than false/true/null/undefined (0..19, 32..255).
struct Simple {
  std::uint8_t value = 0;
  friend bool operator==(const Simple&, const Simple&) = default;
};

class Item {
 public:
  enum class Type {
    kUnsigned,
    kNegative,
    kBytes,
    kText,
    kArray,
    kMap,
    kBool,
    kNull,
    kUndefined,
    kSimple,
    kFloat,
  };
  using Array = std::vector<Item>;
  using Map = std::vector<MapEntry>;

  Item();  // null
  ~Item();
  Item(const Item&);
  Item(Item&&) noexcept;
  Item& operator=(const Item&);
  Item& operator=(Item&&) noexcept;

  // --- construction ---
  static Item uint(std::uint64_t v);
  /// Any int64_t (negative values become major type 1).
  static Item integer(std::int64_t v);
  /// Major type 1 with raw argument n (value -1 - n).
  static Item negative_raw(std::uint64_t n);
  static Item bytes(Bytes v);
  static Item bytes(ByteView v) { return bytes(Bytes(v.begin(), v.end())); }
  static Item text(std::string v);
  static Item array(Array v);
  static Item map(Map v);
  static Item boolean(bool v);
  static Item null();
  static Item undefined();
  static Item simple(std::uint8_t v);
  static Item floating(double v);

  /// Returns a copy of this item wrapped in `tag` (outermost tag first in tags()).
  Item tagged(std::uint64_t tag) const&;
  Item tagged(std::uint64_t tag) &&;

  // --- inspection ---
  Type type() const noexcept;
  /// Tags wrapping this item, outermost first (e.g. {18} for a tagged COSE_Sign1).
  const std::vector<std::uint64_t>& tags() const noexcept { return tags_; }
  bool has_tag(std::uint64_t tag) const noexcept;

  std::optional<std::uint64_t> as_uint() const noexcept;
  /// Unsigned or negative value that fits in int64_t.
  std::optional<std::int64_t> as_int() const noexcept;
  /// Raw argument n of a negative integer (value -1 - n).
  std::optional<std::uint64_t> as_negative_raw() const noexcept;
  const Bytes* as_bytes() const noexcept;
  const std::string* as_text() const noexcept;
  const Array* as_array() const noexcept;
  const Map* as_map() const noexcept;
  std::optional<bool> as_bool() const noexcept;
  std::optional<double> as_float() const noexcept;
  std::optional<std::uint8_t> as_simple() const noexcept;
  bool is_null() const noexcept;
  bool is_undefined() const noexcept;

  /// Map lookup by text key; nullptr if this is not a map or the key is absent.
  const Item* find(std::string_view key) const noexcept;
  /// Map lookup by integer key (unsigned or negative); nullptr if absent.
  const Item* find(std::int64_t key) const noexcept;

  /// Where the decoder found this item in its input (including its tags and,
  /// for indefinite-length items, the break byte). Both are 0 for items built
  /// in code. See decoder.h raw_bytes().
  std::size_t source_offset() const noexcept { return offset_; }
  std::size_t source_size() const noexcept { return size_; }
  void set_source(std::size_t offset, std::size_t size) noexcept {
    offset_ = offset;
    size_ = size;
  }

  /// Structural equality (type, value, tags); ignores source positions.
  friend bool operator==(const Item& a, const Item& b);

  /// Short name of a type for error messages ("bytes", "map", ...).
  static std::string_view type_name(Type t) noexcept;

 private:
  using Value = std::variant<std::uint64_t, NegativeInt, Bytes, std::string, Array, Map, bool, Null,
                             Undefined, Simple, double>;
  explicit Item(Value v);

  Value value_;
  std::vector<std::uint64_t> tags_;
  std::size_t offset_ = 0;
  std::size_t size_ = 0;
};

struct MapEntry {
  Item key;
  Item value;
  friend bool operator==(const MapEntry&, const MapEntry&) = default;
};

}  // namespace kp::cbor
