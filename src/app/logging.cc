#include "app/logging.h"

#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "app/log_sink.h"

namespace kp::app {

namespace {

void put(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF) that starts `s` with a lead byte >= 0x80; 0 if
// there is none.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) {
    return 0;
  }
  for (std::size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) {
      return 0;
    }
  }
  return n;
}

// A JSON string body. Log lines carry text from outside (error messages that
// quote a file or a peer), so a byte that is not part of well-formed UTF-8
// becomes U+FFFD and every line stays valid JSON.
void append_json_escaped(std::string_view text, spdlog::memory_buf_t& dest) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      dest.push_back('\\');
      dest.push_back(ch);
    } else if (c < 0x20 || c == 0x7f) {
      const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      dest.append(esc, esc + sizeof esc);
    } else if (c < 0x80) {
      dest.push_back(ch);
    } else if (const auto n = utf8_sequence_length(text.substr(i)); n > 0) {
      dest.append(text.data() + i, text.data() + i + n);
      i += n - 1;
    } else {
      put(dest, "\\ufffd");
    }
  }
}

// %*: the message as a JSON string body (escaped, without quotes).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

bool is_key_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

// Length of the key of a `key=` token starting at `s` (0 if there is none).
std::size_t key_length(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && is_key_char(s[n], n == 0)) {
    ++n;
  }
  return n > 0 && n < s.size() && s[n] == '=' ? n : 0;
}

bool is_json_integer(std::string_view v) {
  std::size_t i = v.starts_with('-') ? 1 : 0;
  if (v.size() == i || v.size() - i > 15 || (v[i] == '0' && v.size() - i > 1)) {
    return false;
  }
  return v.find_first_not_of("0123456789", i) == std::string_view::npos;
}

// %&: the message's `key=value` pairs as extra JSON members (",\"op\":\"Decrypt\",...").
// Log messages follow that convention ("request op=Decrypt status=200 ..."): a key is
// [a-z_][a-z0-9_]* at the start of the message or after a space; its value runs to the
// next key (so "upstream_path=proxy 127.0.0.1:3128" keeps its space). Integers and
// true/false become JSON numbers/booleans. A single leading word before the first key
// ("request", "ready") becomes "event". time/level/msg and repeated keys are skipped.
class JsonFieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    struct Token {
      std::size_t key_begin, key_len;
    };
    std::vector<Token> tokens;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (i == 0 || text[i - 1] == ' ') {
        if (const auto n = key_length(text.substr(i)); n > 0) {
          tokens.push_back(Token{i, n});
          i += n;
        }
      }
    }
    if (tokens.empty()) {
      return;
    }
    std::vector<std::string_view> seen = {"time", "level", "msg", "event"};
    if (tokens.front().key_begin > 0) {
      std::string_view event = text.substr(0, tokens.front().key_begin);
      while (!event.empty() && event.back() == ' ') {
        event.remove_suffix(1);
      }
      if (!event.empty() && std::all_of(event.begin(), event.end(), [](char c) { return is_key_char(c, false); })) {
        emit(dest, "event", event, false);
      }
    }
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      const std::string_view key = text.substr(tokens[t].key_begin, tokens[t].key_len);
      const std::size_t vbegin = tokens[t].key_begin + tokens[t].key_len + 1;
      const std::size_t vend = t + 1 < tokens.size() ? tokens[t + 1].key_begin : text.size();
      std::string_view value = text.substr(vbegin, vend - vbegin);
      while (!value.empty() && value.back() == ' ') {
        value.remove_suffix(1);
      }
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        continue;
      }
      seen.push_back(key);
      const bool raw = is_json_integer(value) || value == "true" || value == "false";
      emit(dest, key, value, raw);
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonFieldsFlag>();
  }

 private:
  static void emit(spdlog::memory_buf_t& dest, std::string_view key, std::string_view value, bool raw) {
    put(dest, ",\"");
    put(dest, key);
    put(dest, "\":");
    if (raw) {
      put(dest, value);
      return;
    }
    dest.push_back('"');
    append_json_escaped(value, dest);
    dest.push_back('"');
  }
};

spdlog::level::level_enum to_spdlog(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::kTrace: return spdlog::level::trace;
    case config::LogLevel::kDebug: return spdlog::level::debug;
    case config::LogLevel::kInfo: return spdlog::level::info;
    case config::LogLevel::kWarn: return spdlog::level::warn;
    case config::LogLevel::kError: return spdlog::level::err;
    case config::LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

std::unique_ptr<spdlog::formatter> make_formatter(config::LogFormat format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == config::LogFormat::kJson) {
    formatter->add_flag<JsonMessageFlag>('*');
    formatter->add_flag<JsonFieldsFlag>('&').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%*"%&})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v");
  }
  return formatter;
}

void setup_logging(const config::LogOptions& opts) {
  auto sink = std::make_shared<BatchingFdSink>(STDERR_FILENO);
  auto logger = std::make_shared<spdlog::logger>("kms-proxy", sink);
  logger->set_formatter(make_formatter(opts.format));
  logger->set_level(to_spdlog(opts.level));
  // The sink writes warnings at once and other lines within a few
  // milliseconds; flush() (shutdown, before exec) writes what is pending.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace kp::app
