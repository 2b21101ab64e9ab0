// File: app/logging.h
// Process-wide log setup (spdlog to stderr): text or one JSON object per
// line. Messages never carry bodies, plaintexts or credentials; callers are
// responsible for that, this only formats.
#pragma once

#include <spdlog/formatter.h>

#include <memory>

#include "config/config.h"

namespace kp::app {

void setup_logging(const config::LogOptions& opts);

/// The formatter setup_logging() installs: "time level message", or for JSON
/// {"time","level","msg"} plus the message's `key=value` pairs as members
/// (every line valid JSON, bytes that are not UTF-8 replaced by U+FFFD).
std::unique_ptr<spdlog::formatter> make_formatter(config::LogFormat format);

}  // namespace kp::app
