// File: config/diagnostic.h
//
// Startup diagnostics: one problem in the configuration, located at the file
// and line it came from (or at the flag / environment variable that set it).
// Configuration loading collects every problem and reports them together;
// nothing here throws or stops at the first error.
//
//   kp::config::Diagnostics d = kp::config::validate(cfg);
//   for (const auto& x : d) std::cerr << x.to_string() << "\n";
//   if (kp::config::has_errors(d)) return 2;
//
// Pure: standard library and boost::system::result only (no Asio, no YAML).
#pragma once

#include <boost/system/result.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kp::config {

enum class Severity { kError, kWarning };

/// Where a setting came from: a file position, or a flag / environment name
/// in `source` with line 0.
struct Origin {
  std::string source;   // "enclaver.yaml", "--port", "environment AWS_REGION"; empty = default
  unsigned line = 0;    // 1-based; 0 = no position
  unsigned column = 0;  // 1-based; 0 = no position

  /// "file:line", or the source alone ("--port"); "" for a default.
  std::string to_string() const;
};

struct Diagnostic {
  Origin where;
  std::string message;
  Severity severity = Severity::kError;

  /// "file:line: message" (position known), "source: message", or just
  /// "message"; warnings carry a "warning: " prefix before the message.
  std::string to_string() const;
};

using Diagnostics = std::vector<Diagnostic>;

bool has_errors(const Diagnostics& d) noexcept;
/// One line per diagnostic, in order.
std::string format_diagnostics(const Diagnostics& d);

/// The value, or every diagnostic (all errors) that prevented it.
template <class T>
using Checked = boost::system::result<T, Diagnostics>;

/// Setting path ("kms_proxy.listen_port", "ingress[1].listen_port") -> where
/// it was set. Validation uses it to point at the offending line.
using Origins = std::map<std::string, Origin, std::less<>>;

/// Called by boost::system::result::value() on an error (found by ADL).
[[noreturn]] void throw_exception_from_error(const Diagnostics& d,
                                             const boost::source_location& loc);

}  // namespace kp::config
