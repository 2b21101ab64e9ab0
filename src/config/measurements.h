// File: config/measurements.h
//
// Expected enclave measurements (PCRs): parsed from the JSON nitro-cli prints
// for build-enclave / describe-eif / describe-enclaves
//   {"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": "<96 hex>", ...}}
// (a bare measurements object is accepted too, and describe-enclaves' array
// when it lists one enclave) and from `--pcr N=HEX` flags.
// PCR indices are 0..31; values are 48 bytes (SHA-384).
//
//   auto pcrs = kp::config::parse_measurements_json(text);
//   auto one = kp::config::parse_pcr_assignment("0=ab12...");
//
// Pure: Boost.JSON (in the .cc) and base/encoding; no Asio.
#pragma once

#include <string_view>
#include <utility>

#include "base/bytes.h"
#include "base/result.h"
#include "config/config.h"

namespace kp::config {

inline constexpr unsigned kMaxPcrIndex = 31;
inline constexpr std::size_t kPcrBytes = 48;

/// Errors (Errc::kValidation): not JSON, no PCRs, a hash algorithm other than
/// SHA-384, a bad index or a value that is not 96 hex digits.
Result<PcrMap> parse_measurements_json(std::string_view json);

/// "N=HEX" or "PCRN=HEX" (case-insensitive prefix). Errors say which part is
/// wrong (index syntax, index range, hex, length).
Result<std::pair<unsigned, Bytes>> parse_pcr_assignment(std::string_view text);

/// One PCR value: index 0..31 and exactly 96 hex digits (either case).
Result<Bytes> parse_pcr_value(unsigned index, std::string_view hex);

}  // namespace kp::config
