#include "credentials/parse.h"

#include <algorithm>
#include <new>
#include <optional>
#include <string>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/null_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

#include "base/secret.h"
#include "base/time_format.h"

namespace kp::credentials {

namespace {

constexpr std::size_t kMaxAccessKeyId = 128;
constexpr std::size_t kMaxSecretField = 16 * 1024;  // session tokens are ~1-2 KiB

Error bad(std::string_view source, std::string_view what) {
  std::string msg(source);
  msg += ": ";
  msg += what;
  return Error{Errc::kCredentialsUnavailable, std::move(msg)};
}

/// The string value of `key`, or nullptr when absent or not a string.
const boost::json::string* string_field(const boost::json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v != nullptr ? v->if_string() : nullptr;
}


Result<sigv4::Credentials> extract(const boost::json::value& doc, std::string_view source,
                                   const CredentialsDocumentRules& rules) {
  const auto* obj = doc.if_object();
  if (obj == nullptr) {
    return bad(source, "credentials response is not a JSON object");
  }
  if (rules.require_success_code) {
    const auto* code_value = obj->if_contains("Code");
    const auto* code = string_field(*obj, "Code");
    if (code_value != nullptr && code == nullptr) {
      return bad(source, "credentials response field \"Code\" is not a string");
    }
    if (code != nullptr && *code != "Success") {
      return bad(source, "credentials response Code is \"" +
                             printable_excerpt(std::string_view(*code)) + "\", not \"Success\"");
    }
  }

  sigv4::Credentials creds;
  const auto* key_id = string_field(*obj, "AccessKeyId");
  if (key_id == nullptr || key_id->empty()) {
    return bad(source, "credentials response is missing the string field \"AccessKeyId\"");
  }
  if (!is_valid_access_key_id(std::string_view(*key_id))) {
    return bad(source, "credentials response field \"AccessKeyId\" is malformed");
  }
  creds.access_key_id.assign(key_id->data(), key_id->size());

  const auto* secret = string_field(*obj, "SecretAccessKey");
  if (secret == nullptr || secret->empty()) {
    return bad(source, "credentials response is missing the string field \"SecretAccessKey\"");
  }
  if (!is_valid_secret_value(std::string_view(*secret))) {
    return bad(source, "credentials response field \"SecretAccessKey\" is malformed");
  }
  creds.secret_access_key = SecretBytes::copy_of(std::string_view(*secret));

  const auto* token = string_field(*obj, "Token");
  if (token != nullptr && !token->empty()) {
    if (!is_valid_secret_value(std::string_view(*token))) {
      return bad(source, "credentials response field \"Token\" is malformed");
    }
    creds.session_token = SecretBytes::copy_of(std::string_view(*token));
  } else if (rules.require_token) {
    return bad(source, "credentials response is missing the string field \"Token\"");
  }

  const auto* exp = obj->if_contains("Expiration");
  if (exp != nullptr && !exp->is_null()) {
    const auto* exp_s = exp->if_string();
    if (exp_s == nullptr) {
      return bad(source, "credentials response field \"Expiration\" is not a string");
    }
    auto t = parse_expiration(std::string_view(*exp_s));
    if (!t) {
      return bad(source, "credentials response field \"Expiration\" (\"" +
                             printable_excerpt(std::string_view(*exp_s)) +
                             "\") is not an RFC 3339 time with a zone");
    }
    creds.expiration = *t;  // nullopt: a year past 2199, as good as never
  } else if (rules.require_expiration) {
    return bad(source, "credentials response is missing the string field \"Expiration\"");
  }
  return creds;
}

}  // namespace

// parse_time_utc() reads years 1900..2199 only (inside SysTime's range);
// botocore reads any four-digit year, so a well-formed time before 1900 is
// read as 1900 (long expired) and one after 2199 as no expiry.
std::optional<std::optional<SysTime>> parse_expiration(std::string_view s) {
  if (auto t = parse_time_utc(s)) {
    return std::optional<SysTime>(*t);
  }
  const bool four_digit_year = s.size() > 4 && s[4] == '-' &&
                               std::all_of(s.begin(), s.begin() + 4, [](char c) { return c >= '0' && c <= '9'; });
  if (!four_digit_year) {
    return std::nullopt;
  }
  const unsigned year = static_cast<unsigned>(std::stoi(std::string(s.substr(0, 4))));
  const unsigned bound = year > kMaxParsedYear ? kMaxParsedYear : kMinParsedYear;
  if (year >= kMinParsedYear && year <= kMaxParsedYear) {
    return std::nullopt;  // the year is fine: the rest is not
  }
  auto t = parse_time_utc(std::to_string(bound) + std::string(s.substr(4)));
  if (!t) {
    return std::nullopt;
  }
  return year > kMaxParsedYear ? std::optional<SysTime>() : std::optional<SysTime>(*t);
}

Result<sigv4::Credentials> parse_credentials_document(std::string_view body,
                                                      std::string_view source,
                                                      const CredentialsDocumentRules& rules) {
  if (body.size() > kMaxSecretField * 4) {
    return bad(source, "credentials response is too large");
  }
  // Every byte the parser allocates (its temporaries and the resulting DOM,
  // which holds the secret key and token) comes from this arena, which is
  // wiped when it goes out of scope. The arena has no upstream: a document
  // whose DOM would outgrow it (many small values: a real one is a flat
  // object of a few strings, far below the bound) is refused rather than
  // spilling secrets into heap memory that is freed unwiped.
  SecretBytes arena(body.size() * 3 + 8192);
  Result<sigv4::Credentials> out = bad(source, "credentials response is not valid JSON");
  try {
    boost::json::monotonic_resource mr(arena.data(), arena.size(), boost::json::get_null_resource());
    boost::json::storage_ptr sp(&mr);
    boost::json::parser parser(sp);
    parser.reset(sp);
    boost::system::error_code ec;
    parser.write(body.data(), body.size(), ec);
    if (!ec) {
      const boost::json::value doc = parser.release();
      out = extract(doc, source, rules);
    }
  } catch (const std::bad_alloc&) {  // the arena is exhausted (null_resource throws)
    out = bad(source, "credentials response has too many values to be a credentials document");
  }
  return out;
}

bool is_visible_ascii(std::string_view s) noexcept {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

bool is_valid_access_key_id(std::string_view v) noexcept {
  return !v.empty() && v.size() <= kMaxAccessKeyId && is_visible_ascii(v);
}

bool is_valid_secret_value(std::string_view v) noexcept {
  return !v.empty() && v.size() <= kMaxSecretField && is_visible_ascii(v);
}

std::string printable_excerpt(std::string_view s, std::size_t max) {
  std::string out;
  const std::size_t n = s.size() < max ? s.size() : max;
  out.reserve(n + 3);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '?' : static_cast<char>(c));
  }
  if (s.size() > max) {
    out += "...";
  }
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  const auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_ws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_valid_header_value(std::string_view v) noexcept {
  if (v.empty()) {
    return false;
  }
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return false;
    }
  }
  return true;
}

std::string mask_access_key_id(std::string_view id) {
  if (id.size() <= 8) {
    return std::string(id.size(), '*');
  }
  std::string out(id.substr(0, 4));
  out += "...";
  out += id.substr(id.size() - 4);
  return out;
}

}  // namespace kp::credentials
