// File: cli/commands.h
// The `kms-proxy` subcommands. main.cc builds the CLI11 app and dispatches;
// each subcommand lives in its own file and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kp::cli {

/// Registers a subcommand on `app`; returns the function main runs when the
/// subcommand was chosen (it returns the exit status).
using Runner = std::function<int()>;

/// `run_command`: CMD and its arguments for `run`, filled by
/// split_run_command() before CLI11 parses the rest.
Runner add_serve_commands(CLI::App& app, std::shared_ptr<const std::vector<std::string>> run_command);  // serve, run, check
Runner add_attestation_commands(CLI::App& app);    // attest, inspect-attestation, sim-pki
Runner add_policy_check_command(CLI::App& app);    // policy-check

/// `kms-proxy run [options] [--] CMD ARGS...`: CMD starts after the first
/// `--` or at the first word that is neither an option of `run` nor an
/// option's value (as tini and env do); copies it and what follows into
/// `command`, verbatim, and returns how many leading words of argv CLI11
/// should parse. CLI11 must not see CMD's arguments: it reads a word like
/// "[a,b]" as a list (CMD would get "a" and "b"), and a repeatable option
/// would swallow CMD. Other subcommands are left to CLI11 whole.
int split_run_command(const CLI::App& app, int argc, const char* const* argv, std::vector<std::string>& command);

/// A command line CLI11 refused: for `check --json`, prints the failure as the
/// JSON report (subject "usage") a script parsing stdout expects.
void report_usage_error(int argc, const char* const* argv, std::string_view message);

}  // namespace kp::cli
