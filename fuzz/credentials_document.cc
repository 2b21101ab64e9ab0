// Fuzz target: the credentials documents the proxy fetches from IMDSv2 and the
// container endpoint (credentials::parse_credentials_document). Both arrive
// through the parent instance, which the threat model does not trust.
// Also the shared credentials file (credentials::parse_shared_credentials),
// which a developer's machine provides.
// Input: byte 0 = rules (bit 0 require "Code":"Success", bit 1 require a
// Token, bit 2 require an Expiration; bit 3: the rest is a shared credentials
// file instead, read for profile "default"); the rest is the body.
// Properties checked, against an independent Boost.JSON parse of the body:
//  * every failure is kCredentialsUnavailable with one of the known messages:
//    the source, then a fixed text or one quoting an excerpt of Code or
//    Expiration, so no secret and no other part of the body can be in it;
//  * a body that is not JSON, or not an object, is refused;
//  * an accepted document has exactly the body's AccessKeyId,
//    SecretAccessKey and Token, honours every required rule, and its token is
//    a valid header value;
//  * the helpers: trim() leaves no edge whitespace, mask_access_key_id()
//    reveals at most 8 characters, printable_excerpt() only printable ones.
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/error.h"
#include "credentials/parse.h"
#include "credentials/profile.h"
#include "fuzz_util.h"

namespace {

namespace json = boost::json;
using kp::credentials::CredentialsDocumentRules;

constexpr std::string_view kSource = "fuzz-source";

std::string_view string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

// Whether `text` is one of `fixed`.
template <std::size_t N>
bool one_of(std::string_view text, const std::string_view (&fixed)[N]) {
  return std::find(std::begin(fixed), std::end(fixed), text) != std::end(fixed);
}

void check_helpers(std::string_view body) {
  const std::string_view t = kp::credentials::trim(body);
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  KP_FUZZ_CHECK(t.empty() || (!ws(t.front()) && !ws(t.back())));
  const std::string masked = kp::credentials::mask_access_key_id(body);
  if (body.size() <= 8) {
    KP_FUZZ_CHECK(masked == std::string(body.size(), '*'));
  } else {
    KP_FUZZ_CHECK(masked == std::string(body.substr(0, 4)) + "..." + std::string(body.substr(body.size() - 4)));
  }
  for (char c : kp::credentials::printable_excerpt(body)) {
    const auto u = static_cast<unsigned char>(c);
    KP_FUZZ_CHECK(u >= 0x20 && u < 0x7f && c != '"' && c != '\\');
  }
}

// Every message parse_credentials_document may give: the source, then a fixed
// text or one quoting an excerpt of Code or Expiration. Nothing else (no
// secret, no body) can be in it. A reworded message in parse.cc must be
// reworded here too (the seeds' replay fails until it is).
bool message_is_known(const std::string& message, const json::object* obj) {
  const std::string prefix = std::string(kSource) + ": credentials response ";
  if (message.rfind(prefix, 0) != 0) {
    return false;
  }
  const std::string_view rest = std::string_view(message).substr(prefix.size());
  static const std::string_view kFixed[] = {
      "is not a JSON object",
      "field \"Code\" is not a string",
      "is missing the string field \"AccessKeyId\"",
      "field \"AccessKeyId\" is malformed",
      "is missing the string field \"SecretAccessKey\"",
      "field \"SecretAccessKey\" is malformed",
      "field \"Token\" is malformed",
      "is missing the string field \"Token\"",
      "field \"Expiration\" is not a string",
      "is missing the string field \"Expiration\"",
      "is too large",
      "is not valid JSON",
      "has too many values to be a credentials document",
  };
  if (one_of(rest, kFixed)) {
    return true;
  }
  if (obj == nullptr) {
    return false;
  }
  using kp::credentials::printable_excerpt;
  return rest == "Code is \"" + printable_excerpt(string_member(*obj, "Code")) + "\", not \"Success\"" ||
         rest == "field \"Expiration\" (\"" + printable_excerpt(string_member(*obj, "Expiration")) +
                     "\") is not an RFC 3339 time with a zone";
}

// The shared credentials file: an error is one of the fixed messages after
// the file and profile; accepted keys are visible ASCII, taken from the text.
void check_profile(std::string_view text) {
  std::string why_not;
  auto r = kp::credentials::parse_shared_credentials(text, "default", "/f", &why_not);
  if (!r) {
    KP_FUZZ_CHECK(r.error().code == kp::Errc::kCredentialsUnavailable);
    const std::string message = r.error().message;
    const std::string prefix = "credentials file /f [default]: ";
    KP_FUZZ_CHECK(message.rfind(prefix, 0) == 0);
    const std::string_view rest = std::string_view(message).substr(prefix.size());
    static const std::string_view kFixed[] = {
        "the file is larger than 1 MiB",
        "aws_secret_access_key without aws_access_key_id",
        "aws_access_key_id without aws_secret_access_key",
        "aws_access_key_id is malformed",
        "aws_secret_access_key is malformed",
        "aws_session_token is malformed",
        "the section [default] appears twice (the AWS SDKs refuse such a file)",
        "the key aws_access_key_id appears twice (the AWS SDKs refuse such a file)",
        "the key aws_secret_access_key appears twice (the AWS SDKs refuse such a file)",
        "the key aws_session_token appears twice (the AWS SDKs refuse such a file)",
    };
    KP_FUZZ_CHECK(one_of(rest, kFixed));
    return;
  }
  if (!*r) {
    KP_FUZZ_CHECK(why_not.rfind("profile: ", 0) == 0);
    return;
  }
  const auto& c = **r;
  KP_FUZZ_CHECK(!c.access_key_id.empty() && text.find(c.access_key_id) != std::string_view::npos);
  KP_FUZZ_CHECK(!c.secret_access_key.empty() && text.find(c.secret_access_key.chars()) != std::string_view::npos);
  for (const char ch : c.access_key_id) {
    KP_FUZZ_CHECK(ch > 0x20 && ch < 0x7f);
  }
  KP_FUZZ_CHECK(c.session_token.empty() || kp::credentials::is_valid_header_value(c.session_token.chars()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  CredentialsDocumentRules rules;
  rules.require_success_code = (data[0] & 1) != 0;
  rules.require_token = (data[0] & 2) != 0;
  rules.require_expiration = (data[0] & 4) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  check_helpers(body);
  if ((data[0] & 8) != 0) {
    check_profile(body);
    return 0;
  }

  auto r = kp::credentials::parse_credentials_document(body, kSource, rules);

  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  const json::object* obj = !ec ? doc.if_object() : nullptr;
  if (!r) {
    KP_FUZZ_CHECK(r.error().code == kp::Errc::kCredentialsUnavailable);
    KP_FUZZ_CHECK(message_is_known(r.error().message, obj));
    return 0;
  }
  KP_FUZZ_CHECK(obj != nullptr);
  KP_FUZZ_CHECK(r->access_key_id == string_member(*obj, "AccessKeyId"));
  KP_FUZZ_CHECK(r->secret_access_key.equals(kp::as_bytes(string_member(*obj, "SecretAccessKey"))));
  const std::string_view token = string_member(*obj, "Token");
  KP_FUZZ_CHECK(r->session_token.equals(kp::as_bytes(token)));
  if (!token.empty()) {
    KP_FUZZ_CHECK(kp::credentials::is_valid_header_value(token));
  }
  if (rules.require_success_code) {  // a Code, when there is one, says Success (none is accepted)
    KP_FUZZ_CHECK(!obj->contains("Code") || string_member(*obj, "Code") == "Success");
  }
  if (rules.require_token) {
    KP_FUZZ_CHECK(!token.empty());
  }
  if (rules.require_expiration) {  // a year after 2199 reads as no expiry
    const std::string_view exp = string_member(*obj, "Expiration");
    KP_FUZZ_CHECK(r->expiration.has_value() || (exp.size() > 4 && exp.substr(0, 4) > "2199"));
  }
  return 0;
}
