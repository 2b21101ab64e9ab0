// File: cli/commands.h
// The `kms-proxy` subcommands. main.cc builds the CLI11 app and dispatches;
// each subcommand lives in its own file and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>

namespace kp::cli {

/// Registers a subcommand on `app`; returns the function main runs when the
/// subcommand was chosen (it returns the exit status).
using Runner = std::function<int()>;

Runner add_serve_commands(CLI::App& app);          // serve, run, check
Runner add_attestation_commands(CLI::App& app);    // attest, inspect-attestation, sim-pki
Runner add_policy_check_command(CLI::App& app);    // policy-check

/// A command line CLI11 refused: for `check --json`, prints the failure as the
/// JSON report (subject "usage") a script parsing stdout expects.
void report_usage_error(int argc, const char* const* argv, std::string_view message);

}  // namespace kp::cli
