// Fuzz target: the key-policy parser and evaluator (kms-emulator parses every
// CreateKey / PutKeyPolicy body with it; policy-check reads operators' files),
// including the typed condition values (Numeric*, Date*, IpAddress, Binary).
// Input: the policy text, then after a NUL byte the request's condition
// values, NUL-separated, handed out to the policy's condition keys in turn.
// Properties checked:
//  * a refused policy is kMalformedPolicy with a "policy: " message;
//  * evaluation is deterministic and its Decision is consistent (allowed =>
//    a deciding statement and no explicit deny; explicit deny => not allowed);
//  * every failure can be described;
//  * an address alone is inside the one-host range it denotes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "fuzz_util.h"
#include "policy/policy.h"
#include "policy/typed_values.h"

namespace {

using namespace kp::policy;

bool same(const Decision& a, const Decision& b) {
  return a.allowed == b.allowed && a.explicit_deny == b.explicit_deny && a.statement_index == b.statement_index &&
         a.condition_misses.size() == b.condition_misses.size();
}

void check_value(const std::string& v) {
  (void)parse_number(v);
  (void)parse_date_ms(v);
  (void)parse_binary(v);
  if (const auto r = parse_ip_range(v); r && v.find('/') == std::string::npos) {
    KP_FUZZ_CHECK(r->prefix == (r->v6 ? 128u : 32u));
    KP_FUZZ_CHECK(ip_in_range(*r, v));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nul = in.find('\0');
  const std::string_view text = in.substr(0, nul);
  std::vector<std::string> values;
  if (nul != std::string_view::npos) {
    values = kp::fuzz::split(in.substr(nul + 1), '\0');
  }
  for (const auto& v : values) {
    check_value(v);
  }

  auto policy = parse_policy(text);
  if (!policy) {
    KP_FUZZ_CHECK(policy.error().code == kp::Errc::kMalformedPolicy);
    KP_FUZZ_CHECK(policy.error().message.rfind("policy: ", 0) == 0);
    return 0;
  }
  RequestContext ctx;
  ctx.action = "kms:Decrypt";
  ctx.principal_arn = "arn:aws:iam::111122223333:role/enclave";
  std::size_t next = 0;
  for (const auto& st : policy->statements) {
    for (const auto& c : st.conditions) {
      check_value(c.key);
      if (!values.empty()) {
        ctx.keys[c.key].push_back(values[next++ % values.size()]);
      }
    }
  }
  const Decision d = evaluate(*policy, ctx);
  KP_FUZZ_CHECK(same(d, evaluate(*policy, ctx)));
  KP_FUZZ_CHECK(!d.allowed || (d.statement_index.has_value() && !d.explicit_deny));
  KP_FUZZ_CHECK(!d.explicit_deny || (!d.allowed && d.statement_index.has_value()));
  for (const auto& miss : d.condition_misses) {
    KP_FUZZ_CHECK(!miss.failures.empty());
    for (const auto& f : miss.failures) {
      KP_FUZZ_CHECK(!describe(f).empty());
    }
  }
  (void)d.decided_by();
  // The same policy with no request values at all: every key missing.
  ctx.keys.clear();
  (void)evaluate(*policy, ctx);
  return 0;
}
