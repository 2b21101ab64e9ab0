// kms-proxy: the AWS KMS proxy for Nitro Enclaves. Thin main: parse the
// command line and hand over to the chosen subcommand.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "kms-proxy: a KMS proxy for AWS Nitro Enclaves.\n"
      "Apps call AWS KMS through http://127.0.0.1:9999 with their usual SDK; the proxy attaches\n"
      "attestation documents, re-signs with its own credentials and decrypts the answers."};
  app.footer(
      "Run 'kms-proxy SUBCOMMAND --help' for its options and examples.\n"
      "Examples:\n"
      "  kms-proxy run --config /etc/enclaver/enclaver.yaml -- python3 /app/main.py\n"
      "  kms-proxy check --config /etc/enclaver/enclaver.yaml --key-id alias/app\n"
      "  kms-proxy policy-check --policy key-policy.json --measurements measurements.json\n"
      "  kms-proxy inspect-attestation doc.b64 --at document");
  app.require_subcommand(1);
  app.set_version_flag("--version", "kms-proxy 0.1.0");
  auto run_command = std::make_shared<std::vector<std::string>>();
  std::vector<kp::cli::Runner> runners = {
      kp::cli::add_serve_commands(app, run_command),
      kp::cli::add_attestation_commands(app),
      kp::cli::add_policy_check_command(app),
  };
  const int cli_argc = kp::cli::split_run_command(app, argc, argv, *run_command);
  try {
    app.parse(cli_argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    if (code != 0) {
      kp::cli::report_usage_error(argc, argv, e.what());
    }
    return code == 0 ? 0 : 2;  // usage errors: 2
  }
  for (auto& r : runners) {
    if (r) {
      if (int code = r(); code >= 0) {
        return code;
      }
    }
  }
  return 2;
}
