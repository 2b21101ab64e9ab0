// File: fuzz/fuzz_util.h
// Helpers shared by the libFuzzer harnesses: a checked invariant that aborts
// (so libFuzzer records the input as a crash) and the vectors directory,
// overridable at run time with KP_FUZZ_VECTORS_DIR. Test-only; never linked
// into the product.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace kp::fuzz {

/// A property the code under test must have; a violation is a finding.
#define KP_FUZZ_CHECK(cond)                                                              \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

/// Whether a known, reported, not yet fixed finding `id` is tolerated in this
/// run: KP_FUZZ_TOLERATE is a comma-separated list of ids (scripts/fuzz.sh
/// sets it from fuzz/known_open_issues.txt). Each harness skips exactly the
/// check that id names, so the fuzzer keeps looking for other bugs; unset
/// the variable to make every check strict.
inline bool tolerated(std::string_view id) {
  static const std::string list = [] {
    const char* env = std::getenv("KP_FUZZ_TOLERATE");
    return std::string(",") + (env != nullptr ? env : "") + ",";
  }();
  return list.find(std::string(",") + std::string(id) + ",") != std::string::npos;
}

/// Every `sep`-separated part of `s`, empty ones included ("a;;b" -> a, "", b).
inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  while (true) {
    const auto next = s.find(sep);
    parts.emplace_back(s.substr(0, next));
    if (next == std::string_view::npos) {
      return parts;
    }
    s.remove_prefix(next + 1);
  }
}

/// <vectors>/<rel>, where <vectors> is $KP_FUZZ_VECTORS_DIR or the
/// compile-time KP_VECTORS_DIR (../shared/vectors beside the checkout).
inline std::string vectors_path(const std::string& rel) {
  const char* env = std::getenv("KP_FUZZ_VECTORS_DIR");
  const std::string dir = (env != nullptr && *env != '\0') ? env : KP_VECTORS_DIR;
  return dir + "/" + rel;
}

/// Whole file, or nullopt. Init-time use only.
inline std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Like read_file(), but a missing fixture ends the process with a clear
/// message (a harness that silently fuzzes nothing would be worse).
inline std::string read_fixture(const std::string& rel) {
  const std::string path = vectors_path(rel);
  auto s = read_file(path);
  if (!s) {
    std::fprintf(stderr, "fuzz: cannot read fixture %s (set KP_FUZZ_VECTORS_DIR)\n", path.c_str());
    std::exit(2);
  }
  return *s;
}

}  // namespace kp::fuzz
