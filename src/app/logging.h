// File: app/logging.h
// Process-wide log setup (spdlog to stderr): text or one JSON object per
// line. Messages never carry bodies, plaintexts or credentials; callers are
// responsible for that, this only formats.
#pragma once

#include "config/config.h"

namespace kp::app {

void setup_logging(const config::LogOptions& opts);

}  // namespace kp::app
