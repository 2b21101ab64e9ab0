#include "sigv4/authorization.h"

#include <algorithm>
#include <array>
#include <optional>

#include "sigv4/canonical.h"

namespace kp::sigv4 {

namespace {

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ows(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

kp::Error incomplete(std::string message) {
  return kp::fail(Errc::kIncompleteSignature, std::move(message));
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool valid_access_key_id(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 128 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f && c != ','; });
}

bool valid_date8(std::string_view s) noexcept {
  if (s.size() != 8 || !std::all_of(s.begin(), s.end(), is_digit)) {
    return false;
  }
  const int month = (s[4] - '0') * 10 + (s[5] - '0');
  const int day = (s[6] - '0') * 10 + (s[7] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// Regions and signing names are lower-case letters, digits and '-' (AWS).
bool valid_scope_name(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
  });
}

// RFC 9110 tchar, lower-case only: one table lookup per character.
constexpr std::array<bool, 256> make_lower_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}
constexpr std::array<bool, 256> kLowerTchar = make_lower_tchar_table();

bool valid_header_name(std::string_view s) noexcept {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return kLowerTchar[static_cast<unsigned char>(c)]; });
}

bool valid_signature(std::string_view s) noexcept {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f');
  });
}

// Calls f(part) for each `sep`-separated part of `s`, in order, without
// allocating; stops early when f returns false.
template <class F>
void for_each_part(std::string_view s, char sep, F&& f) {
  for (;;) {
    const auto end = s.find(sep);
    if (!f(s.substr(0, end)) || end == std::string_view::npos) {
      return;
    }
    s.remove_prefix(end + 1);
  }
}

}  // namespace

kp::Result<AuthorizationView> parse_authorization_view(std::string_view header) {
  header = trim(header);
  const auto space = header.find_first_of(" \t");
  const std::string_view algorithm = header.substr(0, space);
  if (algorithm.empty()) {
    return incomplete(std::string(kMissingAuthorizationMessage));
  }
  if (algorithm != kAlgorithm) {
    return incomplete("Authorization header: unsupported signing algorithm (only AWS4-HMAC-SHA256 is accepted)");
  }
  const std::string_view params = space == std::string_view::npos ? std::string_view{} : trim(header.substr(space));

  std::optional<std::string_view> credential;
  std::optional<std::string_view> signed_headers;
  std::optional<std::string_view> signature;
  if (!params.empty()) {
    std::optional<kp::Error> bad;
    for_each_part(params, ',', [&](std::string_view raw) {
      const std::string_view part = trim(raw);
      const auto eq = part.find('=');
      if (part.empty() || eq == std::string_view::npos) {
        bad = incomplete("Authorization header: malformed parameter list (expected Name=Value separated by ',')");
        return false;
      }
      const std::string_view name = part.substr(0, eq);
      const std::string_view value = part.substr(eq + 1);
      std::optional<std::string_view>* slot = nullptr;
      if (name == "Credential") {
        slot = &credential;
      } else if (name == "SignedHeaders") {
        slot = &signed_headers;
      } else if (name == "Signature") {
        slot = &signature;
      } else {
        bad = incomplete("Authorization header: unknown parameter (allowed: Credential, SignedHeaders, Signature)");
        return false;
      }
      if (slot->has_value()) {
        bad = incomplete("Authorization header: a parameter appears more than once");
        return false;
      }
      *slot = value;
      return true;
    });
    if (bad) {
      return *bad;
    }
  }

  std::string missing;
  if (!credential) {
    missing += "Authorization header requires 'Credential' parameter. ";
  }
  if (!signature) {
    missing += "Authorization header requires 'Signature' parameter. ";
  }
  if (!signed_headers) {
    missing += "Authorization header requires 'SignedHeaders' parameter. ";
  }
  if (!missing.empty()) {
    missing.pop_back();
    return incomplete(std::move(missing));
  }

  AuthorizationView info;
  std::array<std::string_view, 5> scope;
  std::size_t n_scope = 0;
  for_each_part(*credential, '/', [&](std::string_view part) {
    if (n_scope < scope.size()) {
      scope[n_scope] = part;
    }
    ++n_scope;
    return n_scope <= scope.size();
  });
  if (n_scope != scope.size()) {
    return incomplete(
        "Authorization header: Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request");
  }
  if (!valid_access_key_id(scope[0])) {
    return incomplete("Authorization header: Credential access key id is empty or malformed");
  }
  if (!valid_date8(scope[1])) {
    return incomplete("Authorization header: Credential date must be YYYYMMDD");
  }
  if (!valid_scope_name(scope[2])) {
    return incomplete("Authorization header: Credential region is empty or malformed");
  }
  if (!valid_scope_name(scope[3])) {
    return incomplete("Authorization header: Credential service is empty or malformed");
  }
  if (scope[4] != kScopeTerminator) {
    return incomplete("Credential should be scoped with a valid terminator: 'aws4_request'");
  }
  info.access_key_id = scope[0];
  info.date = scope[1];
  info.region = scope[2];
  info.service = scope[3];

  // Lower-case names, sorted and unique, separated by ';' (checked without
  // building a list: the caller may not need one).
  std::optional<std::string_view> previous;
  bool names_ok = true;
  for_each_part(*signed_headers, ';', [&](std::string_view name) {
    names_ok = valid_header_name(name) && (!previous || *previous < name);
    previous = name;
    return names_ok;
  });
  if (!names_ok) {
    return incomplete(
        "Authorization header: SignedHeaders must be lower-case header names, sorted and unique, "
        "separated by ';'");
  }
  info.signed_headers = *signed_headers;

  if (!valid_signature(*signature)) {
    return incomplete("Authorization header: Signature must be 64 lower-case hex digits");
  }
  info.signature = *signature;
  return info;
}

kp::Result<AuthorizationInfo> parse_authorization(std::string_view header) {
  auto view = parse_authorization_view(header);
  if (!view) {
    return view.error();
  }
  AuthorizationInfo info;
  info.access_key_id.assign(view->access_key_id);
  info.date.assign(view->date);
  info.region.assign(view->region);
  info.service.assign(view->service);
  for_each_part(view->signed_headers, ';', [&](std::string_view name) {
    info.signed_headers.emplace_back(name);
    return true;
  });
  info.signature.assign(view->signature);
  return info;
}

}  // namespace kp::sigv4
