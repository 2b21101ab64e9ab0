#include "kms/errors.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace kp::kms {

namespace json = boost::json;

namespace {

std::string_view string_member(const json::object& obj, std::string_view key) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    return {};
  }
  const json::string* s = it->value().if_string();
  return s != nullptr ? std::string_view(s->data(), s->size()) : std::string_view{};
}

}  // namespace

std::string_view sanitize_error_type(std::string_view raw) noexcept {
  if (const auto colon = raw.find(':'); colon != std::string_view::npos) {
    raw = raw.substr(0, colon);
  }
  if (const auto hash = raw.rfind('#'); hash != std::string_view::npos) {
    raw = raw.substr(hash + 1);
  }
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) {
    raw.remove_prefix(1);
  }
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) {
    raw.remove_suffix(1);
  }
  return raw;
}

std::string loggable_request_id(std::string_view raw) {
  constexpr std::size_t kMax = 128;
  std::string out(raw.substr(0, kMax));
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '/' || c == '+' || c == '=' || c == '-';
    if (!ok) {
      c = '?';
    }
  }
  if (raw.size() > kMax) {
    out += "...";
  }
  return out;
}

bool is_clock_skew_error(std::string_view type) noexcept {
  static constexpr std::string_view kTypes[] = {"AuthFailure",        "InvalidSignatureException",
                                                "RequestExpired",     "RequestInTheFuture",
                                                "RequestTimeTooSkewed", "SignatureDoesNotMatch"};
  for (const auto t : kTypes) {
    if (type == t) {
      return true;
    }
  }
  return false;
}

std::optional<KmsErrorInfo> parse_error_body(std::string_view body, std::string_view error_type_header) {
  unsigned char arena[2048];
  json::monotonic_resource mr(arena, sizeof arena);
  json::error_code ec;
  const json::value doc = json::parse(body, ec, json::storage_ptr(&mr));
  const json::object* obj = ec ? nullptr : doc.if_object();
  if (obj == nullptr) {
    return std::nullopt;
  }
  std::string_view type = string_member(*obj, "__type");
  if (type.empty()) {
    type = error_type_header;
  }
  type = sanitize_error_type(type);
  if (type.empty()) {
    return std::nullopt;
  }
  // botocore: body.get('message', body.get('Message', '')).
  std::string_view message;
  if (obj->contains("message")) {
    message = string_member(*obj, "message");
  } else {
    message = string_member(*obj, "Message");
  }
  return KmsErrorInfo{std::string(type), std::string(message)};
}

}  // namespace kp::kms
