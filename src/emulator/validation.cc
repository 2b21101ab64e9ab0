#include "emulator/validation.h"

#include <boost/json.hpp>

namespace kp::emulator {

namespace json = boost::json;

namespace {

// AWS names members in messages by their lowerCamelCase wire name.
std::string wire_name(std::string_view member) {
  std::string s(member);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') {
    s[0] = static_cast<char>(s[0] - 'A' + 'a');
  }
  return s;
}

std::string join_path(const std::string& parent, std::string_view child) {
  return parent.empty() ? std::string(child) : parent + "." + std::string(child);
}

// Java String.length(): UTF-16 code units (astral characters count twice).
std::int64_t utf16_length(std::string_view s) {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) == 0x80) {
      continue;  // continuation byte
    }
    n += (b >= 0xF0) ? 2 : 1;
  }
  return n;
}

class Validator {
 public:
  explicit Validator(const Model& m) : model_(m) {}

  // Returns false on a type mismatch (SerializationException, already recorded).
  bool check(const Shape& s, const json::value& v, const std::string& path) {
    switch (s.type) {
      case ShapeType::kStructure:
        return check_structure(s, v, path);
      case ShapeType::kString:
        return check_string(s, v, path);
      case ShapeType::kBlob:
        return check_blob(s, v, path);
      case ShapeType::kInteger:
      case ShapeType::kLong:
        return check_integer(s, v, path);
      case ShapeType::kBoolean:
        if (!v.is_bool()) {
          return type_error(path, "a boolean");
        }
        return true;
      case ShapeType::kDouble:
      case ShapeType::kTimestamp:
        if (!v.is_number()) {
          return type_error(path, "a number");
        }
        return true;
      case ShapeType::kList:
        return check_list(s, v, path);
      case ShapeType::kMap:
        return check_map(s, v, path);
    }
    return true;
  }

  bool check_structure(const Shape& s, const json::value& v, const std::string& path) {
    if (!v.is_object()) {
      return type_error(path, "a structure");
    }
    return check_members(s, v.as_object(), path);
  }

  bool check_members(const Shape& s, const json::object& o, const std::string& path) {
    for (const auto& m : s.members) {
      const auto* mv = o.if_contains(m.name);
      const bool required = std::find(s.required.begin(), s.required.end(), m.name) != s.required.end();
      const std::string p = join_path(path, wire_name(m.name));
      if (mv == nullptr || mv->is_null()) {
        if (required) {
          add("Value null at '" + p + "' failed to satisfy constraint: Member must not be null");
        }
        continue;
      }
      if (!check(model_.shape(m.shape), *mv, p)) {
        return false;
      }
    }
    return true;
  }

  bool check_string(const Shape& s, const json::value& v, const std::string& path) {
    if (!v.is_string()) {
      return type_error(path, "a string");
    }
    const std::string_view str = v.as_string();
    const std::string shown = s.sensitive ? std::string() : std::string(str);
    length_checks(s, utf16_length(str), path, s.sensitive ? nullptr : &shown);
    if (s.pattern && !s.pattern->matches(str)) {
      add(value_prefix(path, s.sensitive ? nullptr : &shown) +
          "Member must satisfy regular expression pattern: " + s.pattern->pattern());
    }
    if (!s.enum_values.empty() &&
        std::find(s.enum_values.begin(), s.enum_values.end(), str) == s.enum_values.end()) {
      std::string set;
      for (const auto& e : s.enum_values) {
        set += set.empty() ? "" : ", ";
        set += e;
      }
      add(value_prefix(path, s.sensitive ? nullptr : &shown) + "Member must satisfy enum value set: [" + set + "]");
    }
    return true;
  }

  bool check_blob(const Shape& s, const json::value& v, const std::string& path) {
    if (!v.is_string()) {
      return type_error(path, "a base64-encoded string");
    }
    const long long n = base64_decoded_length(v.as_string());
    if (n < 0) {
      serialization_ = "Could not decode base64 value of '" + path + "'";
      return false;
    }
    length_checks(s, n, path, nullptr);
    return true;
  }

  bool check_integer(const Shape& s, const json::value& v, const std::string& path) {
    std::int64_t n = 0;
    if (v.is_int64()) {
      n = v.as_int64();
    } else if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      n = static_cast<std::int64_t>(v.as_uint64());
    } else if (v.is_double() && v.as_double() == static_cast<double>(static_cast<std::int64_t>(v.as_double()))) {
      n = static_cast<std::int64_t>(v.as_double());
    } else {
      return type_error(path, "an integer");
    }
    const std::string shown = std::to_string(n);
    if (s.min && n < *s.min) {
      add(value_prefix(path, &shown) + "Member must have value greater than or equal to " + std::to_string(*s.min));
    }
    if (s.max && n > *s.max) {
      add(value_prefix(path, &shown) + "Member must have value less than or equal to " + std::to_string(*s.max));
    }
    return true;
  }

  bool check_list(const Shape& s, const json::value& v, const std::string& path) {
    if (!v.is_array()) {
      return type_error(path, "a list");
    }
    const auto& a = v.as_array();
    length_checks(s, static_cast<std::int64_t>(a.size()), path, nullptr);
    if (!s.member) {
      return true;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      // AWS numbers list elements from 1: 'tags.1.member.tagKey'.
      const std::string p = join_path(path, std::to_string(i + 1) + ".member");
      // A null element is a wrong type like any other: check() reports it
      // (operations may then assume every element has the member's type).
      if (!check(model_.shape(*s.member), a[i], p)) {
        return false;
      }
    }
    return true;
  }

  bool check_map(const Shape& s, const json::value& v, const std::string& path) {
    if (!v.is_object()) {
      return type_error(path, "a map");
    }
    const auto& o = v.as_object();
    length_checks(s, static_cast<std::int64_t>(o.size()), path, nullptr);
    for (const auto& kv : o) {
      if (s.key) {
        if (!check(model_.shape(*s.key), json::value(kv.key()), join_path(path, "key"))) {
          return false;
        }
      }
      // A null value in a (dense) map is malformed, as a null list element
      // is (Smithy's RestJsonBodyMalformedMapNullValue: 400
      // SerializationException).
      if (s.value) {
        if (!check(model_.shape(*s.value), kv.value(), join_path(path, "value"))) {
          return false;
        }
      }
    }
    return true;
  }

  Result<void> finish() const {
    if (!serialization_.empty()) {
      return fail(Errc::kMalformedRequest, serialization_);
    }
    if (errors_.empty()) {
      return {};
    }
    std::string msg = std::to_string(errors_.size()) +
                      (errors_.size() == 1 ? " validation error detected: " : " validation errors detected: ");
    for (std::size_t i = 0; i < errors_.size(); ++i) {
      msg += i == 0 ? "" : "; ";
      msg += errors_[i];
    }
    return fail(Errc::kValidation, std::move(msg));
  }

 private:
  static std::string value_prefix(const std::string& path, const std::string* shown) {
    if (shown == nullptr) {
      return "Value at '" + path + "' failed to satisfy constraint: ";
    }
    return "Value '" + *shown + "' at '" + path + "' failed to satisfy constraint: ";
  }

  void length_checks(const Shape& s, std::int64_t n, const std::string& path, const std::string* shown) {
    if (s.min && n < *s.min) {
      add(value_prefix(path, shown) + "Member must have length greater than or equal to " + std::to_string(*s.min));
    }
    if (s.max && n > *s.max) {
      add(value_prefix(path, shown) + "Member must have length less than or equal to " + std::to_string(*s.max));
    }
  }

  bool type_error(const std::string& path, std::string_view expected) {
    serialization_ = "Unexpected value type for '" + (path.empty() ? std::string("request") : path) +
                     "': expected " + std::string(expected);
    return false;
  }

  void add(std::string e) { errors_.push_back(std::move(e)); }

  const Model& model_;
  std::vector<std::string> errors_;
  std::string serialization_;
};

}  // namespace

long long base64_decoded_length(std::string_view b64) noexcept {
  if (b64.size() % 4 != 0) {
    return -1;
  }
  std::size_t pad = 0;
  if (!b64.empty() && b64.back() == '=') {
    pad = 1;
    if (b64.size() >= 2 && b64[b64.size() - 2] == '=') {
      pad = 2;
    }
  }
  return static_cast<long long>(b64.size() / 4 * 3 - pad);
}

std::string single_validation_message(std::string_view detail) {
  return "1 validation error detected: " + std::string(detail);
}

Result<void> validate_request(const Model& model, std::string_view operation, const json::object& input) {
  const Shape* in = model.input_shape(operation);
  if (in == nullptr) {
    return {};
  }
  Validator v(model);
  v.check_members(*in, input, "");
  return v.finish();
}

}  // namespace kp::emulator
