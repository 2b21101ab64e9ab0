#include "base/http_message.h"

#include <algorithm>

#include "base/error.h"

namespace kp {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& [k, v] : fields_) {
    if (iequals(k, name)) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : fields_) {
    if (iequals(k, name)) {
      out.emplace_back(v);
    }
  }
  return out;
}

void Headers::set(std::string_view name, std::string_view value) {
  erase(name);
  add(name, value);
}

void Headers::add(std::string_view name, std::string_view value) {
  fields_.emplace_back(std::string(name), std::string(value));
}

std::size_t Headers::erase(std::string_view name) {
  const auto before = fields_.size();
  std::erase_if(fields_, [&](const Field& f) { return iequals(f.first, name); });
  return before - fields_.size();
}

HttpResponse make_error_response(unsigned status, std::string_view type, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/x-amz-json-1.1");
  r.body = kms_error_body(type, message);
  return r;
}

}  // namespace kp
