#include "config/diagnostic.h"

#include <stdexcept>

namespace kp::config {

std::string Origin::to_string() const {
  return line > 0 ? source + ":" + std::to_string(line) : source;
}

std::string Diagnostic::to_string() const {
  std::string out;
  if (!where.source.empty()) {
    out += where.to_string();
    out += ": ";
  }
  if (severity == Severity::kWarning) {
    out += "warning: ";
  }
  out += message;
  return out;
}

bool has_errors(const Diagnostics& d) noexcept {
  for (const auto& x : d) {
    if (x.severity == Severity::kError) {
      return true;
    }
  }
  return false;
}

std::string format_diagnostics(const Diagnostics& d) {
  std::string out;
  for (const auto& x : d) {
    out += x.to_string();
    out += '\n';
  }
  return out;
}

void throw_exception_from_error(const Diagnostics& d, const boost::source_location&) {
  throw std::runtime_error("configuration: " + format_diagnostics(d));
}

}  // namespace kp::config
