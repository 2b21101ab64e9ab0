// Fuzz target: an attestation document (COSE_Sign1) from untrusted bytes,
// through everything that reads it: parse_document, verify_detailed against
// the pinned AWS Nitro root at a fixed time (and, when plausible, at the
// document's own timestamp, so mutated real documents get past the validity
// check and reach the chain and ES384 code), describe_chain, the inspect view
// (to_json) and the CLI's input sniffing (read_document_input).
// Must never crash, whatever the bytes. Properties checked:
//  * verify() succeeds exactly when verify_detailed() reports kNone;
//  * verify_document() agrees with parse_document() + verify();
//  * a document that verifies has cabundle[0] == the AWS root.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "attestation/aws_root.h"
#include "attestation/document.h"
#include "attestation/inspect.h"
#include "attestation/verifier.h"
#include "base/clock.h"
#include "fuzz_util.h"

namespace {

using namespace kp::attestation;

// 2023-09-18T15:03:30.860Z: the timestamp of the evervault GA vector, inside
// its chain's validity window (see /work/shared/vectors/README.md).
constexpr std::int64_t kFixedTimeMs = 1695049410860;
// Documents claiming a time after 2100 are not used as a verification time
// (the harness would overflow system_clock; the product never does this).
constexpr std::uint64_t kLatestPlausibleMs = 4102444800000ULL;

const VerifyOptions& fixed_options() {
  static const VerifyOptions opts = [] {
    VerifyOptions o;  // default_trusted_roots(): the AWS root only
    o.at = kp::from_unix_ms(kFixedTimeMs);
    return o;
  }();
  return opts;
}

void verify_at(const AttestationDocument& doc, const VerifyOptions& opts) {
  const VerifyOutcome outcome = verify_detailed(doc, opts);
  auto verified = verify(doc, opts);
  KP_FUZZ_CHECK(verified.has_value() == outcome.ok());
  if (!outcome.ok()) {
    KP_FUZZ_CHECK(!outcome.message.empty());
    (void)failure_name(outcome.failure);
  } else {
    KP_FUZZ_CHECK(!doc.cabundle.empty());
    const kp::ByteView root = aws_nitro_root_der();
    KP_FUZZ_CHECK(kp::ByteView(doc.cabundle.front()).size() == root.size());
    KP_FUZZ_CHECK(std::equal(root.begin(), root.end(), doc.cabundle.front().begin()));
  }
  (void)to_json(doc, outcome, opts.at);
}

void run_cose(kp::ByteView cose) {
  auto doc = parse_document(cose);
  auto whole = verify_document(cose, fixed_options());
  if (!doc) {
    KP_FUZZ_CHECK(!whole.has_value());
    KP_FUZZ_CHECK(!doc.error().message.empty());
    return;
  }
  verify_at(*doc, fixed_options());
  KP_FUZZ_CHECK(whole.has_value() == verify(*doc, fixed_options()).has_value());
  if (doc->timestamp_ms != 0 && doc->timestamp_ms < kLatestPlausibleMs) {
    VerifyOptions own = fixed_options();
    own.at = kp::from_unix_ms(static_cast<std::int64_t>(doc->timestamp_ms));
    verify_at(*doc, own);
  }
  (void)describe_chain(*doc);
  (void)to_json(*doc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kp::ByteView input(data, size);
  run_cose(input);
  // The CLI path: raw / hex / base64 sniffing, then the same checks.
  auto sniffed = read_document_input(kp::as_chars(input));
  if (sniffed && !std::equal(sniffed->begin(), sniffed->end(), input.begin(), input.end())) {
    run_cose(*sniffed);
  }
  // The payload parser on its own (tests and the simulated NSM use it).
  (void)parse_payload(input);
  return 0;
}
