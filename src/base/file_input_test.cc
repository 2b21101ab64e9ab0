// Tests for base/file_input.h: bounded reads of command-line input files.
#include "base/file_input.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

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
  EXPECT_EQ(missing.error().code, Errc::kNotFound);  // callers tell "absent" from "unreadable" by it
  EXPECT_EQ(d.error().code, Errc::kValidation);

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

// A private key read from a file: the same bounds and reasons, into wiped memory.
TEST(FileInput, SecretFilesHaveTheSameBoundsAndReasons) {
  const auto dir = std::filesystem::temp_directory_path() / "kp-file-input-secret";
  std::filesystem::create_directories(dir);
  const std::string key = (dir / "key.pem").string();
  const std::string text(20000, 'k');  // more than one read buffer
  std::ofstream(key) << text;
  auto ok = read_secret_input_file(key, 64 * 1024);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->chars(), text);
  auto big = read_secret_input_file(key, 1000);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, key + " is larger than 1000 bytes");
  auto d = read_secret_input_file(dir.string(), 1000);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, dir.string() + " is a directory");
  auto missing = read_secret_input_file((dir / "missing").string(), 1000);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, (dir / "missing").string() + ": No such file or directory");
  auto endless = read_secret_input_file("/dev/zero", 4096);
  ASSERT_FALSE(endless);
  EXPECT_EQ(endless.error().message, "/dev/zero is larger than 4096 bytes");
  std::filesystem::remove_all(dir);
}

// A FIFO given as --config, --policy, ...: opening one nobody writes to
// blocked the start for ever; it now reads as empty (one whose writer sends
// nothing gives up after kInputStreamTimeout).
TEST(FileInput, FifoWithoutWriterDoesNotBlock) {
  const auto dir = std::filesystem::temp_directory_path() / "kp-file-input-fifo";
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "fifo").string();
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = read_input_file(fifo);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "");
  // A pipe with its writer (/dev/stdin, <(...)) is read to its end.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the reader waits in poll()
    [[maybe_unused]] const auto n = ::write(fds[1], "piped", 5);
    ::close(fds[1]);
  });
  auto piped = read_input_file("/dev/fd/" + std::to_string(fds[0]));
  writer.join();
  ::close(fds[0]);
  ASSERT_TRUE(piped) << piped.error().message;
  EXPECT_EQ(*piped, "piped");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kp
