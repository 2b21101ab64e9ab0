#include "emulator/model.h"

#include <algorithm>
#include <map>
#include <set>

#include <boost/json.hpp>

namespace kp::emulator {

namespace json = boost::json;

namespace {

constexpr std::string_view kEmbeddedModel =
#include "emulator/kms_model_data.inc"
    ;

// ---- UTF-8 --------------------------------------------------------------

// Decodes one code point; returns false on malformed input.
bool next_code_point(std::string_view s, std::size_t& i, std::uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    i += 1;
    return true;
  }
  std::size_t n = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 1;
    cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 2;
    cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 3;
    cp = b0 & 0x07u;
  } else {
    return false;
  }
  if (i + n >= s.size()) {
    return false;
  }
  for (std::size_t k = 1; k <= n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      return false;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  i += n + 1;
  return true;
}

// ---- pattern parsing -----------------------------------------------------

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct ClassItem {
  bool is_set = false;  // \w \s \d expanded into ranges
  std::uint32_t cp = 0;
};

// Parses one class atom at p[i]; appends predefined-class ranges directly.
template <class Ranges>
bool parse_atom(std::string_view p, std::size_t& i, ClassItem& out, Ranges& ranges) {
  if (i >= p.size()) {
    return false;
  }
  if (p[i] != '\\') {
    out = {false, static_cast<unsigned char>(p[i])};
    ++i;
    return true;
  }
  if (i + 1 >= p.size()) {
    return false;
  }
  const char e = p[i + 1];
  i += 2;
  switch (e) {
    case 'u': {
      if (i + 4 > p.size()) {
        return false;
      }
      std::uint32_t v = 0;
      for (std::size_t k = 0; k < 4; ++k) {
        const int d = hex_digit(p[i + k]);
        if (d < 0) {
          return false;
        }
        v = (v << 4) | static_cast<std::uint32_t>(d);
      }
      i += 4;
      out = {false, v};
      return true;
    }
    case 'w':
      ranges.push_back({'a', 'z'});
      ranges.push_back({'A', 'Z'});
      ranges.push_back({'0', '9'});
      ranges.push_back({'_', '_'});
      out = {true, 0};
      return true;
    case 'd':
      ranges.push_back({'0', '9'});
      out = {true, 0};
      return true;
    case 's':
      ranges.push_back({' ', ' '});
      ranges.push_back({'\t', '\r'});  // \t \n \v \f \r
      out = {true, 0};
      return true;
    default:
      if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
        return false;  // other escapes (\p, \b, ...) are not simple
      }
      out = {false, static_cast<unsigned char>(e)};
      return true;
  }
}

json::object strip_shape(const json::object& full) {
  json::object out;
  static constexpr std::string_view kKeep[] = {"type", "required", "min", "max", "enum", "pattern", "sensitive"};
  for (const auto& kv : full) {
    const std::string_view k = kv.key();
    if (std::find(std::begin(kKeep), std::end(kKeep), k) != std::end(kKeep)) {
      out[k] = kv.value();
    } else if (k == "members") {
      json::object members;
      for (const auto& m : kv.value().as_object()) {
        members[m.key()] = m.value().as_object().at("shape");
      }
      out["members"] = std::move(members);
    } else if (k == "member" || k == "key" || k == "value") {
      out[k] = kv.value().as_object().at("shape");
    }
  }
  return out;
}

std::optional<ShapeType> parse_type(std::string_view t) {
  static const std::map<std::string_view, ShapeType> kTypes = {
      {"structure", ShapeType::kStructure}, {"string", ShapeType::kString},   {"blob", ShapeType::kBlob},
      {"integer", ShapeType::kInteger},     {"long", ShapeType::kLong},       {"boolean", ShapeType::kBoolean},
      {"list", ShapeType::kList},           {"map", ShapeType::kMap},         {"timestamp", ShapeType::kTimestamp},
      {"double", ShapeType::kDouble},       {"float", ShapeType::kDouble},
  };
  const auto it = kTypes.find(t);
  if (it == kTypes.end()) {
    return std::nullopt;
  }
  return it->second;
}

}  // namespace

// ---- PatternMatcher ------------------------------------------------------

PatternMatcher::PatternMatcher(std::string pattern) : pattern_(std::move(pattern)) {
  const std::string_view p = pattern_;
  std::size_t i = 0;
  if (i < p.size() && p[i] == '^') {
    ++i;
  }
  bool simple = i < p.size() && p[i] == '[' && (i + 1 < p.size() && p[i + 1] != '^');
  std::vector<Range> ranges;
  if (simple) {
    ++i;
    bool closed = false;
    while (simple && i < p.size()) {
      if (p[i] == ']') {
        closed = true;
        ++i;
        break;
      }
      ClassItem a;
      if (!parse_atom(p, i, a, ranges)) {
        simple = false;
        break;
      }
      if (a.is_set) {
        continue;
      }
      if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
        ++i;
        ClassItem b;
        if (!parse_atom(p, i, b, ranges) || b.is_set || b.cp < a.cp) {
          simple = false;
          break;
        }
        ranges.push_back({a.cp, b.cp});
      } else {
        ranges.push_back({a.cp, a.cp});
      }
    }
    simple = simple && closed && i < p.size() && (p[i] == '+' || p[i] == '*');
    if (simple) {
      allow_empty_ = p[i] == '*';
      ++i;
      if (i < p.size() && p[i] == '$') {
        ++i;
      }
      simple = i == p.size();
    }
  }
  if (simple) {
    simple_ = true;
    ranges_ = std::move(ranges);
    return;
  }
  try {
    regex_ = std::make_shared<const std::regex>(pattern_, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    regex_.reset();  // not applicable: matches() accepts everything
  }
}

bool PatternMatcher::matches(std::string_view utf8) const {
  if (simple_) {
    if (utf8.empty()) {
      return allow_empty_;
    }
    std::size_t i = 0;
    while (i < utf8.size()) {
      std::uint32_t cp = 0;
      if (!next_code_point(utf8, i, cp)) {
        return false;
      }
      const bool in = std::any_of(ranges_.begin(), ranges_.end(),
                                  [cp](const Range& r) { return cp >= r.lo && cp <= r.hi; });
      if (!in) {
        return false;
      }
    }
    return true;
  }
  if (!regex_ || utf8.size() > kMaxRegexInput) {
    return true;
  }
  return std::regex_match(utf8.begin(), utf8.end(), *regex_);
}

// ---- Model ---------------------------------------------------------------

const Model& Model::embedded() {
  static const Model m = [] {
    auto r = parse(kEmbeddedModel);
    if (!r) {
      // The embedded table is checked by model_test; failing here is a build bug.
      throw std::logic_error("emulator: embedded KMS model table is invalid: " + r.error().message);
    }
    return std::move(*r);
  }();
  return m;
}

std::string_view embedded_model_json() noexcept { return kEmbeddedModel; }

Result<Model> Model::parse(std::string_view compact_json) {
  boost::system::error_code ec;
  const json::value root = json::parse(compact_json, ec);
  if (ec || !root.is_object()) {
    return fail(Errc::kInternal, "emulator model: table is not a JSON object");
  }
  const auto* ops = root.as_object().if_contains("operations");
  const auto* shapes = root.as_object().if_contains("shapes");
  if (ops == nullptr || shapes == nullptr || !ops->is_object() || !shapes->is_object()) {
    return fail(Errc::kInternal, "emulator model: missing operations/shapes");
  }
  Model m;
  std::map<std::string, std::size_t, std::less<>> index;
  for (const auto& kv : shapes->as_object()) {
    index.emplace(std::string(kv.key()), index.size());
  }
  const auto ref = [&](const json::value& v) -> Result<std::size_t> {
    if (!v.is_string()) {
      return fail(Errc::kInternal, "emulator model: shape reference is not a string");
    }
    const auto it = index.find(std::string_view(v.as_string()));
    if (it == index.end()) {
      return fail(Errc::kInternal, "emulator model: unknown shape " + std::string(v.as_string()));
    }
    return it->second;
  };
  m.shapes_.resize(index.size());
  for (const auto& kv : shapes->as_object()) {
    Shape& s = m.shapes_[index.at(std::string(kv.key()))];
    s.name = std::string(kv.key());
    if (!kv.value().is_object()) {
      return fail(Errc::kInternal, "emulator model: shape " + s.name + " is not an object");
    }
    const auto& o = kv.value().as_object();
    const auto* t = o.if_contains("type");
    const auto type = (t != nullptr && t->is_string()) ? parse_type(t->as_string()) : std::nullopt;
    if (!type) {
      return fail(Errc::kInternal, "emulator model: shape " + s.name + " has no known type");
    }
    s.type = *type;
    if (const auto* v = o.if_contains("min"); v != nullptr && v->is_number()) {
      s.min = v->to_number<std::int64_t>();
    }
    if (const auto* v = o.if_contains("max"); v != nullptr && v->is_number()) {
      s.max = v->to_number<std::int64_t>();
    }
    if (const auto* v = o.if_contains("enum"); v != nullptr && v->is_array()) {
      for (const auto& e : v->as_array()) {
        s.enum_values.emplace_back(e.as_string());
      }
    }
    if (const auto* v = o.if_contains("pattern"); v != nullptr && v->is_string()) {
      s.pattern.emplace(std::string(v->as_string()));
    }
    if (const auto* v = o.if_contains("sensitive"); v != nullptr && v->is_bool()) {
      s.sensitive = v->as_bool();
    }
    if (const auto* v = o.if_contains("required"); v != nullptr && v->is_array()) {
      for (const auto& e : v->as_array()) {
        s.required.emplace_back(e.as_string());
      }
    }
    if (const auto* v = o.if_contains("members"); v != nullptr && v->is_object()) {
      for (const auto& mm : v->as_object()) {
        auto r = ref(mm.value());
        if (!r) {
          return r.error();
        }
        s.members.push_back({std::string(mm.key()), *r});
      }
    }
    for (const auto* which : {"member", "key", "value"}) {
      if (const auto* v = o.if_contains(which)) {
        auto r = ref(*v);
        if (!r) {
          return r.error();
        }
        if (std::string_view(which) == "member") {
          s.member = *r;
        } else if (std::string_view(which) == "key") {
          s.key = *r;
        } else {
          s.value = *r;
        }
      }
    }
  }
  for (const auto& kv : ops->as_object()) {
    m.operations_.emplace_back(kv.key());
    if (kv.value().is_null()) {
      m.op_inputs_.emplace_back(std::nullopt);
    } else {
      auto r = ref(kv.value());
      if (!r) {
        return r.error();
      }
      m.op_inputs_.emplace_back(*r);
    }
  }
  return m;
}

bool Model::has_operation(std::string_view op) const {
  return std::find(operations_.begin(), operations_.end(), op) != operations_.end();
}

const Shape* Model::input_shape(std::string_view op) const {
  const auto it = std::find(operations_.begin(), operations_.end(), op);
  if (it == operations_.end()) {
    return nullptr;
  }
  const auto& in = op_inputs_[static_cast<std::size_t>(it - operations_.begin())];
  return in ? &shapes_[*in] : nullptr;
}

const std::vector<std::string>& Model::enum_of(std::string_view shape_name) const {
  static const std::vector<std::string> kEmpty;
  for (const auto& s : shapes_) {
    if (s.name == shape_name) {
      return s.enum_values;
    }
  }
  return kEmpty;
}

// ---- compaction ----------------------------------------------------------

Result<std::string> compact_model_json(std::string_view full_model_json) {
  boost::system::error_code ec;
  const json::value root = json::parse(full_model_json, ec);
  if (ec || !root.is_object()) {
    return fail(Errc::kInternal, "emulator model: full model is not JSON");
  }
  const auto* ops = root.as_object().if_contains("operations");
  const auto* shapes = root.as_object().if_contains("shapes");
  if (ops == nullptr || shapes == nullptr || !ops->is_object() || !shapes->is_object()) {
    return fail(Errc::kInternal, "emulator model: full model lacks operations/shapes");
  }
  const auto& all = shapes->as_object();
  std::map<std::string, json::object> keep;  // sorted by name: deterministic output
  std::vector<std::string> todo;
  json::object op_table;
  std::vector<std::string> op_names;
  for (const auto& kv : ops->as_object()) {
    op_names.emplace_back(kv.key());
  }
  std::sort(op_names.begin(), op_names.end());
  for (const auto& name : op_names) {
    const auto& op = ops->as_object().at(name).as_object();
    if (const auto* in = op.if_contains("input")) {
      const std::string shape(in->as_object().at("shape").as_string());
      op_table[name] = shape;
      todo.push_back(shape);
    } else {
      op_table[name] = nullptr;
    }
  }
  while (!todo.empty()) {
    const std::string name = todo.back();
    todo.pop_back();
    if (keep.count(name) != 0) {
      continue;
    }
    const auto* s = all.if_contains(name);
    if (s == nullptr || !s->is_object()) {
      return fail(Errc::kInternal, "emulator model: missing shape " + name);
    }
    json::object c = strip_shape(s->as_object());
    if (const auto* members = c.if_contains("members")) {
      for (const auto& m : members->as_object()) {
        todo.emplace_back(m.value().as_string());
      }
    }
    for (const auto* which : {"member", "key", "value"}) {
      if (const auto* v = c.if_contains(which)) {
        todo.emplace_back(v->as_string());
      }
    }
    keep.emplace(name, std::move(c));
  }
  std::string out = "{\"operations\":";
  out += json::serialize(op_table);
  out += ",\n\"shapes\":{\n";
  bool first = true;
  for (const auto& [name, shape] : keep) {
    if (!first) {
      out += ",\n";
    }
    first = false;
    out += json::serialize(json::value(name));
    out += ':';
    out += json::serialize(shape);
  }
  out += "\n}}\n";
  return out;
}

}  // namespace kp::emulator
