// Tests for base/file_input.h: bounded reads of command-line input files.
#include "base/file_input.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kp {
namespace {

TEST(FileInput, ReadsSmallFilesAndRefusesDirectoriesMissingAndLargeOnes) {
  const auto dir = std::filesystem::temp_directory_path() / "kp-file-input-test";
  std::filesystem::create_directories(dir);
  const std::string small = (dir / "small.txt").string();
  std::ofstream(small) << "hello";
  auto ok = read_input_file(small);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, "hello");

  auto d = read_input_file(dir.string());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, dir.string() + " is a directory");

  auto missing = read_input_file((dir / "missing").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, (dir / "missing").string() + ": No such file or directory");

  auto big = read_input_file(small, 4);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, small + " is larger than 4 bytes");
  // An endless device stops at the bound instead of filling memory.
  auto endless = read_input_file("/dev/zero", 1 << 16);
  ASSERT_FALSE(endless);
  EXPECT_EQ(endless.error().message, "/dev/zero is larger than 65536 bytes");
  EXPECT_EQ(input_file_reason(endless.error(), "/dev/zero"), "it is larger than 65536 bytes");
  EXPECT_EQ(input_file_reason(missing.error(), (dir / "missing").string()), "No such file or directory");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kp
