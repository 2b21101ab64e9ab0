// File: config/enclaver_yaml.h
//
// Reads Enclaver's manifest (enclaver.yaml, schema v1) into a Config. Every
// Enclaver key is accepted and type-checked (unknown keys are errors, as in
// Enclaver's serde `deny_unknown_fields`); this project's own settings live
// under `kms_proxy:` next to Enclaver's `listen_port` and `endpoints` (see
// docs/configuration.md). All problems are collected, each with file:line.
//
//   auto cfg = kp::config::load_enclaver_yaml("/etc/enclaver/enclaver.yaml");
//   if (!cfg) { std::cerr << kp::config::format_diagnostics(cfg.error()); }
//
// Parsing does not validate cross-field rules (loopback listener, KMS port
// under ingress, egress admits KMS): that is validate(), run after flags and
// environment are applied. Relative paths in the file (sim_pki_dir,
// measurements, ca_file) are resolved against the file's directory.
//
// Pure: yaml-cpp (confined to the .cc), no Asio.
#pragma once

#include <filesystem>
#include <string_view>

#include "config/config.h"
#include "config/diagnostic.h"

namespace kp::config {

/// Parses manifest text. `source_name` labels diagnostics ("enclaver.yaml");
/// `base_dir` anchors relative paths (empty = leave them relative).
Checked<Config> parse_enclaver_yaml(std::string_view text, std::string_view source_name,
                                    const std::filesystem::path& base_dir = {});

/// Reads and parses a manifest file; diagnostics are labelled with `path`.
Checked<Config> load_enclaver_yaml(const std::filesystem::path& path);

}  // namespace kp::config
