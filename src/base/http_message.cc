#include "base/http_message.h"

#include <algorithm>

#include "base/error.h"

namespace kp {

bool iequals_same_size(const char* a, const char* b, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    // ASCII case folding: letters differ only in bit 0x20.
    const char x = a[i];
    const char y = b[i];
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) {
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
  // Replace the first field in place (keeps its position and its buffers),
  // drop any later duplicates.
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (iequals(fields_[i].first, name)) {
      fields_[i].first.assign(name);
      fields_[i].second.assign(value);
      const auto rest = fields_.begin() + static_cast<std::ptrdiff_t>(i) + 1;
      fields_.erase(std::remove_if(rest, fields_.end(), [&](const Field& f) { return iequals(f.first, name); }),
                    fields_.end());
      return;
    }
  }
  add(name, value);
}

void Headers::add(std::string_view name, std::string_view value) {
  if (fields_.capacity() == 0) {
    fields_.reserve(12);  // typical SDK request; avoids regrowth copies
  }
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
