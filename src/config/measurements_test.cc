// Tests for config/measurements.h: nitro-cli JSON and --pcr N=HEX.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/encoding.h"
#include "config/measurements.h"

namespace kp::config {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kData = std::filesystem::path(KP_SOURCE_DIR) / "src/config/testdata";
const std::string kPcr0 =
    "f9ef9e90faeaa081ecc89e9b42d9ae3cd66e614dbd6e291c26dcab57cf843f0da7aa6825174426a0ac5dfa566b718691";

std::string read(const std::string& name) {
  std::ifstream in(kData / name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Measurements, NitroCliBuildOutput) {
  auto pcrs = parse_measurements_json(read("measurements.json"));
  ASSERT_TRUE(pcrs.has_value()) << pcrs.error().message;
  ASSERT_EQ(pcrs->size(), 3U);
  EXPECT_EQ(hex_encode(pcrs->at(0)), kPcr0);
  EXPECT_EQ(pcrs->at(1).size(), kPcrBytes);
  EXPECT_EQ(pcrs->at(2).size(), kPcrBytes);
}

TEST(Measurements, BareObjectWithPcr8) {
  auto pcrs = parse_measurements_json(read("measurements_bare.json"));
  ASSERT_TRUE(pcrs.has_value()) << pcrs.error().message;
  EXPECT_EQ(pcrs->size(), 2U);
  EXPECT_EQ(pcrs->count(8), 1U);
}

// nitro-cli describe-enclaves prints an array, one entry per enclave, each
// with its Measurements.
TEST(Measurements, DescribeEnclavesArrayOfOne) {
  const std::string json = R"([{"EnclaveName": "app", "EnclaveID": "i-0123-enc0123", "State": "RUNNING",
    "Flags": "NONE", "Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": ")" + kPcr0 + R"("}}])";
  auto pcrs = parse_measurements_json(json);
  ASSERT_TRUE(pcrs.has_value()) << pcrs.error().message;
  ASSERT_EQ(pcrs->size(), 1U);
  EXPECT_EQ(hex_encode(pcrs->at(0)), kPcr0);
}

TEST(Measurements, Errors) {
  const auto msg = [](std::string_view json) {
    auto r = parse_measurements_json(json);
    return r ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(msg(read("measurements_sha256.json")), "measurements: HashAlgorithm must be Sha384");
  EXPECT_EQ(msg(read("measurements_short.json")),
            "measurements: PCR0: expected 48 bytes (96 hex digits, SHA-384), got 32 bytes");
  EXPECT_THAT(msg("{not json"), HasSubstr("measurements: not valid JSON"));
  EXPECT_EQ(msg("[]"),
            "measurements: the array lists 0 enclaves (nitro-cli describe-enclaves); give one entry, e.g. jq '.[0]'");
  EXPECT_THAT(msg("[{}, {}]"), HasSubstr("lists 2 enclaves"));
  EXPECT_EQ(msg("5"), "measurements: expected a JSON object (or describe-enclaves' array of one)");
  EXPECT_EQ(msg(R"({"Measurements": {"HashAlgorithm": "Sha384 { ... }"}})"),
            "measurements: no PCR0..PCR31 entries found");
  EXPECT_EQ(msg(R"({"Measurements": "x"})"), "measurements: \"Measurements\" must be an object");
  EXPECT_EQ(msg(R"({"PCRx": "00"})"), "measurements: bad PCR key \"PCRx\"");
  EXPECT_EQ(msg(R"({"PCR0": 5})"), "measurements: PCR0 must be a hex string");
  EXPECT_EQ(msg(R"({"PCR32": ")" + kPcr0 + "\"}"), "measurements: PCR32: index out of range 0..31");
}

TEST(PcrFlag, Forms) {
  auto a = parse_pcr_assignment("0=" + kPcr0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->first, 0U);
  EXPECT_EQ(hex_encode(a->second), kPcr0);
  auto b = parse_pcr_assignment("PCR31=" + std::string(96, 'F'));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->first, 31U);
  EXPECT_EQ(b->second, Bytes(48, 0xff));
  EXPECT_TRUE(parse_pcr_assignment("pcr8=" + kPcr0).has_value());
}

TEST(PcrFlag, ClearErrors) {
  const auto msg = [](const std::string& s) {
    auto r = parse_pcr_assignment(s);
    return r ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(msg("0"), "PCR assignment must look like N=HEX (N in 0..31)");
  EXPECT_EQ(msg("x=" + kPcr0), "PCR assignment must look like N=HEX (N in 0..31): bad index 'x'");
  EXPECT_EQ(msg("=" + kPcr0), "PCR assignment must look like N=HEX (N in 0..31): bad index ''");
  EXPECT_EQ(msg("-1=" + kPcr0), "PCR assignment must look like N=HEX (N in 0..31): bad index '-1'");
  EXPECT_EQ(msg("32=" + kPcr0), "PCR32: index out of range 0..31");
  EXPECT_EQ(msg("1=" + kPcr0.substr(0, 94)), "PCR1: expected 48 bytes (96 hex digits, SHA-384), got 47 bytes");
  EXPECT_EQ(msg("1=" + kPcr0 + "00"), "PCR1: expected 48 bytes (96 hex digits, SHA-384), got 49 bytes");
  EXPECT_EQ(msg("1=" + kPcr0.substr(0, 95) + "g"), "PCR1: value is not hex (expected 96 hex digits)");
  EXPECT_EQ(msg("1="), "PCR1: expected 48 bytes (96 hex digits, SHA-384), got 0 bytes");
}

}  // namespace
}  // namespace kp::config
