// File: cli/commands.h
// The `kms-proxy` subcommands. main.cc builds the CLI11 app and dispatches;
// each subcommand lives in its own file and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace kp::cli {

/// Registers a subcommand on `app`; returns the function main runs when the
/// subcommand was chosen (it returns the exit status).
using Runner = std::function<int()>;

Runner add_serve_commands(CLI::App& app);          // serve, run, check
Runner add_attestation_commands(CLI::App& app);    // attest, inspect-attestation, sim-pki
Runner add_policy_check_command(CLI::App& app);    // policy-check

}  // namespace kp::cli
