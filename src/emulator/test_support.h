// Test helpers for emulator tests (not part of kp_emulator).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/http_message.h"
#include "emulator/emulator.h"

namespace kp::emulator::testing {

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A KMS JSON 1.1 request for `op` with `body`.
HttpRequest kms_request(std::string_view op, const boost::json::object& body);

/// A parsed response.
struct Answer {
  unsigned status = 0;
  boost::json::object body;
  std::string type;     // __type for errors
  std::string message;  // message for errors
  HttpResponse raw;
};
Answer parse_answer(HttpResponse r);
Answer call(KmsEmulator& emu, std::string_view op, const boost::json::object& body);

/// Base64 of a string / bytes.
std::string b64(std::string_view s);
std::string b64(ByteView b);
/// Decodes a base64 member of `o` (empty if absent).
Bytes unb64(const boost::json::object& o, std::string_view key);

/// The fixture of the operation tests: an emulator on a fresh directory with
/// its clock pinned to 2023-11-14T22:13:20Z.
class EmulatorFixture : public ::testing::Test {
 protected:
  static constexpr std::int64_t kStartMs = 1700000000000;

  void SetUp() override { reopen(); }
  /// Closes the emulator (if open) and opens it again on the same state.
  void reopen();

  Answer op(std::string_view name, const boost::json::object& body) { return call(*emu_, name, body); }
  /// CreateKey; returns the KeyMetadata / the KeyId.
  boost::json::object create_key(boost::json::object body = {});
  std::string create_key_id(boost::json::object body = {});

  TempDir dir_;
  FixedClock clock_{from_unix_ms(kStartMs)};
  std::unique_ptr<KmsEmulator> emu_;
};

}  // namespace kp::emulator::testing
