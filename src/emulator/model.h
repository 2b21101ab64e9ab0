// File: emulator/model.h
//
// The part of the AWS KMS API model (botocore kms/2014-11-01 service-2.json)
// that the emulator needs at runtime: every operation name and the input
// shapes with their constraints (required members, min/max, enums, patterns,
// sensitivity). The table is embedded in the binary (kms_model_data.inc, a
// compact JSON generated from the full model by compact_model_json(); the
// unit test model_test checks it against the full model), so the emulator
// never reads the shared/ directory at runtime.
//
// Pure: Boost.JSON only; no Asio, no I/O.
//
//   const auto& m = kp::emulator::Model::embedded();
//   if (const auto* in = m.input_shape("Encrypt")) { ... }
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kp::emulator {

enum class ShapeType { kStructure, kString, kBlob, kInteger, kLong, kBoolean, kList, kMap, kTimestamp, kDouble };

/// A model `pattern` compiled for full-string matching (Java Pattern.matches
/// semantics). Simple character-class patterns (`^[...]+$`, `[...]*`) are
/// matched by a linear scanner over code points, so a 128 KiB policy cannot
/// blow the stack the way std::regex would; other patterns use std::regex and
/// are applied only to inputs up to kMaxRegexInput bytes.
class PatternMatcher {
 public:
  static constexpr std::size_t kMaxRegexInput = 4096;

  explicit PatternMatcher(std::string pattern);
  const std::string& pattern() const noexcept { return pattern_; }
  /// True when `utf8` fully matches (or when the pattern cannot be applied).
  bool matches(std::string_view utf8) const;

 private:
  struct Range {
    std::uint32_t lo;
    std::uint32_t hi;
  };
  std::string pattern_;
  bool simple_ = false;
  bool allow_empty_ = false;
  std::vector<Range> ranges_;
  std::shared_ptr<const std::regex> regex_;
};

struct Member {
  std::string name;   // as in the model, e.g. "KeyId"
  std::size_t shape;  // index into Model::shapes()
};

struct Shape {
  std::string name;
  ShapeType type = ShapeType::kStructure;
  std::optional<std::int64_t> min;
  std::optional<std::int64_t> max;
  std::vector<std::string> enum_values;
  std::optional<PatternMatcher> pattern;
  bool sensitive = false;
  std::vector<Member> members;        // structure, in model order
  std::vector<std::string> required;  // structure
  std::optional<std::size_t> member;  // list element
  std::optional<std::size_t> key;     // map key
  std::optional<std::size_t> value;   // map value
};

class Model {
 public:
  /// The table compiled into the binary (parsed once, thread-safe).
  static const Model& embedded();
  /// Parses a compact table (the format written by compact_model_json()).
  static Result<Model> parse(std::string_view compact_json);

  bool has_operation(std::string_view op) const;
  /// Input shape of `op`, or nullptr for unknown operations / no input.
  const Shape* input_shape(std::string_view op) const;
  const Shape& shape(std::size_t i) const { return shapes_.at(i); }
  const std::vector<std::string>& operations() const noexcept { return operations_; }
  /// Enum values of a named shape (empty if none / unknown).
  const std::vector<std::string>& enum_of(std::string_view shape_name) const;

 private:
  std::vector<std::string> operations_;
  std::vector<std::optional<std::size_t>> op_inputs_;
  std::vector<Shape> shapes_;
};

/// Reduces the full botocore model JSON to the compact table: operation ->
/// input shape, and every shape reachable from an input, without
/// documentation. Deterministic output (one shape per line).
Result<std::string> compact_model_json(std::string_view full_model_json);

/// The compact table embedded in this build (the text of kms_model_data.inc).
std::string_view embedded_model_json() noexcept;

}  // namespace kp::emulator
