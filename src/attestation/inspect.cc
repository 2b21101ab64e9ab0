#include "attestation/inspect.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "base/encoding.h"
#include "base/error.h"
#include "base/time_format.h"

namespace kp::attestation {

namespace {

constexpr std::size_t kMaxInput = 1u << 20;

// A document's timestamp is whatever its bytes say; SysTime (nanoseconds in
// 64 bits, years ~1678..2262) cannot hold every value and converting one
// outside would overflow (UB). |ms| below this converts safely.
constexpr std::int64_t kSysTimeLimitMs =
    std::chrono::duration_cast<std::chrono::milliseconds>(SysTime::duration::max()).count();

// The first bytes a COSE_Sign1 can start with: a 4-element array (0x84, or
// 0x9f indefinite), or tag 18 (0xd2, or the long form 0xd8 0x12).
bool looks_like_cose(ByteView b) {
  return !b.empty() && (b[0] == 0x84 || b[0] == 0x9f || b[0] == 0xd2 || (b.size() > 1 && b[0] == 0xd8 && b[1] == 0x12));
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v'; }

void json_string(std::string& out, std::string_view s) { append_json_string(out, s); }

std::string quoted(std::string_view s) {
  std::string out;
  json_string(out, s);
  return out;
}

std::string hex_or_null(const std::optional<Bytes>& b) { return b ? quoted(hex_encode(*b)) : "null"; }

}  // namespace

std::optional<SysTime> document_time(std::uint64_t timestamp_ms) {
  if (timestamp_ms >= static_cast<std::uint64_t>(kSysTimeLimitMs)) {
    return std::nullopt;
  }
  return from_unix_ms(static_cast<std::int64_t>(timestamp_ms));
}

std::string format_rfc3339_ms(std::int64_t ms) {
  if (ms >= kSysTimeLimitMs || ms <= -kSysTimeLimitMs) {
    return "out of range";
  }
  std::string s = format_rfc3339(from_unix_ms(ms));  // "...:SSZ"
  const std::int64_t frac = ((ms % 1000) + 1000) % 1000;
  char buf[8];
  std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(frac));
  s.insert(s.size() - 1, buf);
  return s;
}

Result<Bytes> read_document_input(std::string_view in) {
  if (in.size() > kMaxInput) {
    return fail(Errc::kAttestationInvalid, "attestation input: larger than 1 MiB");
  }
  const ByteView raw = as_bytes(in);
  // Hex and base64 are ASCII: a first byte with the high bit set (a CBOR
  // array or tag, COSE_Sign1 or not) is binary, so parse_document() gets it
  // and says what is wrong with it (a 3-element array, an indefinite one...).
  if (looks_like_cose(raw) || (!raw.empty() && raw[0] >= 0x80)) {
    return Bytes(raw.begin(), raw.end());
  }
  std::string text;
  text.reserve(in.size());
  for (char c : in) {
    if (!is_space(c)) {
      text.push_back(c);
    }
  }
  if (text.empty()) {
    return fail(Errc::kAttestationInvalid, "attestation input: empty");
  }
  std::string_view hex = text;
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
    hex.remove_prefix(2);
  }
  if (auto h = hex_decode(hex); h && looks_like_cose(*h)) {
    return std::move(*h);
  }
  std::string b64 = text;
  for (char& c : b64) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    }
  }
  if (b64.size() % 4 != 0 && b64.find('=') == std::string::npos) {
    b64.append(4 - b64.size() % 4, '=');
  }
  if (auto b = base64_decode(b64); b && looks_like_cose(*b)) {
    return std::move(*b);
  }
  if (text.front() == '{') {  // kms-proxy attest's JSON view carries no signed document
    return fail(Errc::kAttestationInvalid,
                "attestation input: this is JSON (the view `kms-proxy attest` prints), not a document; "
                "save the document itself with `kms-proxy attest --out FILE`");
  }
  return fail(Errc::kAttestationInvalid,
              "attestation input: not a COSE_Sign1 as raw CBOR, hex or base64");
}

std::string to_json(const AttestationDocument& doc, const std::optional<VerifyOutcome>& outcome,
                    SysTime verified_at) {
  std::string o = "{\n";
  o += "  \"module_id\": " + quoted(doc.module_id) + ",\n";
  o += "  \"timestamp_ms\": " + std::to_string(doc.timestamp_ms) + ",\n";
  // timestamp_ms is unsigned: values above INT64_MAX must not wrap to 1969.
  const bool ts_fits = doc.timestamp_ms <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  o += "  \"timestamp\": " +
       quoted(ts_fits ? format_rfc3339_ms(static_cast<std::int64_t>(doc.timestamp_ms)) : "out of range") +
       ",\n";
  o += "  \"digest\": " + quoted(doc.digest) + ",\n";
  o += "  \"pcrs\": {";
  bool first = true;
  for (const auto& [index, value] : doc.pcrs) {
    o += first ? "\n" : ",\n";
    first = false;
    o += "    \"" + std::to_string(index) + "\": " + quoted(hex_encode(value));
  }
  o += first ? "},\n" : "\n  },\n";
  o += "  \"public_key\": " + hex_or_null(doc.public_key) + ",\n";
  o += "  \"user_data\": " + hex_or_null(doc.user_data) + ",\n";
  o += "  \"nonce\": " + hex_or_null(doc.nonce) + ",\n";
  o += "  \"certificates\": [";
  first = true;
  for (const auto& c : describe_chain(doc)) {
    o += first ? "\n" : ",\n";
    first = false;
    o += "    {\"role\": " + quoted(c.role);
    if (c.parsed) {
      o += ", \"subject\": " + quoted(c.subject) + ", \"issuer\": " + quoted(c.issuer) +
           ", \"not_before\": " + quoted(format_rfc3339(c.not_before)) +
           ", \"not_after\": " + quoted(format_rfc3339(c.not_after));
    } else {
      o += ", \"error\": \"not a DER X.509 certificate\"";
    }
    o += ", \"sha256\": " + quoted(c.sha256_hex) + "}";
  }
  o += first ? "]" : "\n  ]";
  if (outcome) {
    o += ",\n  \"verification\": {\n";
    o += "    \"verdict\": " + quoted(outcome->ok() ? "valid" : "invalid") + ",\n";
    o += "    \"reason\": " + quoted(failure_name(outcome->failure)) + ",\n";
    o += "    \"message\": " + quoted(outcome->message) + ",\n";
    o += "    \"certificate\": " + (outcome->certificate.empty() ? std::string("null") : quoted(outcome->certificate)) + ",\n";
    o += "    \"at\": " + quoted(format_rfc3339(verified_at)) + "\n  }";
  }
  o += "\n}\n";
  return o;
}

}  // namespace kp::attestation
