#include "cbor/item.h"

#include <limits>

namespace kp::cbor {

Item::Item() : value_(Null{}) {}
Item::Item(Value v) : value_(std::move(v)) {}
Item::~Item() = default;
Item::Item(const Item&) = default;
Item::Item(Item&&) noexcept = default;
Item& Item::operator=(const Item&) = default;
Item& Item::operator=(Item&&) noexcept = default;

Item Item::uint(std::uint64_t v) { return Item(Value(std::in_place_index<0>, v)); }
Item Item::negative_raw(std::uint64_t n) { return Item(Value(NegativeInt{n})); }
Item Item::integer(std::int64_t v) {
  if (v >= 0) {
    return uint(static_cast<std::uint64_t>(v));
  }
  // -1 - v without overflow: v in [INT64_MIN, -1] -> n in [0, INT64_MAX].
  return negative_raw(static_cast<std::uint64_t>(-(v + 1)));
}
Item Item::bytes(Bytes v) { return Item(Value(std::move(v))); }
Item Item::text(std::string v) { return Item(Value(std::move(v))); }
Item Item::array(Array v) { return Item(Value(std::move(v))); }
Item Item::map(Map v) { return Item(Value(std::move(v))); }
Item Item::boolean(bool v) { return Item(Value(std::in_place_index<6>, v)); }
Item Item::null() { return Item(Value(Null{})); }
Item Item::undefined() { return Item(Value(Undefined{})); }
Item Item::simple(std::uint8_t v) { return Item(Value(Simple{v})); }
Item Item::floating(double v) { return Item(Value(std::in_place_index<10>, v)); }

Item Item::tagged(std::uint64_t tag) const& {
  Item copy = *this;
  return std::move(copy).tagged(tag);
}
Item Item::tagged(std::uint64_t tag) && {
  tags_.insert(tags_.begin(), tag);
  return std::move(*this);
}

Item::Type Item::type() const noexcept { return static_cast<Type>(value_.index()); }

bool Item::has_tag(std::uint64_t tag) const noexcept {
  for (auto t : tags_) {
    if (t == tag) {
      return true;
    }
  }
  return false;
}

std::optional<std::uint64_t> Item::as_uint() const noexcept {
  if (const auto* v = std::get_if<0>(&value_)) {
    return *v;
  }
  return std::nullopt;
}

std::optional<std::int64_t> Item::as_int() const noexcept {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (const auto* v = std::get_if<0>(&value_)) {
    if (*v <= kMax) {
      return static_cast<std::int64_t>(*v);
    }
    return std::nullopt;
  }
  if (const auto* n = std::get_if<NegativeInt>(&value_)) {
    if (n->n <= kMax) {
      return -1 - static_cast<std::int64_t>(n->n);
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Item::as_negative_raw() const noexcept {
  if (const auto* n = std::get_if<NegativeInt>(&value_)) {
    return n->n;
  }
  return std::nullopt;
}

const Bytes* Item::as_bytes() const noexcept { return std::get_if<Bytes>(&value_); }
const std::string* Item::as_text() const noexcept { return std::get_if<std::string>(&value_); }
const Item::Array* Item::as_array() const noexcept { return std::get_if<Array>(&value_); }
const Item::Map* Item::as_map() const noexcept { return std::get_if<Map>(&value_); }

std::optional<bool> Item::as_bool() const noexcept {
  if (const auto* b = std::get_if<6>(&value_)) {
    return *b;
  }
  return std::nullopt;
}
std::optional<double> Item::as_float() const noexcept {
  if (const auto* d = std::get_if<10>(&value_)) {
    return *d;
  }
  return std::nullopt;
}
std::optional<std::uint8_t> Item::as_simple() const noexcept {
  if (const auto* s = std::get_if<Simple>(&value_)) {
    return s->value;
  }
  return std::nullopt;
}
bool Item::is_null() const noexcept { return std::holds_alternative<Null>(value_); }
bool Item::is_undefined() const noexcept { return std::holds_alternative<Undefined>(value_); }

const Item* Item::find(std::string_view key) const noexcept {
  const auto* m = as_map();
  if (m == nullptr) {
    return nullptr;
  }
  for (const auto& e : *m) {
    const auto* k = e.key.as_text();
    if (k != nullptr && e.key.tags().empty() && *k == key) {
      return &e.value;
    }
  }
  return nullptr;
}

const Item* Item::find(std::int64_t key) const noexcept {
  const auto* m = as_map();
  if (m == nullptr) {
    return nullptr;
  }
  for (const auto& e : *m) {
    if (!e.key.tags().empty()) {
      continue;
    }
    if (auto k = e.key.as_int(); k && *k == key) {
      return &e.value;
    }
  }
  return nullptr;
}

bool operator==(const Item& a, const Item& b) {
  return a.tags_ == b.tags_ && a.value_ == b.value_;
}

std::string_view Item::type_name(Type t) noexcept {
  switch (t) {
    case Type::kUnsigned: return "unsigned integer";
    case Type::kNegative: return "negative integer";
    case Type::kBytes: return "byte string";
    case Type::kText: return "text string";
    case Type::kArray: return "array";
    case Type::kMap: return "map";
    case Type::kBool: return "bool";
    case Type::kNull: return "null";
    case Type::kUndefined: return "undefined";
    case Type::kSimple: return "simple value";
    case Type::kFloat: return "float";
  }
  return "unknown";
}

}  // namespace kp::cbor
