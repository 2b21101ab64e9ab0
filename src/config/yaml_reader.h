// File: config/yaml_reader.h
//
// Internal to config/: the YAML walking helper (Reader: type-checked values,
// unknown/duplicate key reports, origins) shared by enclaver_yaml.cc (the
// document and Enclaver's sections) and kms_proxy_yaml.cc (the kms_proxy:
// section). Include only from those .cc files: it pulls in yaml-cpp, which
// the public headers keep out.
//
// Pure: yaml-cpp, no Asio.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/diagnostic.h"
#include "config/overrides.h"

namespace kp::config::yaml_detail {

namespace fs = std::filesystem;

// One key/value pair of a mapping, with its dotted path.
struct Field {
  const YAML::Node& key;
  const YAML::Node& value;
  std::string path;
};

inline std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (const auto n : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += n;
  }
  return out;
}

inline std::string describe(const YAML::Node& n) {
  if (n.IsNull()) {
    return "nothing";
  }
  if (n.IsSequence()) {
    return "a list";
  }
  if (n.IsMap()) {
    return "a mapping";
  }
  std::string s = n.Scalar();
  if (s.size() > 40) {
    s = s.substr(0, 40) + "...";
  }
  return "'" + s + "'";
}

class Reader {
 public:
  Reader(std::string source, fs::path base_dir, Config& cfg, Diagnostics& diags)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), cfg_(cfg), diags_(diags) {}

  Origin at(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null() || m.line < 0) {
      return {source_, 0, 0};
    }
    return {source_, static_cast<unsigned>(m.line) + 1, static_cast<unsigned>(m.column) + 1};
  }
  // A setting is located at its key: null values carry the position of
  // whatever follows them, and block lists/mappings start on the next line.
  Origin at(const Field& f) const { return at(f.key); }

  void error(const Origin& where, std::string msg) {
    diags_.push_back({where, std::move(msg), Severity::kError});
  }
  void error(const Field& f, std::string msg) { error(at(f), f.path + ": " + std::move(msg)); }
  void record(const Field& f) { cfg_.origins[f.path] = at(f); }
  void record(const std::string& path, const Origin& o) { cfg_.origins[path] = o; }

  // Walks a mapping: reports a non-mapping, unknown keys and duplicate keys;
  // calls each(Field) for every known key. `where` names the section in
  // messages ("kms_proxy", or "the top level").
  template <class F>
  void mapping(const YAML::Node& node, const Origin& node_at, std::string_view path,
               std::initializer_list<std::string_view> known, F&& each) {
    if (node.IsNull()) {
      return;  // "section:" with nothing under it: all defaults
    }
    if (!node.IsMap()) {
      error(node_at, std::string(path.empty() ? "the document" : path) +
                         ": expected a mapping, got " + describe(node));
      return;
    }
    std::map<std::string, unsigned> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // yaml-cpp's operator-> returns a temporary proxy: `it->first` must not
      // be bound to a reference that outlives the statement. Copy the pair.
      const auto kv = *it;
      const YAML::Node& k = kv.first;
      const YAML::Node& v = kv.second;
      if (!k.IsScalar()) {
        error(at(k), std::string(path.empty() ? "top level" : path) + ": keys must be plain names");
        continue;
      }
      const std::string name = k.Scalar();
      const std::string child = path.empty() ? name : std::string(path) + "." + name;
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        error(at(k), "unknown key '" + name + "' " +
                         (path.empty() ? std::string("at the top level")
                                       : "in " + std::string(path)) +
                         " (expected one of: " + join(known) + ")");
        continue;
      }
      const unsigned line = at(k).line;
      const auto [pos, fresh] = seen.emplace(name, line);
      if (!fresh) {
        error(at(k), "duplicate key '" + child + "' (first at line " + std::to_string(pos->second) + ")");
        continue;
      }
      each(Field{k, v, child});
    }
  }

  template <class F>
  void mapping(const Field& f, std::initializer_list<std::string_view> known, F&& each) {
    mapping(f.value, at(f), f.path, known, std::forward<F>(each));
  }

  std::optional<std::string> str(const Field& f) {
    if (f.value.IsNull()) {
      error(f, "value is missing");
      return std::nullopt;
    }
    if (!f.value.IsScalar()) {
      error(f, "expected a string, got " + describe(f.value));
      return std::nullopt;
    }
    record(f);
    return f.value.Scalar();
  }

  // An integer in [lo, hi] as serde_yaml 0.9 (Enclaver's parser) reads one:
  // a plain or !!int scalar, decimal without leading zeros (YAML 1.2 reads
  // "0123" as a string), or 0x / 0o / 0b with hex, octal or binary digits,
  // optionally after a '+'. A quoted scalar is a string.
  std::optional<std::uint64_t> integer(const Field& f, std::uint64_t lo, std::uint64_t hi,
                                       std::string_view what) {
    const std::string expect =
        "expected " + std::string(what) + " " + std::to_string(lo) + ".." + std::to_string(hi);
    if (f.value.IsNull()) {
      error(f, "value is missing (" + expect + ")");
      return std::nullopt;
    }
    const bool int_tag = f.value.Tag() == "tag:yaml.org,2002:int";
    if (!f.value.IsScalar() || (f.value.Tag() != "?" && !int_tag)) {
      error(f, expect + ", got " + (f.value.IsScalar() ? "the quoted string " : "") + describe(f.value));
      return std::nullopt;
    }
    std::string_view s = f.value.Scalar();
    if (!s.empty() && s.front() == '+') {
      s.remove_prefix(1);
    }
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
      base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
      s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
      error(f, expect + ", got " + describe(f.value) + " (a leading zero makes it a string in YAML 1.2)");
      return std::nullopt;
    }
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) {
      error(f, expect + ", got " + describe(f.value));
      return std::nullopt;
    }
    record(f);
    return v;
  }

  std::optional<std::uint16_t> port(const Field& f) {
    const auto v = integer(f, 0, 65535, "a port number");
    return v ? std::optional<std::uint16_t>(static_cast<std::uint16_t>(*v)) : std::nullopt;
  }

  std::optional<Millis> duration(const Field& f) {
    if (f.value.IsNull() || !f.value.IsScalar()) {
      error(f, "expected a duration such as 500ms, 10s, 5m or a number of seconds, got " +
                   describe(f.value));
      return std::nullopt;
    }
    const auto d = parse_duration(f.value.Scalar());
    if (!d) {
      error(f, "expected a duration such as 500ms, 10s, 5m or a number of seconds (at most 100000h), got " +
                   describe(f.value));
      return std::nullopt;
    }
    record(f);
    return d;
  }

  // A list of strings; each entry's position is recorded as path[i].
  std::optional<std::vector<std::string>> str_list(const Field& f, bool allow_single) {
    if (allow_single && f.value.IsScalar()) {
      record(f);
      record(f.path + "[0]", at(f));
      return std::vector<std::string>{f.value.Scalar()};
    }
    if (f.value.IsNull()) {
      return std::vector<std::string>{};
    }
    if (!f.value.IsSequence()) {
      error(f, "expected a list of strings, got " + describe(f.value));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    std::size_t i = 0;
    for (const auto& item : f.value) {
      const std::string p = f.path + "[" + std::to_string(i++) + "]";
      if (!item.IsScalar()) {
        error(at(item), p + ": expected a string, got " + describe(item));
        ok = false;
        continue;
      }
      record(p, at(item));
      out.push_back(item.Scalar());
    }
    record(f);
    return ok ? std::optional(std::move(out)) : std::nullopt;
  }

  std::string resolve(const std::string& p) const {
    if (p.empty() || base_dir_.empty() || fs::path(p).is_absolute()) {
      return p;
    }
    return (base_dir_ / p).lexically_normal().string();
  }

  void require(const Field& f, std::set<std::string>& present, std::initializer_list<std::string_view> keys) {
    for (const auto k : keys) {
      if (present.count(std::string(k)) == 0) {
        error(at(f.key), f.path + ": missing required key '" + std::string(k) + "'");
      }
    }
  }

  Config& cfg() { return cfg_; }

 private:
  std::string source_;
  fs::path base_dir_;
  Config& cfg_;
  Diagnostics& diags_;
};

/// Reads the kms_proxy: section (kms_proxy_yaml.cc).
void read_kms_proxy(Reader& r, const Field& f);

}  // namespace kp::config::yaml_detail
