// Test helpers for the attestation module (vectors on disk, analysis JSON).
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "base/bytes.h"

namespace kp::attestation::testing {

std::filesystem::path vectors_dir();
Bytes read_file(const std::filesystem::path& p);

struct RealDocument {
  std::string name;  // e.g. "evervault_ga_debug_2023-09-18"
  Bytes cose;
  boost::json::object analysis;
};
/// Every *.cose.bin in vectors/attestation_docs with its .analysis.json.
std::vector<RealDocument> real_documents();

}  // namespace kp::attestation::testing
