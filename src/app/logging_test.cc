#include "app/logging.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace kp::app {
namespace {

namespace json = boost::json;

std::string format(config::LogFormat f, std::string_view message) {
  auto formatter = make_formatter(f);
  spdlog::details::log_msg msg("kms-proxy", spdlog::level::info,
                               spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  return std::string(out.data(), out.size());
}

// The JSON line's bytes as UTF-8 (json::parse accepts any bytes >= 0x80).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

TEST(JsonLogLine, KeyValuePairsBecomeMembers) {
  const auto line = format(config::LogFormat::kJson, "request op=Decrypt status=200 request_id=abc-1");
  const auto v = json::parse(line);
  EXPECT_EQ(v.at("event"), "request");
  EXPECT_EQ(v.at("op"), "Decrypt");
  EXPECT_EQ(v.at("status"), 200);
  EXPECT_EQ(v.at("request_id"), "abc-1");
  EXPECT_EQ(v.at("level"), "info");
}

TEST(JsonLogLine, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  // Lone continuation byte, truncated sequence, overlong '/', a surrogate,
  // beyond U+10FFFF, 0xff; then well-formed 2-, 3- and 4-byte characters.
  const std::string bad = "x \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xff";
  const std::string good = "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91";
  const auto line = format(config::LogFormat::kJson, "reason=" + bad + " ok=" + good);
  ASSERT_TRUE(valid_utf8(line)) << line;
  const auto v = json::parse(line);
  const std::string reason(v.at("reason").as_string());
  EXPECT_EQ(reason.find('\x80'), std::string::npos);
  EXPECT_NE(reason.find("\xef\xbf\xbd"), std::string::npos) << reason;  // U+FFFD
  EXPECT_EQ(std::string(v.at("ok").as_string()), good);  // well-formed text passes unchanged
  EXPECT_TRUE(valid_utf8(std::string(v.at("msg").as_string())));
}

TEST(JsonLogLine, ControlCharactersAndQuotesAreEscaped) {
  const auto line = format(config::LogFormat::kJson, "warn reason=a\"b\\c\nd\x1b[31m");
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;  // only the line's own end
  const auto v = json::parse(line);
  EXPECT_EQ(v.at("reason"), "a\"b\\c\nd\x1b[31m");
}

}  // namespace
}  // namespace kp::app
