#include "config/measurements.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <algorithm>
#include <charconv>

#include "base/encoding.h"
#include "config/address.h"

namespace kp::config {

namespace {

std::optional<unsigned> parse_index(std::string_view s) {
  if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  unsigned v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

Result<Bytes> parse_pcr_value(unsigned index, std::string_view hex) {
  if (index > kMaxPcrIndex) {
    return fail(Errc::kValidation, "PCR" + std::to_string(index) + ": index out of range 0.." +
                                       std::to_string(kMaxPcrIndex));
  }
  const std::string name = "PCR" + std::to_string(index);
  auto bytes = hex_decode(hex);
  if (!bytes) {
    return fail(Errc::kValidation, name + ": value is not hex (expected " +
                                       std::to_string(kPcrBytes * 2) + " hex digits)");
  }
  if (bytes->size() != kPcrBytes) {
    return fail(Errc::kValidation, name + ": expected " + std::to_string(kPcrBytes) +
                                       " bytes (" + std::to_string(kPcrBytes * 2) +
                                       " hex digits, SHA-384), got " + std::to_string(bytes->size()) +
                                       " bytes");
  }
  return std::move(*bytes);
}

Result<std::pair<unsigned, Bytes>> parse_pcr_assignment(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return fail(Errc::kValidation, "PCR assignment must look like N=HEX (N in 0..31)");
  }
  std::string_view idx = text.substr(0, eq);
  if (idx.size() >= 3 && to_lower_ascii(idx.substr(0, 3)) == "pcr") {
    idx.remove_prefix(3);
  }
  const auto index = parse_index(idx);
  if (!index) {
    return fail(Errc::kValidation, "PCR assignment must look like N=HEX (N in 0..31): bad index '" +
                                       std::string(text.substr(0, eq)) + "'");
  }
  auto value = parse_pcr_value(*index, text.substr(eq + 1));
  if (!value) {
    return value.error();
  }
  return std::make_pair(*index, std::move(*value));
}

Result<PcrMap> parse_measurements_json(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value root = boost::json::parse(json, ec);
  if (ec) {
    return fail(Errc::kValidation, "measurements: not valid JSON (" + ec.message() + ")");
  }
  const boost::json::value* top = &root;
  if (root.is_array()) {
    // nitro-cli describe-enclaves: one entry per running enclave.
    const auto& enclaves = root.get_array();
    if (enclaves.size() != 1) {
      return fail(Errc::kValidation, "measurements: the array lists " + std::to_string(enclaves.size()) +
                                         " enclaves (nitro-cli describe-enclaves); give one entry, e.g. "
                                         "jq '.[0]'");
    }
    top = &enclaves[0];
  }
  if (!top->is_object()) {
    return fail(Errc::kValidation, "measurements: expected a JSON object (or describe-enclaves' array of one)");
  }
  const boost::json::object* m = &top->get_object();
  if (const auto* inner = m->if_contains("Measurements")) {
    if (!inner->is_object()) {
      return fail(Errc::kValidation, "measurements: \"Measurements\" must be an object");
    }
    m = &inner->get_object();
  }
  if (const auto* alg = m->if_contains("HashAlgorithm")) {
    // nitro-cli prints the Rust Debug form, e.g. "Sha384 { ... }".
    if (!alg->is_string() || to_lower_ascii(std::string_view(alg->get_string())).rfind("sha384", 0) != 0) {
      return fail(Errc::kValidation, "measurements: HashAlgorithm must be Sha384");
    }
  }
  PcrMap out;
  for (const auto& kv : *m) {
    const std::string_view key = kv.key();
    if (key.size() < 4 || key.substr(0, 3) != "PCR") {
      continue;  // other fields nitro-cli may add
    }
    const auto index = parse_index(key.substr(3));
    if (!index) {
      return fail(Errc::kValidation, "measurements: bad PCR key \"" + std::string(key) + "\"");
    }
    if (!kv.value().is_string()) {
      return fail(Errc::kValidation, "measurements: " + std::string(key) + " must be a hex string");
    }
    auto value = parse_pcr_value(*index, std::string_view(kv.value().get_string()));
    if (!value) {
      return fail(Errc::kValidation, "measurements: " + value.error().message);
    }
    out[*index] = std::move(*value);
  }
  if (out.empty()) {
    return fail(Errc::kValidation, "measurements: no PCR0..PCR31 entries found");
  }
  return out;
}

}  // namespace kp::config
